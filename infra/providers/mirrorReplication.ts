import * as pulumi from "../pulumi";
import { mirrorStatus, rotatePassword, seedMirror, unseedMirror, type SeedPlan } from "../replication/seed";
import { ReplicationNotConfiguredError } from "../replication/status";
import { MirrorstackDynamicResource } from "./dynamic";

// One mirror's replication as a resource: create = account + consistent copy + start + caught-up check;
// a new password rotates credentials in place; a new seed token, other databases or other hosts re-seed
// (replace); destroy stops replication and drops the account, and never deletes data.

/** Plain inputs after Pulumi resolved them. */
export interface ReplicationState extends SeedPlan {
  /** Changing this value re-seeds the mirror (`mirrors[i].reseed` in the stack config). */
  readonly seedToken: string;
}

const REPLACE_KEYS = ["seedToken", "sourceHost", "sourcePort", "mirrorAddress", "user"] as const;

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
    if (olds.master?.host !== news.master.host || olds.mirror?.host !== news.mirror.host) replaces.push("mirror");
    // TLS settings (files, required subject) change in place: account and CHANGE MASTER, no re-seed.
    const changes = replaces.length > 0 || olds.password !== news.password || JSON.stringify(olds.tls ?? null) !== JSON.stringify(news.tls ?? null);
    return { changes, replaces, deleteBeforeReplace: true };
  },
  async create(inputs: ReplicationState) {
    const report = await seedMirror(inputs);
    return {
      id: `${inputs.mirror.host}:replication`,
      outs: { ...inputs, seed: {
          method: report.method,
          bytes: report.bytes,
          controllerBytes: report.controllerBytes,
          sharedWith: report.sharedWith,
          seconds: report.seconds,
          startFile: report.startFile,
          startPos: report.startPos,
        }, status: summary(report.status) },
    };
  },
  async update(_id: string, olds: ReplicationState & { seed?: unknown }, news: ReplicationState) {
    const status = await rotatePassword(news);
    return { outs: { ...news, seed: olds.seed, status: summary(status) } };
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

  constructor(name: string, args: MirrorReplicationArgs, opts?: pulumi.CustomResourceOptions) {
    super("MirrorReplication", replicationProvider, name, { ...args, status: undefined, seed: undefined }, opts);
  }
}
