import * as pulumi from "../pulumi";
import { SshTarget, remoteFailure, sshRun } from "../ssh/exec";
import { MirrorstackDynamicResource } from "./dynamic";

// Same model as @pulumi/command's remote.Command (create/update/delete scripts, stdin, triggers), as a
// dynamic provider because that plugin cannot be built here (README, "Engine"). Diff is local: an
// unchanged command opens no SSH session.

/** Plain inputs of a RemoteCommand after Pulumi resolved them. */
export interface RemoteCommandState {
  readonly target: SshTarget;
  readonly create: string;
  readonly update: string;
  readonly delete: string;
  readonly stdin: string;
  readonly triggers: unknown[];
  readonly stdout?: string;
}

async function exec(s: RemoteCommandState, script: string, what: string): Promise<string> {
  const r = await sshRun(s.target, script, s.stdin);
  if (r.code !== 0) {
    throw remoteFailure(s.target.host, what, r);
  }
  return r.stdout;
}

export const remoteCommandProvider: pulumi.dynamic.ResourceProvider = {
  async diff(_id: string, olds: RemoteCommandState, news: RemoteCommandState) {
    const replaces = JSON.stringify(olds.triggers) !== JSON.stringify(news.triggers) ? ["triggers"] : [];
    const changes = replaces.length > 0 || (["create", "update", "stdin"] as const).some((k) => olds[k] !== news[k]);
    return { changes, replaces };
  },
  async create(inputs: RemoteCommandState) {
    const stdout = await exec(inputs, inputs.create, "create");
    return { id: `${inputs.target.host}:${Date.now().toString(36)}`, outs: { ...inputs, stdout } };
  },
  async update(_id: string, _olds: RemoteCommandState, news: RemoteCommandState) {
    const stdout = await exec(news, news.update || news.create, "update");
    return { outs: { ...news, stdout } };
  },
  async delete(_id: string, props: RemoteCommandState) {
    if (props.delete) await exec(props, props.delete, "delete");
  },
};

/** Inputs of a RemoteCommand. */
export interface RemoteCommandArgs {
  /** How to reach the host. */
  readonly target: pulumi.Input<SshTarget>;
  /** Script run with bash on create (and on update when `update` is empty). */
  readonly create: pulumi.Input<string>;
  /** Script run when `create`, `update` or `stdin` changed. */
  readonly update?: pulumi.Input<string>;
  /** Script run on destroy. */
  readonly delete?: pulumi.Input<string>;
  /** Data fed to the script's stdin (secrets travel here, never in the script). */
  readonly stdin?: pulumi.Input<string>;
  /** Any change here replaces the resource (delete, then create again). */
  readonly triggers?: pulumi.Input<unknown[]>;
}

/** One idempotent script on one host. */
export class RemoteCommand extends MirrorstackDynamicResource {
  /** What the last create/update printed. */
  public readonly stdout!: pulumi.Output<string>;

  constructor(name: string, args: RemoteCommandArgs, opts?: pulumi.CustomResourceOptions) {
    super("RemoteCommand", remoteCommandProvider, name, { update: "", delete: "", stdin: "", triggers: [], ...args, stdout: undefined }, opts);
  }
}
