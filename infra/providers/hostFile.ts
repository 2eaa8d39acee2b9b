import * as pulumi from "../pulumi";
import { SshTarget, sshRun, shq } from "../ssh/exec";
import { HOSTFILE_SCRIPT } from "./hostfile-script";
import type { FileBody } from "../render/types";
import { describeSettingsPlan, planSettings } from "../render/live-settings";
import { MirrorstackDynamicResource } from "./dynamic";

// @pulumi/command's provider plugin cannot be built from the Go modules this machine can reach (see
// README, "Engine"), so files travel through this dynamic provider: same model (a script over SSH, content
// on stdin), plus the read() that drift detection needs. diff() is local, so a no-op `up` opens no SSH session.

/** Plain inputs of a HostFile after Pulumi resolved them: a rendered file's metadata, and how to apply it. */
export interface HostFileState extends Pick<FileBody, "path" | "kind" | "owner" | "group" | "mode" | "content"> {
  readonly target: SshTarget;
  readonly stack: string;
  readonly validate: string;
  /** `service:action` words, real service names. */
  readonly actions: string[];
  /** For a server option file (`service:settings` action): how this change reaches the server, as previews show it. */
  readonly applies?: string;
  readonly sha256?: string;
}

/**
 * The actions to run for this write. `service:settings` marks a database option file: it becomes `restart`, or
 * `live` with the SET GLOBAL statements in LIVE_SQL when every changed option can change at run time, or nothing
 * when no option changed. `prev` is the content the host had (undefined: first write).
 */
function resolveActions(actions: string[], prev: string | undefined, next: string): { actions: string[]; liveSql: string } {
  let liveSql = "";
  const out: string[] = [];
  for (const a of actions) {
    if (!a.endsWith(":settings")) {
      out.push(a);
      continue;
    }
    const svc = a.slice(0, -":settings".length);
    const plan = prev === undefined ? ({ kind: "restart", because: [] } as const) : planSettings(prev, next);
    if (plan.kind === "restart") out.push(`${svc}:restart`);
    if (plan.kind === "live") {
      out.push(`${svc}:live`);
      liveSql = plan.statements.map((x) => `${x};`).join(" ");
    }
  }
  return { actions: out, liveSql };
}

/** The whole bash program for one operation: its parameters as shell assignments, then hostfile.sh. */
export function scriptFor(op: "apply" | "remove" | "read", s: HostFileState, prev?: string): string {
  const { actions, liveSql } = resolveActions(s.actions, op === "apply" ? prev : undefined, s.content);
  const vars: Record<string, string> = {
    OP: op,
    P: s.path,
    KIND: s.kind,
    OWNER: s.owner,
    GROUP: s.group,
    MODE: s.mode,
    VALIDATE: s.validate,
    STACK: s.stack,
    ACTIONS: actions.join(" "),
    LIVE_SQL: liveSql,
    PREV_SHA: prev === undefined ? "" : sha256(prev),
    HOSTNAME_CFG: s.target.host,
  };
  const assigns = Object.entries(vars)
    .map(([k, v]) => `${k}=${shq(v)}`)
    .join("\n");
  return `${assigns}\n${HOSTFILE_SCRIPT}`;
}

async function run(op: "apply" | "remove" | "read", s: HostFileState, prev?: string): Promise<string> {
  const res = await sshRun(s.target, scriptFor(op, s, prev), op === "apply" ? s.content : undefined);
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
  async check(olds: HostFileState, news: HostFileState) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!news.path.startsWith("/")) failures.push({ property: "path", reason: `${news.path} is not absolute` });
    if (!/^0?[0-7]{3,4}$/.test(news.mode)) failures.push({ property: "mode", reason: `${news.mode} is not an octal mode` });
    // A server option file: say in the preview whether the change goes live or restarts the server.
    if (news.actions?.some((a) => a.endsWith(":settings")) && typeof news.content === "string") {
      const prev = typeof olds?.content === "string" ? olds.content : undefined;
      const applies =
        prev === undefined ? "restart (first write of the file)" : prev === news.content ? olds.applies : describeSettingsPlan(planSettings(prev, news.content));
      // (No key at all rather than undefined: the engine's struct encoding refuses undefined.)
      return { inputs: applies === undefined ? news : { ...news, applies }, failures };
    }
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

  async update(_id: string, olds: HostFileState, news: HostFileState) {
    await run("apply", news, olds.content);
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
  f: FileBody,
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
export function pinFileArgs(path: string, f: pulumi.Output<FileBody>, target: pulumi.Input<SshTarget>, stack: pulumi.Input<string>): HostFileArgs {
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
export class HostFile extends MirrorstackDynamicResource {
  public readonly sha256!: pulumi.Output<string>;
  public readonly content!: pulumi.Output<string>;
  public readonly path!: pulumi.Output<string>;

  constructor(name: string, args: HostFileArgs, opts?: pulumi.CustomResourceOptions) {
    super("HostFile", hostFileProvider, name, { ...args, sha256: undefined }, opts);
  }
}
