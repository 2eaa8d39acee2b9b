import * as pulumi from "../pulumi";
import { declineCopy, joinMirror, mirrorStatus, rotatePassword, seedMirror, unseedMirror, type SeedPlan } from "../replication/seed";
import { ReplicationNotConfiguredError } from "../replication/status";
import { MirrorstackDynamicResource } from "./dynamic";

// One mirror's replication as a resource: create = account + consistent copy + start + caught-up check;
// a new password rotates credentials in place; another master (a switchover in the stack config) joins the
// mirror to it by GTID, copying only when the master's binary log no longer has what it needs, and never over
// transactions only the mirror has unless its seed token is new; a new seed token, other databases or another
// mirror address re-seed (replace); destroy stops replication and drops the account, and never deletes data.
// create joins instead of copying a host that replicates from this master already (after mirrorctl switchover
// or failover) or an old master whose binary log holds nothing the master lacks.

/** Plain inputs after Pulumi resolved them. */
export interface ReplicationState extends SeedPlan {
  /** Changing this value re-seeds the mirror (`mirrors[i].reseed` in the stack config). */
  readonly seedToken: string;
}

const REPLACE_KEYS = ["seedToken", "sourcePort", "mirrorAddress", "user"] as const;

/** The master changed (a switchover): the mirror follows it by GTID. */
const masterMoved = (olds: ReplicationState, news: ReplicationState) => olds.sourceHost !== news.sourceHost || olds.master?.host !== news.master.host;

/** Joins by GTID, or seeds and says why: what create and a switchover's update record. */
async function joinOrSeed(inputs: ReplicationState, rejoinFormerMaster: boolean, copyConsented: boolean) {
  const j = await joinMirror(inputs, { rejoinFormerMaster }).catch((e: unknown) => {
    declineCopy(inputs);
    throw e;
  });
  const at = new Date().toISOString();
  if (j.status || (j.join.kind === "copy" && j.join.errant && !copyConsented)) declineCopy(inputs);
  // A copy would destroy transactions only the mirror has (an old master's commits that never replicated):
  // that needs the operator's word, a re-seed token, given after saving what matters.
  if (!j.status && j.join.kind === "copy" && j.join.errant && !copyConsented) {
    throw new Error(
      `[mirrors[].reseed of ${inputs.mirror.host}] ${j.join.why}: nothing changed. Save what you need from it, then set mirrors[].reseed for ${inputs.mirror.host} (any new token) to copy ${inputs.master.host} onto it`,
    );
  }
  if (j.status) return { joined: { how: j.join.kind, why: j.join.why, master: inputs.master.host, at }, status: j.status };
  const report = await seedMirror(inputs);
  return { joined: { how: "copied", why: j.join.why, master: inputs.master.host, at }, report, status: report.status };
}

function seedOutput(report: Awaited<ReturnType<typeof seedMirror>>) {
  return {
    method: report.method,
    bytes: report.bytes,
    controllerBytes: report.controllerBytes,
    sharedWith: report.sharedWith,
    seconds: report.seconds,
    phases: report.phases,
    startFile: report.startFile,
    startPos: report.startPos,
  };
}

function summary(r: Awaited<ReturnType<typeof seedMirror>>["status"]) {
  return {
    ioRunning: r.ioRunning,
    sqlRunning: r.sqlRunning,
    secondsBehind: r.secondsBehind,
    lastIoError: r.lastIoError,
    lastSqlError: r.lastSqlError,
    execFile: r.execFile,
    execPos: r.execPos,
    gtid: r.gtid,
  };
}

export const replicationProvider: pulumi.dynamic.ResourceProvider = {
  async diff(_id: string, olds: ReplicationState, news: ReplicationState) {
    const replaces: string[] = REPLACE_KEYS.filter((k) => olds[k] !== news[k]);
    if (JSON.stringify(olds.databases) !== JSON.stringify(news.databases)) replaces.push("databases");
    if (olds.mirror?.host !== news.mirror.host) replaces.push("mirror");
    // TLS settings (files, required subject) change in place: account and CHANGE MASTER, no re-seed. So does
    // the master (joined by GTID).
    const changes =
      replaces.length > 0 || masterMoved(olds, news) || olds.password !== news.password || JSON.stringify(olds.tls ?? null) !== JSON.stringify(news.tls ?? null);
    // Neither replaced nor following a new master: no copy in this run, so new mirrors' copy need not wait for it.
    if (replaces.length === 0 && !masterMoved(olds, news)) declineCopy(news);
    return { changes, replaces, deleteBeforeReplace: true };
  },
  async create(inputs: ReplicationState) {
    // A re-seed token given: a host replicating from nobody is copied (its replication was reset on purpose), and
    // a copy over transactions only it has is consented to (a new token replaces the resource, so create runs).
    const r = await joinOrSeed(inputs, !inputs.seedToken, !!inputs.seedToken);
    return {
      id: `${inputs.mirror.host}:replication`,
      outs: { ...inputs, seed: r.report ? seedOutput(r.report) : { method: "joined", seconds: 0 }, joined: r.joined, status: summary(r.status) },
    };
  },
  async update(_id: string, olds: ReplicationState & { seed?: unknown; joined?: unknown }, news: ReplicationState) {
    if (masterMoved(olds, news)) {
      const r = await joinOrSeed(news, true, false);
      return { outs: { ...news, seed: r.report ? seedOutput(r.report) : olds.seed, joined: r.joined, status: summary(r.status) } };
    }
    const status = await rotatePassword(news);
    return { outs: { ...news, seed: olds.seed, joined: olds.joined, status: summary(status) } };
  },
  async delete(_id: string, props: ReplicationState) {
    await unseedMirror(props);
  },
  // `pulumi refresh`: a mirror whose replication is gone (rebuilt host, RESET SLAVE ALL by hand) drops out of
  // the state, so the next `up` seeds it again; otherwise the status is brought up to date.
  async read(id: string, props: ReplicationState & { status?: unknown }) {
    try {
      const status = await mirrorStatus(props.mirror, props.engine);
      return { id, props: { ...props, status: summary(status) } };
    } catch (e) {
      // Only the typed error drops the mirror: any other failure (ssh, a lost session) must not read as "gone".
      // One class: the serialized provider carries status.ts once, so normalizeReplicaStatus throws this very class.
      if (e instanceof ReplicationNotConfiguredError) return {};
      throw e;
    }
  },
};

/** Inputs of a MirrorReplication. */
export type MirrorReplicationArgs = { readonly [K in keyof ReplicationState]: pulumi.Input<ReplicationState[K]> };

/** Replication from the master to one mirror, seeded with a consistent copy and proven caught up. */
export class MirrorReplication extends MirrorstackDynamicResource {
  /** Replica threads, lag, errors and applied position, as of the last create/update. */
  public readonly status!: pulumi.Output<Record<string, unknown>>;
  /** How the mirror was seeded: method, bytes streamed, seconds, start coordinates. */
  public readonly seed!: pulumi.Output<Record<string, unknown>>;
  /** The last time it joined a master without a copy, or was copied when it could not: how, why, which master, when. */
  public readonly joined!: pulumi.Output<Record<string, unknown> | undefined>;

  constructor(name: string, args: MirrorReplicationArgs, opts?: pulumi.CustomResourceOptions) {
    super("MirrorReplication", replicationProvider, name, { ...args, status: undefined, seed: undefined, joined: undefined }, opts);
  }
}
