// mirrorctl drift: which managed files on which hosts differ from what mirrorstack renders for the stack now.
// Renders the stack (renderStack, the real secrets from the stack config, as `up` does), then has each host hash
// its managed files (whole files; for managed blocks only the lines between the markers) and report owner, group
// and mode. Only hashes travel back: no content is printed, and secret files are compared by hash like the rest.
// Exit 1 when anything differs. `pulumi up --refresh` puts the managed content back (a plain `up` compares with
// the last applied state, not with the hosts, so it does not see hand edits).

import { createHash } from "node:crypto";
import { checkPublicKey } from "../config/checks";
import { renderStack } from "../render";
import { PATHS } from "../render/common";
import { syncsFiles } from "../render/sync";
import type { FileBody } from "../render/types";
import type { Request } from "./args";
import { selectHosts, type OpsContext } from "./context";
import { run, shq } from "./hosts";
import { mapLimit, table, type CommandResult } from "./output";

/** What a host reported for one managed path. */
export type Observed = { readonly absent: true } | { readonly absent: false; readonly sha256: string; readonly owner: string; readonly group: string; readonly mode: string; readonly noBlock?: boolean };

export interface Drift {
  readonly path: string;
  readonly kind: "whole" | "block";
  readonly secret: boolean;
  /** missing, no-block, content, owner, group, mode */
  readonly problems: readonly string[];
}

const BEGIN = "# BEGIN mirrorstack managed block";
const END = "# END mirrorstack managed block";

/** The bytes the apply layer puts on the host for a rendered file (for a block: the lines between the markers). */
export function appliedText(f: FileBody): string {
  if (f.kind === "block" && f.content.length > 0 && !f.content.endsWith("\n")) return f.content + "\n";
  return f.content;
}

/** Mode the apply layer uses (MirrorHost forces 0600 on secret files that are not owner-only). */
export function appliedMode(f: FileBody): string {
  return f.secret && !/^0?[0-7]00$/.test(f.mode) ? "0600" : f.mode;
}

export function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Compares rendered files with what a host reported. Pure. */
export function compareDrift(files: readonly FileBody[], observed: ReadonlyMap<string, Observed>): Drift[] {
  const out: Drift[] = [];
  for (const f of files) {
    const o = observed.get(f.path);
    const problems: string[] = [];
    if (!o || o.absent) {
      problems.push("missing");
    } else if (o.noBlock) {
      problems.push("managed block missing");
    } else {
      if (o.sha256 !== sha256(appliedText(f))) problems.push("content differs");
      if (f.kind === "whole") {
        if (o.owner !== f.owner) problems.push(`owner ${o.owner} (want ${f.owner})`);
        if (o.group !== f.group) problems.push(`group ${o.group} (want ${f.group})`);
        const want = parseInt(appliedMode(f), 8);
        const have = parseInt(o.mode, 8);
        if (want !== have) problems.push(`mode ${have.toString(8).padStart(4, "0")} (want ${want.toString(8).padStart(4, "0")})`);
      }
    }
    if (problems.length > 0) out.push({ path: f.path, kind: f.kind, secret: f.secret, problems });
  }
  return out;
}

/** Host script: reads `kind<TAB>path` lines on stdin, prints `F<TAB>path<TAB>sha256|ABSENT|NOBLOCK<TAB>owner group mode`. */
export const DRIFT_SCRIPT = `set -u
while IFS=$'\\t' read -r kind p; do
  [ -n "$p" ] || continue
  if [ ! -e "$p" ]; then printf 'F\\t%s\\tABSENT\\t\\n' "$p"; continue; fi
  meta=$(stat -c '%U %G %a' "$p")
  if [ "$kind" = block ]; then
    if grep -q '^${BEGIN}' "$p"; then
      h=$(awk -v bp='${BEGIN}' -v el='${END}' 'index($0,bp)==1{on=1;next} on&&$0==el{on=0;next} on{print}' "$p" | sha256sum | cut -d' ' -f1)
    else
      h=NOBLOCK
    fi
  else
    h=$(sha256sum < "$p" | cut -d' ' -f1)
  fi
  printf 'F\\t%s\\t%s\\t%s\\n' "$p" "$h" "$meta"
done`;

