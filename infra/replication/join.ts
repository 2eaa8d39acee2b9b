// Joining a mirror to a master by GTID, without copying data: what `up` does when the stack config names another
// master (the mirrors follow it) and when an old master comes back as a mirror. A host joins when its binary log
// holds nothing the master lacks; otherwise the caller copies the master onto it (seed.ts) and says why.

import type { DbSession } from "./connect";
import { dialect, runAll, switchoverSql, type DbEngine, type Dialect, type ReplicaTls, type SwitchoverSql } from "./dialect";
import { errantTransactions, formatGtidList, latestPosition, parseGtidList, type Gtid } from "./gtid";
import { normalizeReplicaStatus, ReplicationNotConfiguredError, type ReplicaStatus } from "./status";

/** What one server says about itself (switchoverSql serverState + SHOW SLAVE STATUS). */
export interface ServerState {
  readonly name: string;
  readonly serverId: number;
  readonly readOnly: boolean;
  readonly logBin: boolean;
  readonly logSlaveUpdates: boolean;
  readonly strict: boolean;
  readonly binlogState: readonly Gtid[];
  readonly binlogPos: readonly Gtid[];
  readonly slavePos: readonly Gtid[];
  /** null: replication not configured. */
  readonly replica: ReplicaStatus | null;
}

export const on = (v: unknown): boolean => v === 1 || v === "1" || v === "ON" || v === 1n;

export async function readServerState(db: DbSession, d: Dialect, s: SwitchoverSql, name: string): Promise<ServerState> {
  const [row] = await db.query(s.serverState());
  let replica: ReplicaStatus | null;
  try {
    replica = normalizeReplicaStatus(await db.query(d.showReplicaStatus()), name);
  } catch (e) {
    if (!(e instanceof ReplicationNotConfiguredError)) throw e;
    replica = null;
  }
  const r = row ?? {};
  return {
    name,
    serverId: Number(r.server_id),
    readOnly: on(r.read_only),
    logBin: on(r.log_bin),
    logSlaveUpdates: on(r.log_slave_updates),
    strict: on(r.gtid_strict_mode),
    binlogState: parseGtidList(String(r.gtid_binlog_state ?? "")),
    binlogPos: parseGtidList(String(r.gtid_binlog_pos ?? "")),
    slavePos: parseGtidList(String(r.gtid_slave_pos ?? "")),
    replica,
  };
}

/** How a mirror can be made to replicate from a master without a copy. */
export type JoinPlan =
  /** It replicates from this master already (mirrorctl switchover/failover, or the switchover of this `up`). */
  | { readonly kind: "already"; readonly why: string }
  /** It is pointed at the master by GTID from `gtid` (the later of what it wrote and what it applied). */
  | { readonly kind: "gtid"; readonly gtid: string; readonly why: string }
  /** It must be copied: `why` says what stands in the way; `errant`: the transactions a copy would destroy. */
  | { readonly kind: "copy"; readonly why: string; readonly errant?: string };

/**
 * Pure: how `mirror` joins `master` (whose address its replication must name). `formerMasterOnly`: join by GTID
 * only a host that wrote transactions of its own (an old master); a host that only ever replicated and replicates
 * from nobody now was reset on purpose (a re-seed) and is copied.
 */
export function joinPlan(mirror: ServerState, master: ServerState, masterAddress: string, opts: { readonly formerMasterOnly: boolean }): JoinPlan {
  const r = mirror.replica;
  // A host replicating from the master already is left as it is: after a switchover the old master's own early
  // transactions (before the mirror's seed, which does not log them) are in no GTID state of the new master, so
  // comparing would name them wrongly. (An old master that took writes while replicating is fenced and compared
  // by the switchover's found-done path instead.)
  if (r && r.sourceHost === masterAddress) return { kind: "already", why: `${mirror.name} replicates from ${master.name} already` };
  // Transactions only it has: joined, it would diverge silently; copied, they would be gone (the caller asks).
  // What the master applied as a replica counts as held (gtid_slave_pos).
  const errant = mirror.logBin ? errantTransactions(mirror.binlogState, [...master.binlogState, ...master.slavePos]) : [];
  if (errant.length > 0) {
    const list = formatGtidList(errant);
    return { kind: "copy", errant: list, why: `${mirror.name} holds transactions ${master.name} lacks: ${list} (written on it and never replicated)` };
  }
  if (!mirror.logBin) return { kind: "copy", why: `${mirror.name} has no binary log, so its GTID state cannot be compared with ${master.name}'s` };
  const position = latestPosition(mirror.binlogPos, mirror.slavePos);
  if (position.length === 0) return { kind: "copy", why: `${mirror.name} has no GTID position (it never replicated)` };
  if (!r && opts.formerMasterOnly && !mirror.binlogState.some((g) => g.server === mirror.serverId)) {
    return { kind: "copy", why: `${mirror.name} replicates from nobody and never was a master (its replication was reset: a re-seed)` };
  }
  const from = r ? `replicated from ${r.sourceHost}` : "replicated from nobody (an old master)";
  return { kind: "gtid", gtid: formatGtidList(position), why: `${mirror.name} ${from}; its binary log holds nothing ${master.name} lacks (at ${formatGtidList(position)})` };
}

/** Points `db` at a master by GTID from `gtid` and starts replication (STOP first, harmless when stopped). */
export async function pointByGtid(
  db: DbSession,
  engine: DbEngine,
  source: { readonly host: string; readonly port: number; readonly user: string; readonly password: string; readonly tls?: ReplicaTls },
  gtid: string,
): Promise<void> {
  const d = dialect(engine);
  await db.query(d.stopReplica()).catch(() => undefined); // not configured: nothing to stop
  await runAll(db, [...switchoverSql(engine).setReadOnly(true), ...switchoverSql(engine).setStrictMode(false)]);
  await runAll(
    db,
    d.changeSource({
      host: source.host,
      port: source.port,
      user: source.user,
      password: source.password,
      position: { kind: "gtid", gtid },
      ...(source.tls ? { ssl: true, tls: source.tls } : {}),
    }),
  );
  await db.query(d.startReplica());
}
