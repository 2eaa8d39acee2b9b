// renderStack: StackConfig -> the files mirrorstack owns on each host. Pure: no Pulumi, no SSH, no writes.

import { checkPublicKey, checkSecretText, SECRET_PLACEHOLDER } from "../config/checks";
import type { HostConfig, StackConfig } from "../config/types";
import { STACK_NAME_RE } from "./common";
import { renderJobFiles } from "./jobs";
import { renderMyCnf } from "./mysql";
import { renderNfsFiles } from "./nfs";
import { renderSyncFiles } from "./sync";
import type { HostPlan, RenderedFile } from "./types";

export type { HostPlan, RenderedFile, ServiceAction } from "./types";

export interface RenderOptions {
  /** Stack name, written into every file's header. */
  readonly stack: string;
  /** Secret values (the render CLI passes "[secret]" placeholders). */
  readonly secrets: { readonly replicationPassword: string; readonly backupPassphrase: string };
  /** OpenSSH public keys of the mirrors' sync keys, by mirror name; a missing one renders a placeholder comment. */
  readonly mirrorKeys?: Readonly<Record<string, string>>;
}

function checkOptions(cfg: StackConfig, opts: RenderOptions): void {
  if (!STACK_NAME_RE.test(opts.stack)) throw new Error(`stack name ${JSON.stringify(opts.stack)} may only hold letters, digits and . _ - (at most 100)`);
  if (opts.stack !== cfg.stack) throw new Error(`stack ${JSON.stringify(opts.stack)} does not match the config's stack ${JSON.stringify(cfg.stack)}`);
  const keys = opts.mirrorKeys ?? {};
  const names = new Set(cfg.mirrors.map((m) => m.name));
  for (const [name, key] of Object.entries(keys)) {
    if (!names.has(name)) throw new Error(`mirrorKeys: ${JSON.stringify(name)} is not a mirror of this stack`);
    const err = typeof key === "string" ? checkPublicKey(key) : "expected a string";
    if (err) throw new Error(`mirrorKeys.${name}: ${err}`);
  }
  if (cfg.backups.enabled) {
    const err = checkSecretText(opts.secrets.backupPassphrase, "the backup passphrase", 1);
    if (err) throw new Error(err);
  }
}

function filesFor(cfg: StackConfig, host: HostConfig, opts: RenderOptions): RenderedFile[] {
  const files: RenderedFile[] = [
    renderMyCnf(cfg, host),
    ...renderNfsFiles(cfg, host),
    ...renderSyncFiles(cfg, host, opts.mirrorKeys ?? {}),
    ...renderJobFiles(cfg, host, opts.secrets.backupPassphrase),
  ];
  const seen = new Set<string>();
  for (const f of files) {
    const id = `${f.kind}:${f.path}`;
    if (seen.has(id)) throw new Error(`internal: ${host.name} renders ${id} twice`);
    seen.add(id);
    if (f.secret && f.mode !== "0600" && f.mode !== "0400") throw new Error(`internal: secret file ${f.path} has mode ${f.mode}`);
  }
  return files;
}

/** Renders every file of every host, master first, files in apply order. */
export function renderStack(cfg: StackConfig, opts: RenderOptions): HostPlan[] {
  checkOptions(cfg, opts);
  return cfg.hosts.map((host) => ({
    host: host.name,
    role: host.role,
    address: host.address,
    files: filesFor(cfg, host, opts),
  }));
}

export { SECRET_PLACEHOLDER };
