import * as pulumi from "../pulumi";
import type { StackConfig } from "../config/types";
import { applyMasterChange, type MasterChangeReport } from "../ops/switchover";
import type { SshTarget } from "../ssh/exec";
import { MirrorstackDynamicResource } from "./dynamic";

// Which host is the master, as a resource: a stack config that names another master makes this an update, which
// the preview shows as `master: "A" => "B"` (and `npm run review` as a switchover), and which `up` runs before any
// host's files change (every host's first step depends on it): the switchover of mirrorctl (infra/ops/switchover.ts),
// or nothing when that was done already. Then the old master's my.cnf turns it into a mirror and each mirror's
// replication follows the new master by GTID (MirrorReplication), without a copy. create and delete touch no host.

/** Plain inputs after Pulumi resolved them. */
export interface MasterRoleState {
  /** The configured master's name. */
  readonly master: string;
  readonly stack: string;
  /** The resolved stack config (no secrets in it). */
  readonly cfg: StackConfig;
  /** SSH target per host name. */
  readonly targets: Record<string, SshTarget>;
  readonly password: string;
}

const refusal = (olds: Partial<MasterRoleState>, news: MasterRoleState): { property: string; reason: string }[] => {
  if (!olds.master || olds.master === news.master) return [];
  if (news.cfg.database.flavour !== "mariadb") return [{ property: "database.flavour", reason: `a switchover (master ${olds.master} -> ${news.master}) is implemented for MariaDB only` }];
  // tls.enabled is no refusal: every host has a certificate for both roles; the update's preflight checks that
  // each one serves TLS with it and that it is good for both (a host set up by an older version needs an `up` first).
  return [];
};

export const masterRoleProvider: pulumi.dynamic.ResourceProvider = {
  // Refused in the preview, before any host is touched.
  async check(olds: Partial<MasterRoleState>, news: MasterRoleState) {
    return { inputs: news, failures: refusal(olds, news) };
  },
  async diff(_id: string, olds: MasterRoleState, news: MasterRoleState) {
    return { changes: olds.master !== news.master };
  },
  async create(inputs: MasterRoleState) {
    return { id: `${inputs.stack}:master`, outs: { ...inputs, switchover: null } };
  },
  async update(_id: string, olds: MasterRoleState & { switchover?: unknown }, news: MasterRoleState) {
    // (Only a new master name reaches here; whether that host can be promoted is read from the hosts themselves.)
    const report: MasterChangeReport = await applyMasterChange(news.stack, news.cfg, new Map(Object.entries(news.targets)), news.password, olds.master);
    return { outs: { ...news, switchover: { ...report, at: new Date().toISOString() } } };
  },
};

/** Inputs of a MasterRole. */
export interface MasterRoleArgs {
  /** The configured master's name (master.name). */
  readonly master: string;
  /** The stack, for messages and the commands they suggest. */
  readonly stack: string;
  /** The resolved stack config. */
  readonly cfg: StackConfig;
  /** How to reach each host. */
  readonly targets: pulumi.Input<Record<string, pulumi.Input<SshTarget>>>;
  /** The replication password (the new master's accounts for the others). */
  readonly password: pulumi.Input<string>;
}

/** The stack's master; changing it is a switchover. */
export class MasterRole extends MirrorstackDynamicResource {
  /** The last switchover `up` ran or found done: from, to, how, the write gap and the steps. */
  public readonly switchover!: pulumi.Output<(MasterChangeReport & { at: string }) | null>;

  constructor(name: string, args: MasterRoleArgs, opts?: pulumi.CustomResourceOptions) {
    super("MasterRole", masterRoleProvider, name, { ...args, switchover: undefined }, { ...opts, additionalSecretOutputs: ["password"] });
  }
}
