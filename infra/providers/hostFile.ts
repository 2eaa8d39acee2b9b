import * as pulumi from "@pulumi/pulumi";
import { SshTarget, sshRun, shq } from "../ssh/exec";
import { HOSTFILE_SCRIPT } from "./hostfile-script";
import type { RenderedFile } from "../render/types";

// @pulumi/command's provider plugin cannot be built from the Go modules this machine can reach (see
// README, "Engine"), so files travel through this dynamic provider: same model (a script over SSH, content
// on stdin), plus the read() that drift detection needs. diff() is local, so a no-op `up` opens no SSH session.

/** Plain inputs of a HostFile after Pulumi resolved them. */
export interface HostFileState {
  readonly target: SshTarget;
  readonly stack: string;
  readonly path: string;
  readonly kind: "whole" | "block";
  readonly owner: string;
  readonly group: string;
  readonly mode: string;
  readonly content: string;
  readonly validate: string;
  /** `service:action` words, real service names. */
  readonly actions: string[];
  readonly sha256?: string;
}

function scriptFor(op: "apply" | "remove" | "read", s: HostFileState): string {
  const vars: Record<string, string> = {
    OP: op,
    P: s.path,
    KIND: s.kind,
    OWNER: s.owner,
    GROUP: s.group,
    MODE: s.mode,
    VALIDATE: s.validate,
    STACK: s.stack,
    ACTIONS: s.actions.join(" "),
    HOSTNAME_CFG: s.target.host,
  };
  const assigns = Object.entries(vars)
    .map(([k, v]) => `${k}=${shq(v)}`)
    .join("\n");
  return `${assigns}\n${HOSTFILE_SCRIPT}`;
}

async function run(op: "apply" | "remove" | "read", s: HostFileState): Promise<string> {
  const res = await sshRun(s.target, scriptFor(op, s), op === "apply" ? s.content : undefined);
  if (res.code !== 0) {
    throw new Error(
      `[${s.target.host}] ${op} ${s.path} failed (exit ${res.code}):\n${res.stderr.trim() || res.stdout.trim()}`,
    );
  }
  return res.stdout;
}

function sha256(text: string): string {
  return (require("crypto") as typeof import("crypto")).createHash("sha256").update(text).digest("hex");
}

/** Properties whose change rewrites the file in place. */
const UPDATE_KEYS = ["content", "owner", "group", "mode"] as const;
/** Properties whose change means another file: the old one is restored, the new one written. */
const REPLACE_KEYS = ["path", "kind"] as const;

export const hostFileProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: HostFileState, news: HostFileState) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!news.path.startsWith("/")) failures.push({ property: "path", reason: `${news.path} is not absolute` });
    if (!/^0?[0-7]{3,4}$/.test(news.mode)) failures.push({ property: "mode", reason: `${news.mode} is not an octal mode` });
    return { inputs: news, failures };
  },

  async diff(_id: string, olds: HostFileState, news: HostFileState) {
    const replaces = REPLACE_KEYS.filter((k) => olds[k] !== news[k]) as string[];
    if (olds.target?.host !== news.target.host) replaces.push("target");
    const changed = UPDATE_KEYS.some((k) => olds[k] !== news[k]);
    return { changes: changed || replaces.length > 0, replaces, deleteBeforeReplace: false };
  },

  async create(inputs: HostFileState) {
    await run("apply", inputs);
    return { id: `${inputs.target.host}:${inputs.path}`, outs: { ...inputs, sha256: sha256(inputs.content) } };
  },

  async update(_id: string, _olds: HostFileState, news: HostFileState) {
    await run("apply", news);
    return { outs: { ...news, sha256: sha256(news.content) } };
  },

  async delete(_id: string, props: HostFileState) {
    await run("remove", props);
  },

  // `pulumi refresh` reads what is really on the host, so the next `up` shows and repairs drift.
  async read(id: string, props: HostFileState) {
    const out = await run("read", props);
    if (out.startsWith("MIRRORSTACK_ABSENT")) return { id, props: { ...props, content: "", sha256: "absent" } };
    const nl = out.indexOf("\n");
    const [, owner, group, mode] = out.slice(0, nl).split(" ");
    const content = out.slice(nl + 1);
    const live = props.kind === "whole" ? { owner, group, mode: mode.padStart(4, "0") } : {};
    return { id, props: { ...props, ...live, content, sha256: sha256(content) } };
  },
};

/** Inputs of a HostFile. */
export interface HostFileArgs {
  /** How to reach the host. */
  readonly target: pulumi.Input<SshTarget>;
  /** Stack name written into block markers. */
  readonly stack: pulumi.Input<string>;
  /** Absolute path on the host. */
  readonly path: pulumi.Input<string>;
  /** Whole file, or a managed block inside it. */
  readonly kind: pulumi.Input<"whole" | "block">;
  /** Owner user. */
  readonly owner: pulumi.Input<string>;
  /** Owner group. */
  readonly group: pulumi.Input<string>;
  /** Octal mode. */
  readonly mode: pulumi.Input<string>;
  /** Content (for a block: the lines between the markers). */
  readonly content: pulumi.Input<string>;
  /** Shell snippet run with $FILE set to the candidate before the swap; empty for none. */
  readonly validate: pulumi.Input<string>;
  /** `service:action` words run after a change. */
  readonly actions: pulumi.Input<pulumi.Input<string>[]>;
}

/** The inputs of a HostFile for a rendered file: its path, kind, ownership, mode and validator as rendered. */
export function renderedFileArgs(
  f: RenderedFile,
  target: pulumi.Input<SshTarget>,
  stack: pulumi.Input<string>,
  content: pulumi.Input<string>,
  actions: string[],
): HostFileArgs {
  return { target, stack, path: f.path, kind: f.kind, owner: f.owner, group: f.group, mode: f.mode, content, validate: f.validate ?? "", actions };
}

/**
 * The inputs of a HostFile for a known_hosts pin (whole, root:root 0644) whose content is only known once the
 * other host's keys are read; path and metadata stay plain so previews show them.
 */
export function pinFileArgs(path: string, f: pulumi.Output<RenderedFile>, target: pulumi.Input<SshTarget>, stack: pulumi.Input<string>): HostFileArgs {
  return {
    target,
    stack,
    path,
    kind: "whole",
    owner: "root",
    group: "root",
    mode: "0644",
    content: f.apply((x) => x.content),
    validate: f.apply((x) => x.validate ?? ""),
    actions: [],
  };
}

/** One file (or block) on one host, written atomically, validated first, original kept for destroy. */
export class HostFile extends pulumi.dynamic.Resource {
  public readonly sha256!: pulumi.Output<string>;
  public readonly content!: pulumi.Output<string>;
  public readonly path!: pulumi.Output<string>;

  constructor(name: string, args: HostFileArgs, opts?: pulumi.CustomResourceOptions) {
    super(hostFileProvider, name, { ...args, sha256: undefined }, opts, "mirrorstack", "HostFile");
  }
}
