// renderStack: StackConfig -> the files mirrorstack owns on each host. Pure: no Pulumi, no SSH, no writes.

import { SECRET_PLACEHOLDER } from "../config/checks";
import type { HostConfig, StackConfig } from "../config/types";
import { STACK_NAME_RE } from "./common";
import { renderJobFiles } from "./jobs";
import { renderMyCnf } from "./mysql";
import { renderNfsFiles } from "./nfs";
import { checkMirrorKeys, renderSyncFiles } from "./sync";
import { renderWebFiles } from "./web";
import type { AppliedBy, FileBody, HostPlan, RenderedFile, RenderSecrets } from "./types";

export type { AppliedBy, Completion, FileBody, HostPlan, RenderedFile, RenderSecrets, ServiceAction } from "./types";

export interface RenderOptions {
  /** Stack name, written into every file's header. */
  readonly stack: string;
  /** Secret values (the render CLI passes "[secret]" placeholders). */
  readonly secrets: RenderSecrets;
  /** OpenSSH public keys of the mirrors' sync keys, by mirror name; a missing one renders a placeholder comment. */
  readonly mirrorKeys?: Readonly<Record<string, string>>;
}

function checkOptions(cfg: StackConfig, opts: RenderOptions): void {
  if (!STACK_NAME_RE.test(opts.stack)) throw new Error(`stack name ${JSON.stringify(opts.stack)} may only hold letters, digits and . _ - (at most 100)`);
  if (opts.stack !== cfg.stack) throw new Error(`stack ${JSON.stringify(opts.stack)} does not match the config's stack ${JSON.stringify(cfg.stack)}`);
  checkMirrorKeys(cfg, opts.mirrorKeys ?? {});
}

function filesFor(cfg: StackConfig, host: HostConfig, opts: RenderOptions): RenderedFile[] {
  const by = (appliedBy: AppliedBy, bodies: readonly FileBody[]): RenderedFile[] => bodies.map((f) => ({ ...f, appliedBy }));
  const files: RenderedFile[] = [
    ...by("host", [renderMyCnf(cfg, host)]),
    // File mirroring's files wait for the mirrors' keys (rsync-ssh) or come before the NFS server starts.
    ...by("file-mirroring", [...renderNfsFiles(cfg, host), ...renderSyncFiles(cfg, host, opts.mirrorKeys ?? {})]),
    ...by("host", renderJobFiles(cfg, host, opts.secrets.backupPassphrase)),
    ...by("host", renderWebFiles(cfg, host)),
  ];
  const seen = new Set<string>();
  for (const f of files) {
    const id = `${f.kind}:${f.path}`;
    if (seen.has(id)) throw new Error(`internal: ${host.name} renders ${id} twice`);
    seen.add(id);
    if (f.secret && f.mode !== "0600" && f.mode !== "0400") throw new Error(`internal: secret file ${f.path} has mode ${f.mode}`);
    // The program renders with placeholders: a secret file without its completion would get one on the host.
    if (f.secret && f.completion?.needs !== "secrets") throw new Error(`internal: secret file ${f.path} has no completion with the secrets`);
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
