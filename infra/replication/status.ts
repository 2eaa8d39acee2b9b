// Normalizes SHOW SLAVE STATUS (MariaDB) / SHOW REPLICA STATUS (MySQL 8.0.22+) rows into one shape, and
// judges replication health from it. Pure.

import type { Flavour } from "./dialect";

/** One replica's state, whichever server reported it. */
export interface ReplicaStatus {
  /** Which column spellings the row used (MariaDB keeps Slave_/Master_, MySQL 8.0.22+ uses Replica_/Source_). */
  readonly flavour: Flavour;
  /** Slave_IO_Running / Replica_IO_Running is "Yes". */
  readonly ioRunning: boolean;
  /** The IO thread is trying to (re)connect: the column says "Connecting". */
  readonly ioConnecting: boolean;
  readonly sqlRunning: boolean;
  /** Seconds_Behind_Master / Seconds_Behind_Source; null while unknown (a thread stopped, or connecting). */
  readonly secondsBehind: number | null;
  /** Configured delay (SQL_Delay), 0 when none. */
  readonly sqlDelay: number;
  readonly lastIoErrno: number;
  /** Empty errors are null. */
  readonly lastIoError: string | null;
  readonly lastSqlErrno: number;
  readonly lastSqlError: string | null;
  readonly sourceHost: string;
  readonly sourcePort: number | null;
  readonly sourceUser: string | null;
  /** Source binlog file / position the IO thread has read up to (Master_Log_File / Source_Log_File, Read_*_Log_Pos). */
  readonly readFile: string | null;
  readonly readPos: number | null;
  /** Source binlog file / position the SQL thread has executed up to (Relay_Master_Log_File / Relay_Source_Log_File, Exec_*_Log_Pos). */
  readonly execFile: string | null;
  readonly execPos: number | null;
  /** GTID positioning: MariaDB Using_Gtid != "No", MySQL Auto_Position = 1. */
  readonly usingGtid: boolean;
  /** Received GTIDs: MariaDB Gtid_IO_Pos, MySQL Retrieved_Gtid_Set. */
  readonly gtidReceived: string | null;
  /** Applied GTIDs: MariaDB Gtid_Slave_Pos (10.5.1+), MySQL Executed_Gtid_Set. */
  readonly gtidExecuted: string | null;
  /** gtidExecuted when the server reports it, else gtidReceived. */
  readonly gtid: string | null;
  /** Slave_SQL_Running_State / Replica_SQL_Running_State, Slave_IO_State / Replica_IO_State. */
  readonly sqlState: string | null;
  readonly ioState: string | null;
}

export class ReplicationNotConfiguredError extends Error {
  constructor(where?: string) {
    super(`${where ? `[${where}] ` : ""}replication is not configured: SHOW REPLICA/SLAVE STATUS returned no row (or no source host)`);
    this.name = "ReplicationNotConfiguredError";
  }
}

type Row = Record<string, unknown>;

function pick(row: Row, ...names: string[]): unknown {
  for (const n of names) if (n in row) return row[n];
  // Some drivers/proxies lower-case column names.
  const lower = new Map(Object.keys(row).map((k) => [k.toLowerCase(), k]));
  for (const n of names) {
    const k = lower.get(n.toLowerCase());
    if (k !== undefined) return row[k];
  }
  return undefined;
}

function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
  return s.trim() === "" ? null : s;
}

function int(v: unknown): number | null {
  if (v === null || v === undefined || v === "") return null;
  const n = typeof v === "bigint" ? Number(v) : Number(typeof v === "string" ? v.trim() : v);
  return Number.isFinite(n) ? n : null;
}

/**
 * Normalizes the result of SHOW SLAVE STATUS / SHOW REPLICA STATUS: the rows array (the first row is the
 * default channel) or one row. Throws ReplicationNotConfiguredError when there is no row or the row has
 * no source host (RESET SLAVE without ALL leaves such a row behind).
 */
