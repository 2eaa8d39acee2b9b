// A steady, rate-limited write load on the master: small sysbench-style transactions (UPDATE of the indexed k,
// DELETE and INSERT of the same id) through mysql2 over SSH (infra/replication/connect.ts), or over TCP. Each connection
// reconnects at once when its session is lost (e.g. the master restarts), so the gap in completions shows how
// long clients were cut off. Every completion is recorded with its time and latency.
import { connectDirect, connectViaSsh, type DbSession } from "../../infra/replication/connect";
import { stmt } from "../../infra/replication/dialect";
import type { SshTarget } from "../../infra/ssh/exec";

/** mysql2 through `ssh master socat STDIO UNIX-CONNECT:<socket>` (as mirrorstack reaches databases). */
export const viaSsh = (t: SshTarget) => () => connectViaSsh(t, { connectTimeoutMs: 5000 });
/** mysql2 over TCP to the master's address, as a site's application would connect. */
export const viaTcp = (host: string, user: string, password: string) => () =>
  connectDirect({ host, port: 3306, user, password, connectTimeoutMs: 5000 });

export interface WriterOptions {
  /** Opens one session on the master (mysql2 over SSH, or a direct TCP connection). */
  readonly connect: () => Promise<DbSession>;
  readonly database: string;
  readonly tables: number;
  readonly rowsPerTable: number;
  /** Transactions per second, all connections together. */
  readonly rate: number;
  readonly connections: number;
  /** Hard bound on the run (the loop also ends on stop()). */
  readonly maxSeconds: number;
}

/** What a writer recorded; times are milliseconds since the writer started (performance.now based). */
export interface WriterLog {
  readonly startedAt: number;
  readonly stoppedAt: number;
  /** Completion time and latency of each committed transaction, in completion order. */
  readonly completions: { at: number; ms: number }[];
  readonly failures: { at: number; message: string }[];
  /** Sessions opened (the first per connection included). */
  readonly sessions: number;
}

export interface Writer {
  /** Milliseconds since the writer started. */
  now(): number;
  stop(): Promise<WriterLog>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function startWriter(o: WriterOptions): Writer {
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const completions: { at: number; ms: number }[] = [];
  const failures: { at: number; message: string }[] = [];
  let sessions = 0;
  let stopping = false;
  const deadline = o.maxSeconds * 1000;
  const interval = (1000 * o.connections) / o.rate;
  const rnd = (n: number) => 1 + Math.floor(Math.random() * n);
  const digits = (groups: number) =>
    Array.from({ length: groups }, () => String(Math.floor(Math.random() * 99999999999)).padStart(11, "0")).join("-");

  async function transaction(s: DbSession): Promise<void> {
    const table = `\`${o.database}\`.\`sbtest${rnd(o.tables)}\``;
    const id = rnd(o.rowsPerTable);
    await s.query(stmt("BEGIN"));
    await s.query(stmt(`UPDATE ${table} SET k = k + 1 WHERE id = ?`, [rnd(o.rowsPerTable)]));
    await s.query(stmt(`DELETE FROM ${table} WHERE id = ?`, [id]));
    await s.query(stmt(`INSERT INTO ${table} (id, k, c, pad) VALUES (?, ?, ?, ?)`, [id, rnd(o.rowsPerTable), digits(10), digits(5)]));
    await s.query(stmt("COMMIT"));
  }

  async function connection(index: number): Promise<void> {
    let session: DbSession | undefined;
    let next = (index * interval) / o.connections; // staggered starts
    while (!stopping && now() < deadline) {
      const wait = next - now();
      if (wait > 0) await sleep(wait);
      next = Math.max(next + interval, now()); // rate-limited: no catch-up burst after a stall
      if (!session) {
        try {
          session = await o.connect();
          sessions++;
        } catch (e) {
          failures.push({ at: now(), message: `connect: ${(e as Error).message.slice(0, 300)}` });
          await sleep(50); // bounded by the loop's deadline
          continue;
        }
      }
      const t = now();
      try {
        await transaction(session);
        const at = now();
        completions.push({ at, ms: at - t });
      } catch (e) {
        failures.push({ at: now(), message: (e as Error).message.slice(0, 300) });
        const s = session;
        // A live session (deadlock, lock wait) rolls back and goes on; a lost one is replaced at once.
        const alive = await s.query(stmt("ROLLBACK")).then(
          () => true,
          () => false,
        );
        if (!alive) {
          session = undefined;
          void s.close();
        }
      }
    }
    await session?.close();
  }

  const loops = Array.from({ length: o.connections }, (_, i) => connection(i));
  return {
    now,
    async stop() {
      stopping = true;
      const stoppedAt = now();
      await Promise.all(loops);
      return { startedAt: 0, stoppedAt, completions, failures, sessions };
    },
  };
}
