// Offline render: reads stacks/Pulumi.<stack>.yaml, validates it and writes every file mirrorstack would put on
// each host into <out>/<host>/<absolute path>, plus <out>/PLAN.md. No SSH, no Pulumi engine, no secrets
// (encrypted values render as "[secret]").
//
//   npm run render -- --stack staging --out render-out/staging [--file path/to/Pulumi.x.yaml]
//
// Exit status: 0 written, 2 bad arguments or bad config (one `mirrorstack:<key>: <problem>` line each), 1 other.

import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ConfigError, SECRET_PLACEHOLDER, loadStackConfig, stackFilePath } from "../config";
import type { StackConfig } from "../config/types";
import { renderStack } from "../render";
import { STACK_NAME_RE } from "../render/common";
import { renderBackupHostFiles } from "../render/push";
import type { HostPlan, FileBody } from "../render/types";
import { PROJECT_ROOT as ROOT } from "../paths";

/** Markers the apply layer writes around a managed block (infra/providers/hostfile-script.ts). */
const BLOCK_BEGIN = "# BEGIN mirrorstack managed block";
const BLOCK_END = "# END mirrorstack managed block";

/** A stack host's plan, or the backup host of backups.push (which is not a stack host). */
type RenderedHost = Omit<HostPlan, "role" | "files"> & { readonly role: HostPlan["role"] | "backup host"; readonly files: readonly FileBody[] };

interface Args {
  stack: string;
  out: string;
  file?: string;
}

function usage(msg: string): never {
  process.stderr.write(`${msg}\nusage: npm run render -- --stack <stack> --out <dir> [--file <stack file>]\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const a: Partial<Args> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const [name, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i] ?? usage(`${name} needs a value`);
    if (name === "--stack") a.stack = value();
    else if (name === "--out") a.out = value();
    else if (name === "--file") a.file = value();
    else if (name === "-h" || name === "--help") {
      // Asked for: usage on stdout, success.
      process.stdout.write("mirrorstack render: every file of every host, offline\nusage: npm run render -- --stack <stack> --out <dir> [--file <stack file>]\n");
      process.exit(0);
    }
    else usage(`unknown argument ${JSON.stringify(arg)}`);
  }
  if (!a.stack) usage("--stack is required");
  if (!a.out) usage("--out is required");
  if (!STACK_NAME_RE.test(a.stack)) usage(`bad stack name ${JSON.stringify(a.stack)}`);
  return a as Args;
}

/** Empties a previous render output (recognised by its PLAN.md); refuses other non-empty directories. */
function prepareOut(out: string): void {
  if (!existsSync(out)) {
    mkdirSync(out, { recursive: true });
    return;
  }
  const entries = readdirSync(out);
  if (entries.length === 0) return;
  if (!entries.includes("PLAN.md")) {
    throw new Error(`${out} is not empty and holds no PLAN.md from an earlier render; refusing to overwrite it`);
  }
  for (const e of entries) rmSync(join(out, e), { recursive: true, force: true });
}

function fileText(f: FileBody, plan: RenderedHost, stack: string): string {
  if (f.kind === "whole") return f.content;
  return (
    `# NOTE (render preview): on ${plan.host} mirrorstack manages only the block below inside ${f.path};\n` +
    `# the rest of that file stays as it is on the host.\n` +
    `${BLOCK_BEGIN} (stack ${stack})\n${f.content}${f.content.endsWith("\n") ? "" : "\n"}${BLOCK_END}\n`
  );
}

function planMarkdown(cfg: StackConfig, plans: readonly RenderedHost[], file: string): string {
  const lines = [
    `# Render of stack \`${cfg.stack}\``,
    "",
    `From \`${file}\`. Secrets are shown as \`${SECRET_PLACEHOLDER}\`; block files hold only mirrorstack's block.`,
    `Files mode: ${cfg.files.method}; database: ${cfg.database.flavour} ${cfg.database.version} ` +
      `(${cfg.database.databases.join(", ")}); backups: ${cfg.backups.enabled ? `on ${cfg.backups.host}${cfg.backups.push ? `, pushed to ${cfg.backups.push.name}` : ""}` : "off"}.`,
    "",
  ];
  if (cfg.warnings.length > 0) {
    lines.push("## Warnings", "", ...cfg.warnings.map((w) => `- ${w}`), "");
  }
  for (const p of plans) {
    lines.push(`## ${p.host} (${p.role}, ${p.address})`, "");
    lines.push("| Path | Kind | Owner | Mode | Secret | On change | Description |", "| --- | --- | --- | --- | --- | --- | --- |");
    for (const f of p.files) {
      const on = f.onChange.map((a) => `${a.service}:${a.action}`).join(", ") || "-";
      lines.push(
        `| [\`${f.path}\`](${p.host}${f.path}) | ${f.kind} | ${f.owner}:${f.group} | ${f.mode} | ${f.secret ? "yes" : "no"} | ${on} | ${f.description.replace(/\|/g, "\\|")} |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

export function main(argv: readonly string[]): number {
  const args = parseArgs(argv);
  const file = args.file ? resolve(args.file) : stackFilePath(ROOT, args.stack);
  let cfg: StackConfig;
  try {
    cfg = loadStackConfig(file, args.stack);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`stack ${args.stack}: ${e.issues.length} configuration problem(s) in ${file}\n`);
      for (const line of e.lines()) process.stderr.write(`${line}\n`);
      return 2;
    }
    throw e;
  }
  for (const w of cfg.warnings) process.stderr.write(`warning: ${w}\n`);
  const push = cfg.backups.enabled ? cfg.backups.push : undefined;
  const plans: RenderedHost[] = [
    ...renderStack(cfg, {
      stack: args.stack,
      secrets: { replicationPassword: SECRET_PLACEHOLDER, backupPassphrase: SECRET_PLACEHOLDER },
    }),
    // The taker's push key is made on first `up`; the render shows the key file without it.
    ...(push ? [{ host: push.name, role: "backup host" as const, address: push.address, files: renderBackupHostFiles(cfg, "") }] : []),
  ];
  const out = resolve(args.out);
  prepareOut(out);
  let count = 0;
  for (const p of plans) {
    for (const f of p.files) {
      const target = join(out, p.host, f.path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, fileText(f, p, args.stack), { mode: f.secret ? 0o600 : f.mode === "0755" ? 0o755 : 0o644 });
      count++;
    }
  }
  writeFileSync(join(out, "PLAN.md"), planMarkdown(cfg, plans, file));
  process.stdout.write(`rendered ${count} files for ${plans.length} hosts of stack ${args.stack} into ${out} (see PLAN.md)\n`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`render failed: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
