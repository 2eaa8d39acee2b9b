// Decides how far the master's binary logs may be purged: PURGE BINARY LOGS TO <file> deletes every log
// before <file>, so <file> must be the oldest log any mirror still needs, i.e. the smallest
// Relay_Master_Log_File (execFile) over all mirrors. Pure; refuses unless every mirror is known and healthy
// enough for its position to mean something.

import type { BinaryLog, ReplicaStatus } from "./status";

/** What is known about one mirror: its normalized status, or why there is none. */
export interface MirrorReport {
  /** Mirror name from the stack config (used in messages). */
  readonly name: string;
  readonly status: ReplicaStatus | "unreachable" | "not-configured";
  /** Extra words for the message (e.g. the connection error). */
  readonly detail?: string;
}

export interface PurgeInput {
  /** SHOW BINARY LOGS of the master, in the server's order (oldest first). */
  readonly binlogs: readonly BinaryLog[];
  readonly mirrors: readonly MirrorReport[];
  /** When set, a mirror whose source host differs is refused (it does not replicate from this master). */
  readonly expectedSourceHost?: string;
}

export interface PurgeRefusal {
  readonly mirror: string;
  readonly reason: string;
}

export type PurgeDecision =
  | {
      readonly ok: true;
      /** Argument of PURGE BINARY LOGS TO, or null when nothing can be purged (the oldest log is still needed). */
      readonly purgeTo: string | null;
      /** Logs the purge deletes (oldest first). */
      readonly removes: readonly string[];
      /** Mirrors whose position decided purgeTo. */
      readonly neededBy: readonly string[];
      readonly message: string;
    }
  | {
      readonly ok: false;
      readonly refusals: readonly PurgeRefusal[];
      readonly message: string;
    };

interface Named {
  readonly base: string;
  readonly seq: number;
}

function split(file: string): Named | undefined {
  const m = /^(.*)\.(\d+)$/.exec(file);
  return m ? { base: m[1], seq: Number(m[2]) } : undefined;
}

/** Index of `file` in the master's list; otherwise where it would be (-1: older than the oldest, length: newer than the newest); undefined: another log series. */
function locate(file: string, binlogs: readonly BinaryLog[]): number | undefined {
  const i = binlogs.findIndex((b) => b.name === file);
  if (i >= 0) return i;
  const f = split(file);
  const first = split(binlogs[0].name);
  const last = split(binlogs[binlogs.length - 1].name);
  if (!f || !first || !last || f.base !== first.base) return undefined;
  if (f.seq < first.seq) return -1;
  if (f.seq > last.seq) return binlogs.length;
  return undefined; // a gap in the middle of the list: should not happen; treat as unknown
}

/** Computes the purge target; see PurgeDecision. */
export function decidePurge(input: PurgeInput): PurgeDecision {
  const { binlogs, mirrors } = input;
  const refusals: PurgeRefusal[] = [];
  const refuse = (mirror: string, reason: string) => refusals.push({ mirror, reason });

  if (binlogs.length === 0) {
    return { ok: false, refusals: [{ mirror: "(master)", reason: "the master lists no binary logs (is log_bin enabled?)" }], message: "refusing to purge: the master lists no binary logs (is log_bin enabled?)" };
  }
  if (mirrors.length === 0) {
    return {
      ok: false,
      refusals: [{ mirror: "(none)", reason: "no mirror status was given" }],
      message: "refusing to purge: no mirror status was given, so no log is known to be unneeded",
    };
  }

  const positions: { name: string; file: string; index: number }[] = [];
  for (const m of mirrors) {
    const extra = m.detail ? ` (${m.detail})` : "";
    if (m.status === "unreachable") {
      refuse(m.name, `mirror ${m.name} is unreachable${extra}; its position is unknown`);
      continue;
    }
    if (m.status === "not-configured") {
      refuse(m.name, `replication is not configured on mirror ${m.name}${extra}`);
      continue;
    }
    const s = m.status;
    if (input.expectedSourceHost !== undefined && s.sourceHost !== input.expectedSourceHost) {
      refuse(m.name, `mirror ${m.name} replicates from ${s.sourceHost}, not from ${input.expectedSourceHost}`);
      continue;
    }
    const stopped = [!s.ioRunning ? `IO thread not running${s.lastIoError ? ` (${s.lastIoError})` : ""}` : "", !s.sqlRunning ? `SQL thread not running${s.lastSqlError ? ` (${s.lastSqlError})` : ""}` : ""].filter(Boolean);
    if (stopped.length > 0) {
      refuse(m.name, `replication on mirror ${m.name} is stopped: ${stopped.join("; ")}`);
      continue;
    }
    if (!s.execFile) {
      refuse(m.name, `mirror ${m.name} reports no executed source log file (Relay_Master_Log_File is empty)`);
      continue;
    }
    const index = locate(s.execFile, binlogs);
    if (index === undefined) {
      refuse(m.name, `mirror ${m.name} is at ${s.execFile}, which is not one of the master's binary logs (${binlogs[0].name} .. ${binlogs[binlogs.length - 1].name})`);
    } else if (index < 0) {
      refuse(m.name, `mirror ${m.name} still needs ${s.execFile}, which the master no longer has (oldest is ${binlogs[0].name}); the mirror must be re-seeded`);
    } else if (index >= binlogs.length) {
      refuse(m.name, `mirror ${m.name} is at ${s.execFile}, newer than the master's newest log ${binlogs[binlogs.length - 1].name}`);
    } else {
      positions.push({ name: m.name, file: s.execFile, index });
    }
  }

  if (refusals.length > 0) {
    return { ok: false, refusals, message: `refusing to purge binary logs: ${refusals.map((r) => r.reason).join("; ")}` };
  }

  const min = Math.min(...positions.map((p) => p.index));
  const neededBy = positions.filter((p) => p.index === min).map((p) => p.name);
  const oldestNeeded = binlogs[min].name;
  if (min === 0) {
    return { ok: true, purgeTo: null, removes: [], neededBy, message: `nothing to purge: ${oldestNeeded} (the oldest log) is still needed by ${neededBy.join(", ")}` };
  }
  const removes = binlogs.slice(0, min).map((b) => b.name);
  return {
    ok: true,
    purgeTo: oldestNeeded,
    removes,
    neededBy,
    message: `purge to ${oldestNeeded} (removes ${removes.length} log${removes.length === 1 ? "" : "s"}, ${removes[0]} .. ${removes[removes.length - 1]}); ${oldestNeeded} is still needed by ${neededBy.join(", ")}`,
  };
}
