// Consistency at the end of a scenario, as verifyAll in test/e2e/replication.test.ts does it: take the master's
// position, wait until each mirror applied it, then compare every table chunk by chunk (compareTables).
// Call it with the writer stopped, so the position is also the last one.
import { compareTables } from "../../infra/replication/checksum";
import { connectViaSsh } from "../../infra/replication/connect";
import { dialect, stmt } from "../../infra/replication/dialect";
import { normalizeReplicaStatus, normalizeSourceStatus } from "../../infra/replication/status";
import { target } from "./lab";

const ENGINE = { flavour: "mariadb" as const, version: "10.11" };

export interface MirrorCheck {
  mirror: string;
  reached: string;
  ioRunning: boolean;
  sqlRunning: boolean;
  tables: number;
  chunks: number;
  differing: string[];
  equal: boolean;
  seconds: number;
}

export async function verifyMirrors(mirrors: readonly string[], database: string, chunkSize = 10000): Promise<MirrorCheck[]> {
  const d = dialect(ENGINE);
  const master = await connectViaSsh(target("master"));
  try {
    const pos = normalizeSourceStatus(await master.query(d.showSourceStatus()));
    const tables = (await master.query(stmt("SELECT table_name AS t FROM information_schema.TABLES WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY 1", [database]))).map((r) =>
      String(r.t),
    );
    const out: MirrorCheck[] = [];
    for (const m of mirrors) {
      const t0 = performance.now();
      const mirror = await connectViaSsh(target(m));
      try {
        const w = d.waitForPosition({ file: pos.file, pos: pos.pos }, 300);
        const [row] = await mirror.query(w);
        const reached = w.interpret(row?.result);
        const st = normalizeReplicaStatus(await mirror.query(d.showReplicaStatus()), m);
        const differing: string[] = [];
        let chunks = 0;
        for (const t of tables) {
          const r = await compareTables(master, mirror, database, t, { chunkSize });
          chunks += r.chunks;
          if (!r.equal) differing.push(r.schemaDiffers ? `${t}: ${r.schemaDiffers}` : `${t}: chunks ${r.differing.map((c) => c.index).join(",")}`);
        }
        out.push({
          mirror: m,
          reached,
          ioRunning: st.ioRunning,
          sqlRunning: st.sqlRunning,
          tables: tables.length,
          chunks,
          differing,
          equal: reached === "reached" && differing.length === 0 && tables.length > 0,
          seconds: Math.round((performance.now() - t0) / 100) / 10,
        });
      } finally {
        await mirror.close();
      }
    }
    return out;
  } finally {
    await master.close();
  }
}

/** "equal (8 tables, 430 chunks)" or what differs, per mirror. */
export function describeChecks(checks: readonly MirrorCheck[]): string {
  return checks
    .map((c) => `${c.mirror}: ${c.equal ? `equal (${c.tables} tables, ${c.chunks} chunks)` : `DIFFERS (${c.reached}; ${c.differing.join("; ") || "no tables"})`}`)
    .join("; ");
}
