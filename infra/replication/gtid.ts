// MariaDB GTID positions and states compared, for switchover and failover. Pure: strings in, verdicts out.
//
// A MariaDB GTID is domain-server-seq. A *position* (gtid_binlog_pos, gtid_slave_pos, gtid_current_pos) holds
// the last GTID per domain; a *state* (gtid_binlog_state) holds the last GTID per (domain, server). With
// gtid_strict_mode the sequence numbers of a domain only grow, so within a domain "more" means a higher seq.

export interface Gtid {
  readonly domain: number;
  readonly server: number;
  readonly seq: number;
}

/** Parses "0-1-42,1-2-7" (spaces allowed, empty string = nothing); throws on anything else. */
export function parseGtidList(text: string | null | undefined): Gtid[] {
  const s = (text ?? "").trim();
  if (s === "") return [];
  return s.split(",").map((part) => {
    const m = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(part);
    if (!m) throw new Error(`${JSON.stringify(text)} is not a MariaDB GTID list (domain-server-seq, comma-separated)`);
    return { domain: Number(m[1]), server: Number(m[2]), seq: Number(m[3]) };
  });
}

export function formatGtid(g: Gtid): string {
  return `${g.domain}-${g.server}-${g.seq}`;
}

/** The later GTID of each domain over several positions (e.g. a server's binlog and slave positions). */
export function latestPosition(...lists: (readonly Gtid[])[]): Gtid[] {
  return [...toPosition(lists.flat()).values()];
}

/** A list in the server's own order (by domain, then server). */
export function formatGtidList(list: readonly Gtid[]): string {
  return [...list]
    .sort((a, b) => a.domain - b.domain || a.server - b.server)
    .map(formatGtid)
    .join(",");
}

/** Position: the last GTID of each domain (a state reduced to a position: the highest seq per domain). */
export function toPosition(list: readonly Gtid[]): Map<number, Gtid> {
  const out = new Map<number, Gtid>();
  for (const g of list) {
    const cur = out.get(g.domain);
    if (!cur || g.seq > cur.seq) out.set(g.domain, g);
  }
  return out;
}

/**
 * Transactions `candidate` has that `reference` lacks, from two gtid_binlog_state values: for each (domain,
 * server) of the candidate, the reference must have the same pair with at least that seq. What is left is
 * named as the candidate's last GTID of that pair (errant transactions: written on a mirror, not replicated).
 */
export function errantTransactions(candidateState: readonly Gtid[], referenceState: readonly Gtid[]): Gtid[] {
  // The highest seq per pair: a reference may join several lists (a binary log state and a replica position).
  const ref = new Map<string, number>();
  for (const g of referenceState) ref.set(`${g.domain}-${g.server}`, Math.max(ref.get(`${g.domain}-${g.server}`) ?? -1, g.seq));
  return candidateState.filter((g) => {
    const seq = ref.get(`${g.domain}-${g.server}`);
    return seq === undefined || seq < g.seq;
  });
}

export type PositionOrder = "equal" | "behind" | "ahead" | "diverged";

export interface PositionComparison {
  readonly order: PositionOrder;
  /** Domains where `a` lacks transactions `b` has (b's GTID named). */
  readonly missing: readonly Gtid[];
  /** Domains where `a` has transactions `b` lacks (a's GTID named). */
  readonly extra: readonly Gtid[];
  /** Domains where both have the same seq from different servers: the histories split. */
  readonly conflicting: readonly { readonly a: Gtid; readonly b: Gtid }[];
}

/** Compares two GTID positions domain by domain: is `a` equal to, behind, ahead of, or diverged from `b`? */
export function comparePositions(a: readonly Gtid[], b: readonly Gtid[]): PositionComparison {
  const pa = toPosition(a);
  const pb = toPosition(b);
  const missing: Gtid[] = [];
  const extra: Gtid[] = [];
  const conflicting: { a: Gtid; b: Gtid }[] = [];
  for (const d of new Set([...pa.keys(), ...pb.keys()])) {
    const x = pa.get(d);
    const y = pb.get(d);
    if (x && !y) extra.push(x);
    else if (!x && y) missing.push(y);
    else if (x && y) {
      if (x.seq < y.seq) missing.push(y);
      else if (x.seq > y.seq) extra.push(x);
      else if (x.server !== y.server) conflicting.push({ a: x, b: y });
    }
  }
  const order: PositionOrder =
    conflicting.length > 0 || (missing.length > 0 && extra.length > 0) ? "diverged" : missing.length > 0 ? "behind" : extra.length > 0 ? "ahead" : "equal";
  return { order, missing, extra, conflicting };
}

