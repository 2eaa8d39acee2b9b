// Shared by the seeding e2e tests (replication.test.ts, seed-physical.test.ts): a writer that keeps changing the
// master's wiki.pages while mirrors are seeded, and the check that every mirror caught up and holds the same rows.
import { expect } from "vitest";
import { compareTables } from "../../infra/replication/checksum";
import { connectViaSsh, type DbSession } from "../../infra/replication/connect";
import { dialect, stmt } from "../../infra/replication/dialect";
import { normalizeSourceStatus } from "../../infra/replication/status";
import { labTarget } from "./lab";

/** The lab's database engine (Debian 12's MariaDB). */
export const ENGINE = { flavour: "mariadb" as const, version: "10.11" };

/**
 * A writer on the master that churns the same rows of wiki.pages (a bounded loop of INSERT/UPDATE/DELETE over the
 * deployment's SSH path); counts failures. Not lab.ts's startWriter, the switchover tests' site writer over TCP.
 */
export function startChurnWriter(master: DbSession, ms: number) {
  const started = Date.now();
  const latencies: number[] = [];
  let stop = false;
  let ok = 0;
  const errors: string[] = [];
  const done = (async () => {
    const until = Date.now() + ms;
    let i = 0;
    while (!stop && Date.now() < until && i < 100_000) {
      i++;
      const id = 1 + (i % 500);
      const t = Date.now();
      try {
        await master.query(stmt("INSERT INTO wiki.pages (id, k, title) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE k = k + 1", [20_000 + id, i, `w${i}`]));
        await master.query(stmt("UPDATE wiki.pages SET k = k + 1, title = ? WHERE id = ?", [`u${i}`, id]));
        await master.query(stmt("DELETE FROM wiki.pages WHERE id = ?", [20_000 + ((i * 7) % 500) + 1]));
        ok++;
        latencies.push(Date.now() - t);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  })();
  return {
    async finish() {
      stop = true;
      await done;
      return { ok, errors, seconds: (Date.now() - started) / 1000, maxMs: Math.max(0, ...latencies) };
    },
  };
}

/** Waits until each mirror reached the master's binlog position, then compares wiki's `tables`; lists the differences. */
export async function verifyMirrors(mirrors: string[], tables: string[]): Promise<string[]> {
  const d = dialect(ENGINE);
  const master = await connectViaSsh(labTarget("master"));
  try {
    const pos = normalizeSourceStatus(await master.query(d.showSourceStatus()));
    const diffs: string[] = [];
    for (const m of mirrors) {
      const mirror = await connectViaSsh(labTarget(m));
      try {
        const w = d.waitForPosition({ file: pos.file, pos: pos.pos }, 120);
        const [row] = await mirror.query(w);
        expect(w.interpret(row?.result), `${m} caught up`).toBe("reached");
        for (const table of tables) {
          const r = await compareTables(master, mirror, "wiki", table, { chunkSize: 2000 });
          if (!r.equal) diffs.push(`${m}: wiki.${table} chunks ${JSON.stringify(r.differing)}`);
        }
      } finally {
        await mirror.close();
      }
    }
    return diffs;
  } finally {
    await master.close();
  }
}