export function normalizeReplicaStatus(rowsOrRow: readonly Row[] | Row | null | undefined, where?: string): ReplicaStatus {
  const row: Row | undefined = Array.isArray(rowsOrRow) ? (rowsOrRow as readonly Row[])[0] : (rowsOrRow as Row | null | undefined) ?? undefined;
  if (!row || typeof row !== "object" || Object.keys(row).length === 0) throw new ReplicationNotConfiguredError(where);
  const mysql = pick(row, "Replica_IO_Running") !== undefined || pick(row, "Source_Host") !== undefined;
  const sourceHost = text(pick(row, "Master_Host", "Source_Host"));
  if (!sourceHost) throw new ReplicationNotConfiguredError(where);
  const io = text(pick(row, "Slave_IO_Running", "Replica_IO_Running")) ?? "No";
  const sql = text(pick(row, "Slave_SQL_Running", "Replica_SQL_Running")) ?? "No";
  const usingGtidRaw = text(pick(row, "Using_Gtid", "Auto_Position"));
  const usingGtid = usingGtidRaw !== null && !/^(no|0)$/i.test(usingGtidRaw);
  const gtidReceived = text(pick(row, "Gtid_IO_Pos", "Retrieved_Gtid_Set"));
  const gtidExecuted = text(pick(row, "Gtid_Slave_Pos", "Executed_Gtid_Set"));
  return {
    flavour: mysql ? "mysql" : "mariadb",
    ioRunning: io.toLowerCase() === "yes",
    ioConnecting: io.toLowerCase() === "connecting",
    sqlRunning: sql.toLowerCase() === "yes",
    secondsBehind: int(pick(row, "Seconds_Behind_Master", "Seconds_Behind_Source")),
    sqlDelay: int(pick(row, "SQL_Delay")) ?? 0,
    lastIoErrno: int(pick(row, "Last_IO_Errno")) ?? 0,
    lastIoError: text(pick(row, "Last_IO_Error")),
    lastSqlErrno: int(pick(row, "Last_SQL_Errno")) ?? 0,
    lastSqlError: text(pick(row, "Last_SQL_Error")),
    sourceHost,
    sourcePort: int(pick(row, "Master_Port", "Source_Port")),
    sourceUser: text(pick(row, "Master_User", "Source_User")),
    readFile: text(pick(row, "Master_Log_File", "Source_Log_File")),
    readPos: int(pick(row, "Read_Master_Log_Pos", "Read_Source_Log_Pos")),
    execFile: text(pick(row, "Relay_Master_Log_File", "Relay_Source_Log_File")),
    execPos: int(pick(row, "Exec_Master_Log_Pos", "Exec_Source_Log_Pos")),
    usingGtid,
    gtidReceived,
    gtidExecuted,
    gtid: gtidExecuted ?? gtidReceived,
    sqlState: text(pick(row, "Slave_SQL_Running_State", "Replica_SQL_Running_State")),
    ioState: text(pick(row, "Slave_IO_State", "Replica_IO_State")),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Source (master) position

export interface SourceStatus {
  readonly file: string;
  readonly pos: number;
  /** MySQL's Executed_Gtid_Set column; null on MariaDB (read gtidPosition() there). */
  readonly gtidExecuted: string | null;
}

/**
 * Normalizes SHOW MASTER STATUS / SHOW BINARY LOG STATUS. Throws when there is no row (binary logging is
 * off on that server).
 */
export function normalizeSourceStatus(rowsOrRow: readonly Row[] | Row | null | undefined, where?: string): SourceStatus {
  const row: Row | undefined = Array.isArray(rowsOrRow) ? (rowsOrRow as readonly Row[])[0] : (rowsOrRow as Row | null | undefined) ?? undefined;
  const file = row ? text(pick(row, "File")) : null;
  const pos = row ? int(pick(row, "Position")) : null;
  if (!row || !file || pos === null) {
    throw new Error(`${where ? `[${where}] ` : ""}binary logging is off: SHOW MASTER/BINARY LOG STATUS returned no row (log_bin must be enabled on the master)`);
  }
  return { file, pos, gtidExecuted: text(pick(row, "Executed_Gtid_Set")) };
}

export interface BinaryLog {
  readonly name: string;
  readonly size: number;
}

/** Normalizes SHOW BINARY LOGS rows (Log_name, File_size), keeping the server's (chronological) order. */
export function normalizeBinaryLogs(rows: readonly Row[]): BinaryLog[] {
  return rows.map((r) => {
    const name = text(pick(r, "Log_name"));
    if (!name) throw new Error(`SHOW BINARY LOGS row without Log_name: ${JSON.stringify(r)}`);
    return { name, size: int(pick(r, "File_size")) ?? 0 };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Health

export type HealthLevel = "OK" | "WARNING" | "CRITICAL";

export interface HealthThresholds {
  /** Lag (beyond SQL_Delay) from which the replica is WARNING. Default 60 s. */
  readonly warnSecondsBehind?: number;
  /** Lag (beyond SQL_Delay) from which the replica is CRITICAL. Default 600 s. */
  readonly critSecondsBehind?: number;
  /** When set, a replica reading from another host is CRITICAL. */
  readonly expectedSourceHost?: string;
}

export interface Health {
  readonly level: HealthLevel;
  /** Why the level is not OK (empty when OK). */
  readonly reasons: readonly string[];
}

const RANK: Record<HealthLevel, number> = { OK: 0, WARNING: 1, CRITICAL: 2 };

/** Judges a normalized replica status. */
export function health(s: ReplicaStatus, t: HealthThresholds = {}): Health {
  const warn = t.warnSecondsBehind ?? 60;
  const crit = t.critSecondsBehind ?? 600;
  let level: HealthLevel = "OK";
  const reasons: string[] = [];
  const raise = (l: HealthLevel, why: string) => {
    if (RANK[l] > RANK[level]) level = l;
    reasons.push(why);
  };
  const err = (n: number, e: string | null) => (e ? `: error ${n}: ${e}` : "");

  if (t.expectedSourceHost !== undefined && s.sourceHost !== t.expectedSourceHost) {
    raise("CRITICAL", `replicates from ${s.sourceHost}, expected ${t.expectedSourceHost}`);
  }
  if (s.ioConnecting) {
    raise(s.lastIoError ? "CRITICAL" : "WARNING", `IO thread is connecting to ${s.sourceHost}${err(s.lastIoErrno, s.lastIoError)}`);
  } else if (!s.ioRunning) {
    raise("CRITICAL", `IO thread is not running${err(s.lastIoErrno, s.lastIoError)}`);
  } else if (s.lastIoError) {
    raise("WARNING", `IO thread reported${err(s.lastIoErrno, s.lastIoError)}`);
  }
  if (!s.sqlRunning) {
    raise("CRITICAL", `SQL thread is not running${err(s.lastSqlErrno, s.lastSqlError)}`);
  } else if (s.lastSqlError) {
    raise("CRITICAL", `SQL thread reported${err(s.lastSqlErrno, s.lastSqlError)}`);
  }
  if (s.ioRunning && s.sqlRunning) {
    if (s.secondsBehind === null) {
      raise("WARNING", "lag is unknown (Seconds_Behind is NULL)");
    } else {
      const lag = Math.max(0, s.secondsBehind - s.sqlDelay);
      if (lag >= crit) raise("CRITICAL", `${lag} s behind the source (critical from ${crit} s)`);
      else if (lag >= warn) raise("WARNING", `${lag} s behind the source (warning from ${warn} s)`);
    }
  }
  return { level, reasons };
}