export function parseDriftOutput(stdout: string): Map<string, Observed> {
  const m = new Map<string, Observed>();
  for (const line of stdout.split("\n")) {
    const f = line.split("\t");
    if (f[0] !== "F" || f.length < 3) continue;
    const path = f[1]!;
    if (f[2] === "ABSENT") {
      m.set(path, { absent: true });
      continue;
    }
    const [owner = "", group = "", mode = ""] = (f[3] ?? "").split(" ");
    m.set(path, f[2] === "NOBLOCK" ? { absent: false, sha256: "", owner, group, mode, noBlock: true } : { absent: false, sha256: f[2]!, owner, group, mode });
  }
  return m;
}

export interface HostDrift {
  readonly host: string;
  readonly files: number;
  readonly drift: readonly Drift[];
  readonly error?: string;
}

export function formatDrift(stack: string, hosts: readonly HostDrift[]): string {
  const rows: string[][] = [];
  for (const h of hosts) {
    if (h.error) rows.push([h.host, "-", `ERROR: ${h.error}`]);
    else if (h.drift.length === 0) rows.push([h.host, `(${h.files} managed files)`, "as rendered"]);
    for (const d of h.drift) rows.push([h.host, `${d.path}${d.kind === "block" ? " (block)" : ""}${d.secret ? " (secret: hashes only)" : ""}`, d.problems.join("; ")]);
  }
  const n = hosts.reduce((k, h) => k + h.drift.length, 0);
  const errs = hosts.filter((h) => h.error).length;
  const tail =
    n === 0 && errs === 0
      ? "no drift: every managed file is as rendered"
      : `${n} file(s) drifted${errs ? `, ${errs} host(s) not checked` : ""}; to put the managed content back: npm run pulumi -- up --refresh --stack ${stack}`;
  return `${table(["HOST", "PATH", "DIFFERS"], rows)}\n${tail}`;
}

/** The mirrors' public sync keys (`<syncKey>.pub`), by mirror name; mirrors without one (yet) are left out. */
export async function readMirrorKeys(ctx: OpsContext, parallel: number): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  await mapLimit(ctx.cfg.mirrors, parallel, async (m) => {
    const r = await run(ctx.target(m.name), `cat ${shq(`${PATHS.syncKey}.pub`)} 2>/dev/null || true`);
    const key = r.code === 0 ? r.stdout.trim() : "";
    if (key && !checkPublicKey(key)) out[m.name] = key;
  });
  return out;
}

export async function driftCommand(ctx: OpsContext, req: Request): Promise<CommandResult> {
  const hosts = selectHosts(ctx, req.hosts);
  const s = await ctx.secrets();
  // Rendered as `up` renders: the master's authorized_keys of the sync account holds the mirrors' public sync
  // keys, which only exist on the mirrors (infra/components/files.ts): read them from there.
  const mirrorKeys = syncsFiles(ctx.cfg) ? await readMirrorKeys(ctx, req.parallel) : {};
  const plans = renderStack(ctx.cfg, {
    stack: ctx.stack,
    secrets: { replicationPassword: s.replicationPassword, backupPassphrase: s.backupPassphrase },
    mirrorKeys,
  });
  const results = await mapLimit(hosts, req.parallel, async (h): Promise<HostDrift> => {
    const plan = plans.find((p) => p.host === h.name)!;
    const input = plan.files.map((f) => `${f.kind}\t${f.path}`).join("\n") + "\n";
    const r = await run(ctx.target(h.name), DRIFT_SCRIPT, input);
    if (r.code !== 0) return { host: h.name, files: plan.files.length, drift: [], error: r.stderr.trim().slice(0, 300) || `exit ${r.code}` };
    return { host: h.name, files: plan.files.length, drift: compareDrift(plan.files, parseDriftOutput(r.stdout)) };
  });
  const drifted = results.some((h) => h.error || h.drift.length > 0);
  return { exitCode: drifted ? 1 : 0, text: formatDrift(ctx.stack, results), json: { stack: ctx.stack, drifted, hosts: results } };
}
