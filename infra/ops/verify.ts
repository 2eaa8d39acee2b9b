// mirrorctl verify: every replicated table, master vs each mirror, chunk checksums at one matching replication
// position, without holding up the master's writes.
//
// How the positions are made to match (per mirror):
//   1. the mirror's SQL thread is stopped (its IO thread keeps fetching): the mirror is now at some position P0;
//   2. the master opens a consistent-snapshot transaction and reads the binary log position of exactly that
//      snapshot (MariaDB: the status variables binlog_snapshot_file/binlog_snapshot_position, no lock at all;
//      MySQL: a FLUSH TABLES WITH READ LOCK held only around opening the snapshot and SHOW BINARY LOG STATUS);
//      P >= P0 because the mirror only applies what the master logged before;
//   3. the mirror's SQL thread is started with UNTIL P and stops there (by itself, or stopped at P: waitStoppedAt);
//   4. the tables are compared: the master's reads all come from its snapshot at P, the mirror's data is frozen at P;
//   5. the snapshot is closed and the mirror's SQL thread is started again (also on any error).
// The master keeps taking writes throughout; the mirror only falls behind for the duration of the comparison.

import { compareTables, listTablesSql, parseTableList, type TableComparison } from "../replication/checksum";
import { dialect, stmt, type Dialect } from "../replication/dialect";
import { normalizeReplicaStatus, type ReplicaStatus } from "../replication/status";
import { connectViaSsh, type DbSession } from "../replication/connect";
import type { Request } from "./args";
import { selectHosts, type OpsContext } from "./context";
import { socketOptions } from "./hosts";
import { errMsg, mapLimit, table, type CommandResult } from "./output";

export interface MirrorVerification {
  readonly mirror: string;
  /** Master binlog position both sides were compared at. */
  readonly position: { readonly file: string; readonly pos: number } | null;
  readonly tables: readonly TableComparison[];
  /** Set when the mirror could not be verified. */
  readonly error?: string;
  readonly equal: boolean;
  readonly seconds: number;
}

/** Statement that starts the SQL thread until a master position. */
export function startSqlUntil(d: Dialect, file: string, pos: number): ReturnType<typeof stmt> {
  const f = d.features;
  return f.flavour === "mariadb"
    ? stmt("START SLAVE SQL_THREAD UNTIL MASTER_LOG_FILE = ?, MASTER_LOG_POS = ?", [file, pos])
    : stmt("START REPLICA SQL_THREAD UNTIL SOURCE_LOG_FILE = ?, SOURCE_LOG_POS = ?", [file, pos]);
}

export function sqlThread(d: Dialect, op: "START" | "STOP"): ReturnType<typeof stmt> {
  return stmt(`${op} ${d.features.replicaWord} SQL_THREAD`);
}

/** Binlog coordinates as comparable numbers: file sequence, position. */
export function comparePositions(a: { file: string; pos: number }, b: { file: string; pos: number }): number {
  const seq = (f: string) => Number(/\.(\d+)$/.exec(f)?.[1] ?? NaN);
  const sa = seq(a.file);
  const sb = seq(b.file);
  if (sa !== sb) return sa - sb;
  return a.pos - b.pos;
}

/** Opens a snapshot on the master and returns the binlog position it corresponds to. */
async function openSnapshot(master: DbSession, d: Dialect): Promise<{ file: string; pos: number }> {
  await master.query(stmt("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"));
  if (d.features.flavour === "mariadb") {
    await master.query(stmt("START TRANSACTION WITH CONSISTENT SNAPSHOT"));
    const rows = await master.query(stmt("SHOW STATUS LIKE 'binlog_snapshot_%'"));
    const v = Object.fromEntries(rows.map((r) => [String(r.Variable_name).toLowerCase(), String(r.Value)]));
    const file = v["binlog_snapshot_file"];
    const pos = Number(v["binlog_snapshot_position"]);
    if (!file || !Number.isFinite(pos)) throw new Error("the master reports no binlog_snapshot_file/position (is the binary log on?)");
    return { file, pos };
  }
  await master.query(stmt("FLUSH TABLES WITH READ LOCK"));
  try {
    await master.query(stmt("START TRANSACTION WITH CONSISTENT SNAPSHOT"));
    const [row] = await master.query(d.showSourceStatus());
    if (!row?.File) throw new Error("the master reports no binary log position (is the binary log on?)");
    return { file: String(row.File), pos: Number(row.Position) };
  } finally {
    await master.query(stmt("UNLOCK TABLES"));
  }
}

