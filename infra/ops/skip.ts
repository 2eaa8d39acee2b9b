// mirrorctl skip-event --host <mirror> [--yes]: shows the replication event group the SQL thread failed on (the
// error, the source position and the events from the relay log), and with --yes skips exactly that one event
// group, then confirms the SQL thread runs again.
//
// MariaDB (10.5+, file/position or GTID replication with one domain): SET GLOBAL sql_slave_skip_counter = 1, then
// START SLAVE. A skip that starts at the beginning of a transaction skips that whole transaction (an event group),
// never half of it. MySQL without GTID: sql_replica_skip_counter (8.0.26+) / sql_slave_skip_counter. MySQL with
// GTID auto-positioning refuses skip counters: mirrorctl refuses too and says what to do instead.

import type { HostConfig } from "../config/types";
import { connectViaSsh, type DbSession } from "../replication/connect";
import { dialect, stmt, type Dialect } from "../replication/dialect";
import { normalizeReplicaStatus, type ReplicaStatus } from "../replication/status";
import { UsageError, type Request } from "./args";
import type { OpsContext } from "./context";
import { socketOptions } from "./hosts";
import { table, type CommandResult } from "./output";

export interface RelayEvent {
  readonly pos: number;
  readonly type: string;
  readonly endPos: number;
  readonly info: string;
}

export interface FailingEvent {
  readonly errno: number;
  readonly error: string;
  readonly sourceFile: string | null;
  readonly sourcePos: number | null;
  readonly relayFile: string | null;
  readonly relayPos: number | null;
  /** The events of the failing group, from the relay log (up to its commit). */
  readonly events: readonly RelayEvent[];
}

function rawField(rows: readonly Record<string, unknown>[], name: string): string | null {
  const v = rows[0]?.[name];
  if (v === null || v === undefined) return null;
  const s = Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
  return s === "" ? null : s;
}

/** Cuts the relay events down to one event group: up to and including its Xid / COMMIT. */
export function oneGroup(events: readonly RelayEvent[]): RelayEvent[] {
  const out: RelayEvent[] = [];
  // MariaDB: a transaction starts with "BEGIN GTID d-s-n", a DDL statement with "GTID d-s-n" and one Query event.
  const ddl = events[0]?.type === "Gtid" && !/\bBEGIN\b/.test(events[0].info);
  for (const e of events) {
    out.push(e);
    if (e.type === "Xid" || /^COMMIT\b/i.test(e.info)) break;
    if (e.type === "Query" && !/^BEGIN\b/i.test(e.info) && (ddl || out.length === 1)) break;
  }
  return out;
}

async function readFailure(db: DbSession, d: Dialect, name: string): Promise<{ status: ReplicaStatus; failing: FailingEvent | null }> {
  const rows = await db.query(d.showReplicaStatus());
  const status = normalizeReplicaStatus(rows, name);
  if (!status.lastSqlError) return { status, failing: null };
  const relayFile = rawField(rows, "Relay_Log_File");
  const relayPos = Number(rawField(rows, "Relay_Log_Pos") ?? NaN);
  let events: RelayEvent[] = [];
  if (relayFile && Number.isFinite(relayPos)) {
    try {
      const ev = await db.query(stmt("SHOW RELAYLOG EVENTS IN ? FROM ? LIMIT 20", [relayFile, relayPos]));
      events = oneGroup(
        ev.map((e) => ({ pos: Number(e.Pos), type: String(e.Event_type), endPos: Number(e.End_log_pos), info: String(e.Info ?? "").replace(/\s+/g, " ").slice(0, 160) })),
      );
    } catch {
      events = [];
    }
  }
  return {
    status,
    failing: { errno: status.lastSqlErrno, error: status.lastSqlError, sourceFile: status.execFile, sourcePos: status.execPos, relayFile, relayPos: Number.isFinite(relayPos) ? relayPos : null, events },
  };
}

