import * as pulumi from "../pulumi";
import { SshTarget, remoteFailure, sshRun } from "../ssh/exec";
import { MirrorstackDynamicResource } from "./dynamic";

// A value read from a host: a script run over SSH whose trimmed stdout is the resource's `value`. Unlike
// RemoteCommand it also runs on `pulumi refresh` (read), so a value that changed on the host (a mirror rebuilt
// with a new sync key, a master with new host keys) shows up in state and the next `up` re-renders what
// depends on it. diff() is local: an unchanged stack opens no SSH session. The script must be idempotent and
// print only what may be stored in state (public keys, versions; never a private key).

/** Plain inputs of a HostProbe after Pulumi resolved them. */
export interface HostProbeState {
  readonly target: SshTarget;
  /** Run on create, on update (script changed) and on refresh. */
  readonly script: string;
  /** Run on destroy (may be empty). */
  readonly delete: string;
  /** What the value is, for messages. */
  readonly what: string;
  readonly value?: string;
}

async function probe(s: HostProbeState): Promise<string> {
  const r = await sshRun(s.target, s.script);
  if (r.code !== 0) {
    throw remoteFailure(s.target.host, `reading ${s.what}`, r);
  }
  const value = r.stdout.trim();
  if (value === "") throw new Error(`[${s.target.host}] reading ${s.what} printed nothing`);
  return value;
}

export const hostProbeProvider: pulumi.dynamic.ResourceProvider = {
  async diff(_id: string, olds: HostProbeState, news: HostProbeState) {
    const replaces = olds.target?.host !== news.target.host || olds.target?.address !== news.target.address ? ["target"] : [];
    const changes = replaces.length > 0 || olds.script !== news.script || olds.delete !== news.delete;
    return { changes, replaces, deleteBeforeReplace: true };
  },
  async create(inputs: HostProbeState) {
    const value = await probe(inputs);
    return { id: `${inputs.target.host}:${inputs.what}`, outs: { ...inputs, value } };
  },
  async update(_id: string, _olds: HostProbeState, news: HostProbeState) {
    return { outs: { ...news, value: await probe(news) } };
  },
  async read(id: string, props: HostProbeState) {
    return { id, props: { ...props, value: await probe(props) } };
  },
  async delete(_id: string, props: HostProbeState) {
    if (!props.delete) return;
    const r = await sshRun(props.target, props.delete);
    if (r.code !== 0) throw remoteFailure(props.target.host, `removing ${props.what}`, r);
  },
};

/** Inputs of a HostProbe. */
export interface HostProbeArgs {
  /** How to reach the host. */
  readonly target: pulumi.Input<SshTarget>;
  /** Idempotent bash script whose stdout (trimmed, non-empty) is the value. */
  readonly script: pulumi.Input<string>;
  /** Script run on destroy (e.g. to remove what the probe created); empty for none. */
  readonly delete?: pulumi.Input<string>;
  /** Short name of the value (messages and the resource id). */
  readonly what: pulumi.Input<string>;
}

/** A value read from a host over SSH on create, on script change and on refresh. */
export class HostProbe extends MirrorstackDynamicResource {
  /** Trimmed stdout of the script. */
  public readonly value!: pulumi.Output<string>;

  constructor(name: string, args: HostProbeArgs, opts?: pulumi.CustomResourceOptions) {
    super("HostProbe", hostProbeProvider, name, { delete: "", ...args, value: undefined }, opts);
  }
}