/**
 * Waits until the SQL thread, started with UNTIL `at`, stands at `at`. A parallel applier (MariaDB
 * slave_parallel_threads > 0) does not stop by itself when `at` is the end of what the master wrote: it waits for
 * the next event, still running at exactly `at`. There, with UNTIL keeping it from going further, it is stopped
 * here, and its position read again.
 */
export async function waitStoppedAt(mirror: DbSession, d: Dialect, at: { file: string; pos: number }, timeoutSeconds: number, name: string): Promise<ReplicaStatus> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    let s = normalizeReplicaStatus(await mirror.query(d.showReplicaStatus()), name);
    if (s.lastSqlError) throw new Error(`the SQL thread stopped with error ${s.lastSqlErrno}: ${s.lastSqlError}`);
    if (s.sqlRunning && s.execFile && comparePositions({ file: s.execFile, pos: s.execPos ?? 0 }, at) === 0) {
      await mirror.query(sqlThread(d, "STOP"));
      s = normalizeReplicaStatus(await mirror.query(d.showReplicaStatus()), name);
    }
    if (!s.sqlRunning) {
      const here = { file: s.execFile ?? "", pos: s.execPos ?? 0 };
      if (comparePositions(here, at) < 0) throw new Error(`the SQL thread stopped at ${here.file}:${here.pos}, before ${at.file}:${at.pos}`);
      return s;
    }
    if (Date.now() > deadline) throw new Error(`the mirror did not reach ${at.file}:${at.pos} within ${timeoutSeconds} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function verifyMirror(ctx: OpsContext, mirrorName: string, opts: { chunkSize: number; timeoutSeconds: number }, progress: (l: string) => void): Promise<MirrorVerification> {
  const t0 = Date.now();
  const d = dialect(ctx.engine);
  const done = (v: Omit<MirrorVerification, "seconds" | "mirror">): MirrorVerification => ({ mirror: mirrorName, ...v, seconds: (Date.now() - t0) / 1000 });
  let master: DbSession | undefined;
  let mirror: DbSession | undefined;
  let stopped = false;
  try {
    mirror = await connectViaSsh(ctx.target(mirrorName), socketOptions(ctx.cfg, mirrorName));
    const before = normalizeReplicaStatus(await mirror.query(d.showReplicaStatus()), mirrorName);
    if (!before.ioRunning || !before.sqlRunning || before.lastSqlError) {
      const why = [!before.ioRunning ? "IO thread not running" : "", !before.sqlRunning ? "SQL thread not running" : "", before.lastSqlError ? `SQL error ${before.lastSqlErrno}: ${before.lastSqlError}` : ""].filter(Boolean).join("; ");
      return done({ position: null, tables: [], error: `replication is not running (${why}); fix it first (mirrorctl status / skip-event)`, equal: false });
    }
    master = await connectViaSsh(ctx.target(ctx.cfg.master.name), socketOptions(ctx.cfg, ctx.cfg.master.name));
    await mirror.query(sqlThread(d, "STOP"));
    stopped = true;
    const at = await openSnapshot(master, d);
    progress(`${mirrorName}: comparing at master position ${at.file}:${at.pos}`);
    await mirror.query(startSqlUntil(d, at.file, at.pos));
    await waitStoppedAt(mirror, d, at, opts.timeoutSeconds, mirrorName);
    const tables = parseTableList(await master.query(listTablesSql(ctx.cfg.database.databases)));
    const results: TableComparison[] = [];
    for (const t of tables) {
      results.push(await compareTables(master, mirror, t.db, t.table, { chunkSize: opts.chunkSize }));
    }
    // Databases or tables only the mirror has are differences too.
    const mirrorTables = parseTableList(await mirror.query(listTablesSql(ctx.cfg.database.databases)));
    for (const t of mirrorTables) {
      if (!tables.some((x) => x.db === t.db && x.table === t.table)) {
        results.push({ db: t.db, table: t.table, noPrimaryKey: t.primaryKey.length === 0, schemaDiffers: "the table exists only on the mirror", chunks: 0, differing: [], equal: false });
      }
    }
    return done({ position: at, tables: results, equal: results.every((r) => r.equal) });
  } catch (e) {
    return done({ position: null, tables: [], error: errMsg(e), equal: false });
  } finally {
    if (master) {
      await master.query(stmt("COMMIT")).catch(() => undefined);
      await master.close();
    }
    if (mirror) {
      if (stopped) await mirror.query(sqlThread(d, "START")).catch((e) => progress(`${mirrorName}: could not restart the SQL thread: ${errMsg(e)}`));
      await mirror.close();
    }
  }
}

function keyText(v: readonly unknown[] | null): string {
  if (v === null) return "";
  return v.map((x) => (Buffer.isBuffer(x) ? `0x${x.toString("hex")}` : String(x))).join(",");
}

/** One line per difference, naming the table and chunk. */
export function describeDifferences(v: MirrorVerification): string[] {
  const out: string[] = [];
  for (const t of v.tables) {
    if (t.equal) continue;
    if (t.schemaDiffers) {
      out.push(`${t.db}.${t.table}: table definition differs (${t.schemaDiffers})`);
      continue;
    }
    for (const c of t.differing) {
      const range = c.lower === null && c.upper === null ? "whole table" : `key ${c.lower ? `>= (${keyText(c.lower)})` : ""}${c.lower && c.upper ? " and " : ""}${c.upper ? `< (${keyText(c.upper)})` : ""}`;
      out.push(`${t.db}.${t.table} chunk ${c.index} (${range}): master ${c.master.count} rows, mirror ${c.mirror.count} rows${c.master.count === c.mirror.count ? ", checksums differ" : ""}`);
    }
  }
  return out;
}

export async function verifyCommand(ctx: OpsContext, req: Request, progress: (l: string) => void): Promise<CommandResult> {
  const mirrors = selectHosts(ctx, req.hosts, ctx.cfg.mirrors);
  const opts = { chunkSize: req.chunkSize ?? 1000, timeoutSeconds: req.timeoutSeconds ?? 300 };
  const results = await mapLimit(mirrors, req.parallel, (m) => verifyMirror(ctx, m.name, opts, progress));
  const rows = results.map((r) => [
    r.mirror,
    r.position ? `${r.position.file}:${r.position.pos}` : "-",
    String(r.tables.length),
    String(r.tables.reduce((n, t) => n + t.chunks, 0)),
    r.error ? "ERROR" : r.equal ? "equal" : `${r.tables.filter((t) => !t.equal).length} table(s) differ`,
    `${r.seconds.toFixed(1)}s`,
  ]);
  const lines = [table(["MIRROR", "AT MASTER POSITION", "TABLES", "CHUNKS", "RESULT", "TIME"], rows)];
  for (const r of results) {
    if (r.error) lines.push(`${r.mirror}: not verified: ${r.error}`);
    for (const d of describeDifferences(r)) lines.push(`${r.mirror}: ${d}`);
  }
  const ok = results.every((r) => r.equal);
  lines.push(ok ? `all ${results.length} mirror(s) match the master` : "DIFFERENCES FOUND (or a mirror could not be verified)");
  return { exitCode: ok ? 0 : 1, text: lines.join("\n"), json: { stack: ctx.stack, equal: ok, chunkSize: opts.chunkSize, mirrors: results } };
}