export function formatFailure(host: string, f: FailingEvent): string {
  return [
    `${host}: SQL thread stopped with error ${f.errno}: ${f.error}`,
    `failing event group starts at source position ${f.sourceFile ?? "?"}:${f.sourcePos ?? "?"} (relay log ${f.relayFile ?? "?"}:${f.relayPos ?? "?"})`,
    f.events.length
      ? table(["RELAY POS", "EVENT", "SOURCE END POS", "INFO"], f.events.map((e) => [String(e.pos), e.type, String(e.endPos), e.info]))
      : "(the relay log events could not be read)",
  ].join("\n");
}

function mirrorOf(ctx: OpsContext, name: string): HostConfig {
  const h = ctx.host(name);
  if (h.role !== "mirror") throw new UsageError(`${name} is the master; skip-event works on a mirror`);
  return h;
}

export async function skipEventCommand(ctx: OpsContext, req: Request, progress: (l: string) => void): Promise<CommandResult> {
  const h = mirrorOf(ctx, req.host!);
  const d = dialect(ctx.engine);
  const db = await connectViaSsh(ctx.target(h.name), socketOptions(ctx.cfg, h.name));
  try {
    const { status, failing } = await readFailure(db, d, h.name);
    if (!failing) {
      const state = status.sqlRunning ? "the SQL thread is running without an error" : "the SQL thread is stopped but reports no error (stopped by hand? START SLAVE starts it)";
      if (req.yes) throw new UsageError(`${h.name}: nothing to skip: ${state}`);
      return { exitCode: 0, text: `${h.name}: nothing to skip: ${state}`, json: { stack: ctx.stack, host: h.name, failing: null, skipped: false } };
    }
    const shown = formatFailure(h.name, failing);
    if (!req.yes) {
      return {
        exitCode: 2,
        text: `${shown}\nnot skipped: re-run with --yes to skip exactly this event group (its changes are then missing on ${h.name}; run mirrorctl verify afterwards)`,
        json: { stack: ctx.stack, host: h.name, failing, skipped: false, error: "--yes is needed to skip" },
      };
    }
    if (d.features.flavour === "mysql" && status.usingGtid) {
      throw new UsageError(
        `${h.name} uses GTID auto-positioning, where MySQL refuses skip counters: commit an empty transaction with the failing GTID (SET GTID_NEXT='<gtid>'; BEGIN; COMMIT; SET GTID_NEXT='AUTOMATIC'; START REPLICA) or re-seed with mirrorctl reseed`,
      );
    }
    const counter = d.features.flavour === "mariadb" || d.features.posWaitFunction !== "SOURCE_POS_WAIT" ? "sql_slave_skip_counter" : "sql_replica_skip_counter";
    progress(`${h.name}: skipping one event group at ${failing.sourceFile}:${failing.sourcePos}`);
    await db.query(d.stopReplica());
    await db.query(stmt(`SET GLOBAL ${counter} = 1`));
    await db.query(d.startReplica());
    // Confirm: the SQL thread runs and has moved past the skipped group, or it stopped on the next one.
    const deadline = Date.now() + 15_000;
    let after: ReplicaStatus = status;
    let next: FailingEvent | null = null;
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      const r = await readFailure(db, d, h.name);
      after = r.status;
      next = r.failing;
      const moved = after.execFile !== failing.sourceFile || after.execPos !== failing.sourcePos;
      if (next && moved) break;
      if (after.sqlRunning && !after.lastSqlError && moved) break;
      if (Date.now() > deadline) break;
    }
    const runs = after.sqlRunning && !after.lastSqlError;
    const lines = [shown, `skipped 1 event group (SET GLOBAL ${counter} = 1; ${d.startReplica().sql})`];
    if (runs) lines.push(`${h.name}: SQL thread running again at ${after.execFile}:${after.execPos}, ${after.secondsBehind ?? "?"} s behind; run mirrorctl verify to see what the skipped change left different`);
    else if (next) lines.push(`${h.name}: the SQL thread stopped again on the next event group:`, formatFailure(h.name, next));
    else lines.push(`${h.name}: the SQL thread is not running yet (IO ${after.ioRunning ? "running" : "stopped"}, SQL ${after.sqlRunning ? "running" : "stopped"})`);
    return { exitCode: runs ? 0 : 1, text: lines.join("\n"), json: { stack: ctx.stack, host: h.name, failing, skipped: true, running: runs, after, nextFailure: next } };
  } finally {
    await db.close();
  }
}
