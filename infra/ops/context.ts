// What every mirrorctl command starts from: the stack's validated config, how to reach each host (exactly as
// `pulumi up` does: infra/index.ts targetFor), and the stack's secrets when a command needs them.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError, loadStackConfig, stackFilePath } from "../config";
import type { HostConfig, StackConfig } from "../config/types";
import type { DbEngine } from "../replication/dialect";
import type { SshTarget } from "../ssh/exec";
import { UsageError } from "./args";
import { PROJECT_ROOT } from "../paths";

/** Project root: relative paths in a stack config are relative to it, whatever the cwd. */
export { PROJECT_ROOT };

export interface StackSecrets {
  readonly replicationPassword: string;
  readonly backupPassphrase: string;
  readonly sshPrivateKey?: string;
}

export interface OpsContext {
  readonly stack: string;
  readonly cfg: StackConfig;
  /** SSH target per host name (master first, then mirrors). */
  readonly targets: ReadonlyMap<string, SshTarget>;
  readonly engine: DbEngine;
  /** Decrypts the stack's secrets (once) through the Pulumi CLI. */
  secrets(): Promise<StackSecrets>;
  host(name: string): HostConfig;
  target(name: string): SshTarget;
}

/** Thrown when the stack file is missing or invalid: printed line by line, exit 2. */
export class StackConfigError extends Error {
  constructor(
    message: string,
    readonly lines: readonly string[],
  ) {
    super(message);
    this.name = "StackConfigError";
  }
}

/** The SshTarget for one host: the same fields infra/index.ts builds for `up`. */
export function targetFor(cfg: StackConfig, h: HostConfig, root = PROJECT_ROOT, privateKey?: string): SshTarget {
  const abs = (p?: string) => (p ? resolve(root, p) : undefined);
  const privateKeyPath = abs(cfg.ssh.privateKeyPath);
  const knownHostsPath = abs(cfg.ssh.knownHostsPath);
  return {
    host: h.name,
    address: h.address,
    user: h.sshUser,
    port: h.sshPort,
    ...(privateKeyPath ? { privateKeyPath } : {}),
    ...(knownHostsPath ? { knownHostsPath } : {}),
    ...(privateKey ? { privateKey } : {}),
  };
}

/** Reads the stack's secrets with `pulumi config --show-secrets --json` (the project's offline wrapper). */
export function readSecrets(stack: string, root = PROJECT_ROOT): StackSecrets {
  const r = spawnSync("bash", [join(root, "scripts/pulumi.sh"), "config", "--show-secrets", "--json", "--stack", stack], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) {
    throw new Error(`cannot read the secrets of stack ${stack} (pulumi config --show-secrets exited ${r.status}): ${(r.stderr || r.stdout).trim().slice(-1000)}`);
  }
  let all: Record<string, { value?: unknown }>;
  try {
    all = JSON.parse(r.stdout) as Record<string, { value?: unknown }>;
  } catch (e) {
    throw new Error(`pulumi config --json printed something that is not JSON: ${(e as Error).message}`);
  }
  const get = (k: string) => {
    const v = all[`mirrorstack:${k}`]?.value;
    return typeof v === "string" ? v : undefined;
  };
  const key = get("sshPrivateKey");
  return { replicationPassword: get("replicationPassword") ?? "", backupPassphrase: get("backupPassphrase") ?? "", ...(key ? { sshPrivateKey: key } : {}) };
}

/** Loads stacks/Pulumi.<stack>.yaml and builds the context. */
export async function loadContext(stack: string, opts: { root?: string; secrets?: () => StackSecrets } = {}): Promise<OpsContext> {
  const root = opts.root ?? PROJECT_ROOT;
  const file = stackFilePath(root, stack);
  // Asked of the file system, not read from the config error's message: a missing file is a bad --stack (exit 2).
  if (!existsSync(file)) throw new UsageError(`stack ${stack}: no stack file ${file}`);
  let cfg: StackConfig;
  try {
    cfg = loadStackConfig(file, stack);
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new StackConfigError(`stack ${stack}: ${e.issues.length} configuration problem(s) in ${file}`, e.lines());
    }
    throw e;
  }
  let cached: StackSecrets | undefined;
  const secrets = async () => (cached ??= (opts.secrets ?? (() => readSecrets(stack, root)))());
  // An inline key (the secret mirrorstack:sshPrivateKey) is needed before any host can be reached.
  const inlineKey = cfg.ssh.privateKeyInline ? (await secrets()).sshPrivateKey : undefined;
  const targets = new Map(cfg.hosts.map((h) => [h.name, targetFor(cfg, h, root, inlineKey)] as const));
  return contextOf(stack, cfg, targets, secrets);
}

/** An OpsContext from its parts: what `up` builds from the resolved config when it runs a switchover itself. */
export function contextOf(stack: string, cfg: StackConfig, targets: ReadonlyMap<string, SshTarget>, secrets: () => Promise<StackSecrets>): OpsContext {
  const host = (name: string) => {
    const h = cfg.hosts.find((x) => x.name === name);
    if (!h) throw new UsageError(`unknown host ${JSON.stringify(name)}: stack ${stack} has ${cfg.hosts.map((x) => x.name).join(", ")}`);
    return h;
  };
  return {
    stack,
    cfg,
    targets,
    engine: { flavour: cfg.database.flavour, version: cfg.database.version },
    secrets,
    host,
    target: (name) => {
      const t = targets.get(host(name).name);
      if (!t) throw new UsageError(`no SSH target for host ${name}`);
      return t;
    },
  };
}

/** Checks --hosts names against the stack; returns the host configs in stack order. */
export function selectHosts(ctx: OpsContext, names: readonly string[] | undefined, pool: readonly HostConfig[] = ctx.cfg.hosts): HostConfig[] {
  if (!names) return [...pool];
  for (const n of names) {
    ctx.host(n);
    if (!pool.some((h) => h.name === n)) throw new UsageError(`${n} is not one of the hosts this command works on (${pool.map((h) => h.name).join(", ")})`);
  }
  return pool.filter((h) => names.includes(h.name));
}