/** One mirror as failover sees it: its applied GTID position, once its relay log is applied. */
export interface FailoverCandidate {
  readonly name: string;
  readonly position: readonly Gtid[];
  /** Why it cannot be promoted (no binary log with the replicated changes, ...); it still counts for data loss. */
  readonly notPromotable?: string;
}

export type CandidateChoice =
  | {
      readonly ok: true;
      readonly name: string;
      /** Mirrors that have transactions the chosen one lacks (only with a named mirror and accept-loss). */
      readonly losing: readonly { readonly name: string; readonly extra: readonly Gtid[] }[];
      readonly why: string;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Failover's choice: the mirror whose position is at or ahead of every other one (the most transactions).
 * A named mirror is taken when no other mirror is ahead of it; when one is, its transactions would be lost and
 * the choice is refused unless `acceptLoss`. Without a name, two mirrors whose positions cannot be ordered
 * (each has something the other lacks) make the choice ambiguous: refused, the operator names one. Equal
 * positions are not ambiguous (nothing differs): the first in stack order is taken.
 */
export function chooseCandidate(mirrors: readonly FailoverCandidate[], opts: { named?: string; acceptLoss?: boolean } = {}): CandidateChoice {
  if (mirrors.length === 0) return { ok: false, reason: "no mirror answered: nothing to promote" };
  const ahead = (c: FailoverCandidate) =>
    mirrors.filter((o) => o.name !== c.name).map((o) => ({ name: o.name, cmp: comparePositions(o.position, c.position) })).filter((x) => x.cmp.order === "ahead" || x.cmp.order === "diverged");
  if (opts.named !== undefined) {
    const c = mirrors.find((m) => m.name === opts.named);
    if (!c) return { ok: false, reason: `${opts.named} is not one of the mirrors that answered (${mirrors.map((m) => m.name).join(", ")})` };
    if (c.notPromotable) return { ok: false, reason: `${c.name} cannot be promoted: ${c.notPromotable}` };
    const others = ahead(c);
    const losing = others.map((o) => ({ name: o.name, extra: o.cmp.extra.length > 0 ? o.cmp.extra : o.cmp.conflicting.map((x) => x.a) }));
    if (losing.length > 0 && !opts.acceptLoss) {
      return {
        ok: false,
        reason: `${c.name} lacks transactions other mirrors have (${losing.map((l) => `${l.name}: ${formatGtidList(l.extra)}`).join("; ")}); promoting it loses them: add --accept-loss to do it anyway, or name the mirror that is ahead`,
      };
    }
    return { ok: true, name: c.name, losing, why: losing.length > 0 ? `named, accepting the loss of ${losing.map((l) => `${l.name}'s ${formatGtidList(l.extra)}`).join(", ")}` : "named; no mirror is ahead of it" };
  }
  const top = mirrors.filter((c) => ahead(c).length === 0);
  const best = top.filter((c) => !c.notPromotable);
  const blocked = top.filter((c) => c.notPromotable);
  if (best.length === 0 && blocked.length > 0) {
    return {
      ok: false,
      reason: `${blocked.map((b) => b.name).join(", ")} ${blocked.length > 1 ? "have" : "has"} the most transactions but cannot be promoted (${blocked.map((b) => `${b.name}: ${b.notPromotable}`).join("; ")}); name another mirror with --to and --accept-loss to lose what it lacks`,
    };
  }
  if (best.length === 0) {
    return {
      ok: false,
      reason: `ambiguous: no mirror holds every transaction the others have (${mirrors.map((m) => `${m.name} ${formatGtidList(m.position) || "(empty)"}`).join("; ")}); name one with --to (and --accept-loss: the others' extra transactions are lost)`,
    };
  }
  const first = best[0]!;
  const tied = best.filter((b) => b.name !== first.name);
  return { ok: true, name: first.name, losing: [], why: tied.length > 0 ? `the most transactions (${formatGtidList(first.position)}), equal with ${tied.map((t) => t.name).join(", ")}; the first in stack order` : `the most transactions (${formatGtidList(first.position)})` };
}
