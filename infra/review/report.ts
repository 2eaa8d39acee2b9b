// `pulumi preview --json` -> the Markdown review of a stack change. Pure: JSON (and policy results) in, text out.
//
// Secrets: values the engine masks ("[secret]") are never diffed or quoted; any property that is secret on either
// side (additionalSecretOutputs or a masked value) is reported as "[secret]" only; and every known secret value the
// caller passes (`secretValues`) is masked again in the final text, wherever it appears.

import type { Violation } from "./rules";
import { diffStat, splitLines, unifiedDiff } from "./diff";
import { APPLIED_LIVE, NO_OPTION_CHANGED } from "../render/live-settings";
import {
  hasUnknown,
  isSecretValue,
  NO_CHANGE_OPS,
  resourceChanges,
  SECRET_TEXT,
  type PreviewDoc,
  type Props,
  type ResourceChange,
} from "./preview";

export interface ReviewInput {
  /** Stack reviewed. */
  readonly stack: string;
  /** True when the engine's preview exited 0. */
  readonly previewOk: boolean;
  /** The engine's JSON (undefined when it printed none). */
  readonly preview?: PreviewDoc;
  /** What the engine printed besides JSON (shown when the preview failed). */
  readonly engineOutput?: string;
  /** Policy results over the resources after `up`; undefined when the rules did not run. */
  readonly violations?: readonly Violation[];
  /** Number of policy rules checked. */
  readonly rulesChecked?: number;
  /** Secret values to mask wherever they appear (decrypted stack secrets). */
  readonly secretValues?: readonly string[];
  /** Largest report (characters); diffs of new files, then long diffs, are shortened to fit. Default 60000. */
  readonly maxChars?: number;
}

/** The hidden marker that identifies mirrorstack's review comment of a stack on a pull request. */
export function commentMarker(stack: string): string {
  return `<!-- mirrorstack-review stack=${stack.replace(/[^A-Za-z0-9._/@-]/g, "_")} -->`;
}

// ------------------------------------------------------------------------------------------- model

interface ServiceAction {
  readonly service: string;
  readonly action: string;
  readonly because: string;
}

interface FileChange {
  readonly path: string;
  readonly kind: "whole" | "block";
  readonly op: string;
  /** Secret content: never diffed. */
  readonly secret: boolean;
  /** Content known only during `up`. */
  readonly unknown: boolean;
  readonly diff: string;
  readonly isNewFile: boolean;
  readonly meta: string[];
  readonly description: string;
  readonly actions: ServiceAction[];
  readonly newLines: number;
}

interface HostSection {
  readonly host: string;
  readonly address?: string;
  readonly files: FileChange[];
  readonly commands: { name: string; op: string; diff: string; note: string }[];
  readonly probes: string[];
}

interface ReplicationChange {
  readonly mirror: string;
  readonly headline: string;
  readonly details: string[];
}

/** A MasterRole update: the stack config names another master. */
interface Switchover {
  readonly from: string;
  readonly to: string;
  readonly others: string[];
  readonly deadlineSeconds: string;
}

interface Model {
  readonly switchover?: Switchover;
  readonly hosts: HostSection[];
  readonly replication: ReplicationChange[];
  readonly other: string[];
  readonly unchanged: number;
  readonly changedResources: number;
}

// ------------------------------------------------------------------------------------------- helpers

function obj(v: unknown): Props | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Props) : undefined;
}

function text(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function hostOf(p: Props | undefined): { host?: string; address?: string } {
  const t = obj(p?.target);
  return {
    ...(typeof t?.host === "string" ? { host: t.host } : {}),
    ...(typeof t?.address === "string" ? { address: t.address } : {}),
  };
}

/** A value as the report may show it: secrets and unknowns by name only. */
function shown(v: unknown, secret = false): string {
  if (secret || isSecretValue(v)) return SECRET_TEXT;
  if (v === undefined) return "(unset)";
  if (hasUnknown(v)) return "(known after up)";
  if (typeof v === "string") return v === "" ? '""' : v;
  return JSON.stringify(v);
}

const OP_WORD: Record<string, string> = {
  create: "new",
  update: "updated",
  replace: "replaced",
  "create-replacement": "replaced",
  delete: "removed",
  "delete-replaced": "removed",
  import: "imported",
};

/**
 * The action a word stands for. `settings` (a database option file) is what the provider's check decided for this
 * change (`applies`, infra/render/live-settings.ts): live, nothing, or a restart.
 */
function serviceAction(word: string, because: string, applies: unknown): ServiceAction | undefined {
  const i = word.indexOf(":");
  const service = i < 0 ? word : word.slice(0, i);
  const action = i < 0 ? "restart" : word.slice(i + 1);
  if (action !== "settings") return { service, action, because };
  if (typeof applies === "string" && applies.startsWith(APPLIED_LIVE)) return { service, action: "live", because };
  if (typeof applies === "string" && applies.startsWith(NO_OPTION_CHANGED)) return undefined;
  return { service, action: "restart", because };
}

function actionText(a: ServiceAction): string {
  switch (a.action) {
    case "exportfs":
      return "`exportfs -ra` (re-export)";
    case "remount":
      return "`mount -a` (remount)";
    case "live":
      return `\`${a.service}\` options applied live (SET GLOBAL), no restart`;
    default:
      return `\`${a.service}\` ${a.action}`;
  }
}

/** A fence longer than any backtick run in the text, so file contents cannot end the code block. */
function fence(body: string): string {
  let longest = 0;
  for (const m of body.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  return "`".repeat(Math.max(3, longest + 1));
}

function inlineCode(s: string): string {
  const f = s.includes("`") ? "``" : "`";
  return `${f}${f === "``" ? " " : ""}${s}${f === "``" ? " " : ""}${f}`;
}

function countLines(s: string): number {
  return splitLines(s).length;
}

// ------------------------------------------------------------------------------------------- build

function fileChange(r: ResourceChange): FileChange {
  const before = r.before;
  const after = r.after;
  const cur = after ?? before ?? {};
  const path = text(cur.path) ?? r.name;
  const kind = cur.kind === "block" ? "block" : "whole";
  const secret = r.secretKeys.has("content") || isSecretValue(before?.content) || isSecretValue(after?.content);
  const oldContent = r.op === "create" ? "" : text(before?.content) ?? "";
  const newContent = r.op === "delete" ? "" : text(after?.content) ?? "";
  const unknown = hasUnknown(after?.content);
  const meta: string[] = [];
  if (before && after) {
    for (const k of ["owner", "group", "mode"] as const) {
      if (before[k] !== after[k] && before[k] !== undefined) meta.push(`${k} ${shown(before[k])} → ${shown(after[k])}`);
    }
    if (before.path !== after.path && before.path !== undefined) meta.push(`path ${shown(before.path)} → ${shown(after.path)}`);
    if (before.kind !== after.kind && before.kind !== undefined) meta.push(`kind ${shown(before.kind)} → ${shown(after.kind)}`);
    const bh = hostOf(before).host;
    const ah = hostOf(after).host;
    if (bh !== undefined && bh !== ah) meta.push(`host ${bh} → ${ah ?? "?"}`);
  } else if (after && r.op === "create") {
    meta.push(`${shown(after.owner)}:${shown(after.group)} ${shown(after.mode)}`);
  }
  const contentChanges = r.op === "create" || r.op === "delete" || secret || unknown || oldContent !== newContent;
  let diff = "";
  if (!secret && !unknown && oldContent !== newContent) {
    diff = unifiedDiff(oldContent, newContent, { labels: [r.op === "create" ? "/dev/null" : `${path} (now)`, r.op === "delete" ? "/dev/null" : `${path} (after up)`] });
  }
  const actionWords = (r.op === "delete" ? before?.actions : after?.actions) ?? [];
  const actions = contentChanges && Array.isArray(actionWords) ? actionWords.filter((w): w is string => typeof w === "string").map((w) => serviceAction(w, path, after?.applies)).filter((a): a is ServiceAction => a !== undefined) : [];
  let description: string;
  if (kind === "block") {
    description =
      r.op === "delete"
        ? "managed block: mirrorstack's block is taken out of the file; the rest of the file stays as it is"
        : "managed block: only the lines between mirrorstack's BEGIN/END markers are written; the rest of the file stays as it is";
  } else if (r.op === "delete") {
    description = "no longer managed: the host's original file is put back (or the file is deleted if mirrorstack created it)";
  } else if (r.op === "create") {
    description = "new file (if the host already has one, it is kept aside and put back on destroy)";
  } else {
    description = "";
  }
  return {
    path,
    kind,
    op: r.op,
    secret,
    unknown,
    diff,
    isNewFile: r.op === "create",
    meta,
    description,
    actions,
    newLines: countLines(newContent),
  };
}

function replicationChange(r: ResourceChange, sw: Switchover | undefined): ReplicationChange {
  const cur = r.after ?? r.before ?? {};
  const mirror = text(obj(cur.mirror)?.host) ?? r.name.replace(/-replication$/, "");
  const master = text(obj(cur.master)?.host) ?? "the master";
  const account = (p: Props | undefined) => `'${shown(p?.user, r.secretKeys.has("user"))}'@'${shown(p?.mirrorAddress, r.secretKeys.has("mirrorAddress"))}'`;
  const dbs = (p: Props | undefined) => (Array.isArray(p?.databases) ? (p!.databases as unknown[]).map((d) => shown(d)).join(", ") : shown(p?.databases));
  const method = (p: Props | undefined) => (p?.method === "physical" ? "a mariabackup stream of the whole instance" : "a consistent logical dump");
  const grant = (p: Props | undefined) => `\`GRANT REPLICATION SLAVE ON *.* TO ${account(p)}\``;
  const changed: string[] = [];
  if (r.before && r.after) {
    const keys = new Set([...Object.keys(r.before), ...Object.keys(r.after)]);
    for (const k of [...keys].sort()) {
      if (k === "__provider" || k === "status" || k === "seed" || k === "master" || k === "mirror") continue;
      if (!(k in r.after)) continue;
      const secret = r.secretKeys.has(k);
      const a = r.before[k];
      const b = r.after[k];
      if (secret) {
        if (k === "password") continue; // reported as a rotation
        changed.push(`\`${k}\`: ${SECRET_TEXT}`);
      } else if (JSON.stringify(a) !== JSON.stringify(b)) {
        changed.push(`\`${k}\`: ${shown(a)} → ${shown(b)}`);
      }
    }
  }
  const masterBefore = text(obj(r.before?.master)?.host);
  if (sw && r.op === "create" && mirror === sw.from) {
    return {
      mirror,
      headline: `**old master** \`${mirror}\` becomes a mirror of \`${master}\`: no copy`,
      details: [`the switchover points it at \`${master}\` by GTID; \`up\` records that it replicates from \`${master}\` (were its binary log to hold transactions \`${master}\` lacks, it would be copied, and the reason recorded in the \`joined\` output)`],
    };
  }
  if (sw && (r.op === "delete" || r.op === "delete-replaced") && mirror === sw.to) {
    return { mirror, headline: `**promoted** \`${mirror}\`: it replicates from nobody now`, details: [`its replication record goes; the account ${account(r.before)} is dropped on \`${masterBefore ?? master}\` (left as it is if that host does not answer); no data is deleted`] };
  }
  if (r.op === "update" && masterBefore && masterBefore !== master) {
    return {
      mirror,
      headline: `**follows the new master** \`${master}\` (was \`${masterBefore}\`): no copy`,
      details: [
        `account ${account(r.after)} made on \`${master}\`; the mirror replicates from \`${master}\` by GTID (already, after the switchover), proven caught up. Only a mirror whose binary log holds transactions \`${master}\` lacks is copied, and the reason is recorded in the \`joined\` output`,
        ...changed,
      ],
    };
  }
  switch (r.op) {
    case "create":
      return {
        mirror,
        headline: `**new mirror** \`${mirror}\`: seeded from \`${master}\` and started`,
        details: [
          `account ${account(r.after)} created on \`${master}\` (password ${SECRET_TEXT}) with ${grant(r.after)}`,
          `copies ${dbs(r.after)} to \`${mirror}\` with ${method(r.after)}, starts replication at the copy's position and waits until it has caught up (at most ${shown(r.after?.catchUpTimeoutSeconds)} s)`,
        ],
      };
    case "replace":
    case "create-replacement": {
      const reasons = r.replaceReasons.length > 0 ? r.replaceReasons : ["(engine did not say)"];
      const userChanged = reasons.includes("user") || reasons.includes("mirrorAddress");
      return {
        mirror,
        headline: `**re-seed** of \`${mirror}\` (replace, because ${reasons.map((x) => `\`${x}\``).join(", ")} changed)`,
        details: [
          `replication on \`${mirror}\` is stopped and the account ${account(r.before)} is dropped on \`${master}\`; the mirror's data is then copied again from \`${master}\` (${dbs(r.after)}, ${method(r.after)}): the replicated databases on \`${mirror}\` are overwritten`,
          ...(userChanged ? [`grants: ${account(r.before)} dropped; ${account(r.after)} created with ${grant(r.after)}`] : [`grants: ${grant(r.after)} (account re-created)`]),
          ...changed,
        ],
      };
    }
    case "update":
      return {
        mirror,
        headline: `**password rotation** for \`${mirror}\``,
        details: [
          `\`ALTER USER ${account(r.after)}\` on \`${master}\` with the new password ${SECRET_TEXT}, then the mirror reconnects with it; no re-seed, grants unchanged`,
          ...changed,
        ],
      };
    case "delete":
    case "delete-replaced":
      return {
        mirror,
        headline: `**mirror removed** \`${mirror}\``,
        details: [`replication on \`${mirror}\` is stopped and the account ${account(r.before)} is dropped on \`${master}\`; no data is deleted`],
      };
    default:
      return { mirror, headline: `${r.op} of \`${mirror}\``, details: changed };
  }
}

function buildModel(doc: PreviewDoc): Model {
  const changes = resourceChanges(doc);
  const hosts = new Map<string, HostSection>();
  const section = (host: string, address?: string): HostSection => {
    let s = hosts.get(host);
    if (!s) {
      s = { host, ...(address ? { address } : {}), files: [], commands: [], probes: [] };
      hosts.set(host, s);
    }
    return s;
  };
  const replication: ReplicationChange[] = [];
  const other: string[] = [];
  let masterName: string | undefined;
  // The switchover first: the replication changes read differently under it.
  let switchover: Switchover | undefined;
  for (const r of changes) {
    const from = text(r.before?.master);
    const to = text(r.after?.master);
    if (r.kind === "MasterRole" && r.op === "update" && from && to && from !== to) {
      const cfg = obj(r.after?.cfg);
      const hostsOf = Array.isArray(cfg?.hosts) ? (cfg!.hosts as unknown[]).map((h) => text(obj(h)?.name)).filter((h): h is string => !!h) : [];
      switchover = { from, to, others: hostsOf.filter((h) => h !== from && h !== to), deadlineSeconds: shown(obj(cfg?.database)?.switchoverDeadlineSeconds) };
    }
  }
  let unchanged = 0;
  let changedResources = 0;
  for (const r of changes) {
    if (r.kind === "MirrorReplication") {
      const m = text(obj((r.after ?? r.before)?.master)?.host);
      if (m) masterName = m;
    }
    if (NO_CHANGE_OPS.has(r.op)) {
      if (r.kind !== "Stack" && r.kind !== "Component") unchanged++;
      continue;
    }
    if (r.kind === "Stack" || r.kind === "Component") continue;
    changedResources++;
    const { host, address } = hostOf(r.after ?? r.before);
    switch (r.kind) {
      case "HostFile":
        section(host ?? "(unknown host)", address).files.push(fileChange(r));
        break;
      case "MirrorReplication":
        replication.push(replicationChange(r, switchover));
        break;
      case "MasterRole":
        // Shown as the switchover section; a MasterRole made for the first time is bookkeeping.
        if (!switchover) other.push(`${OP_WORD[r.op] ?? r.op}: the stack's master record (\`${r.name}\`; touches no host)`);
        break;
      case "RemoteCommand": {
        const before = text(r.before?.create) ?? "";
        const after = text(r.after?.create) ?? "";
        const secret = r.secretKeys.has("create");
        const diff =
          secret || before === after || (r.op !== "update" && r.op !== "create" && r.op !== "replace")
            ? ""
            : unifiedDiff(r.op === "create" ? "" : before, after, { labels: [r.op === "create" ? "/dev/null" : `${r.name} (now)`, `${r.name} (after up)`] });
        const note =
          r.op === "create"
            ? "runs once during up"
            : r.op === "delete"
              ? "its delete script runs during up"
              : r.op === "update"
                ? secret || before === after
                  ? `runs again during up (${secret ? "script is secret" : "its stdin or update script changed"})`
                  : "runs again during up with the new script"
                : `${OP_WORD[r.op] ?? r.op}: runs again during up`;
        section(host ?? "(unknown host)", address).commands.push({ name: r.name, op: r.op, diff, note });
        break;
      }
      case "HostProbe": {
        const what = text(r.after?.what) ?? text(r.before?.what) ?? r.name;
        const verb = r.op === "delete" ? "stops reading" : r.op === "create" ? "reads" : "reads again";
        section(host ?? "(unknown host)", address).probes.push(`${verb} ${what} (over SSH, during up)`);
        break;
      }
      case "TlsCertificate": {
        // A host's certificate (signed by the stack's CA, installed and made live); the CA itself has no host.
        if (!host) {
          other.push(`${OP_WORD[r.op] ?? r.op}: \`${r.type}\` \`${r.name}\` (the stack's TLS CA)`);
          break;
        }
        const note = r.op === "delete" ? "stops managing the host's TLS certificate" : "signs the host's TLS certificate with the stack's CA, installs it and makes it live (no restart) during up";
        section(host, address).commands.push({ name: r.name, op: r.op, diff: "", note });
        break;
      }
      default:
        other.push(`${OP_WORD[r.op] ?? r.op}: \`${r.type}\` \`${r.name}\``);
    }
  }
  const order = [...hosts.values()].sort((a, b) => {
    if (a.host === masterName) return -1;
    if (b.host === masterName) return 1;
    return a.host.localeCompare(b.host, "en", { numeric: true });
  });
  return { ...(switchover ? { switchover } : {}), hosts: order, replication, other, unchanged, changedResources };
}

// ------------------------------------------------------------------------------------------- render

interface RenderLimits {
  /** Show the bodies of new files. */
  readonly newFileBodies: boolean;
  /** Longest diff shown, in lines (Infinity: all). */
  readonly maxDiffLines: number;
}

function renderDiff(body: string, limits: RenderLimits): string {
  let lines = body.replace(/\n$/, "").split("\n");
  let cut = "";
  if (lines.length > limits.maxDiffLines) {
    cut = `\n_(${lines.length - limits.maxDiffLines} more diff lines not shown: report size limit; run \`npm run review\` locally for all of it)_\n`;
    lines = lines.slice(0, limits.maxDiffLines);
  }
  const joined = lines.join("\n");
  const f = fence(joined);
  return `${f}diff\n${joined}\n${f}\n${cut}`;
}

function renderFile(f: FileChange, limits: RenderLimits): string {
  const stat = f.diff ? diffStat(f.diff) : undefined;
  const parts: string[] = [OP_WORD[f.op] ?? f.op];
  if (f.kind === "block") parts.push("managed block");
  if (stat && !f.isNewFile) parts.push(`−${stat.removed} +${stat.added} lines`);
  if (f.isNewFile && !f.secret && !f.unknown) parts.push(`${f.newLines} lines`);
  const out: string[] = [`#### ${inlineCode(f.path)} — ${parts.join(", ")}`, ""];
  if (f.description) out.push(`_${f.description}_`, "");
  if (f.meta.length > 0) out.push(`- ${f.meta.join("; ")}`);
  if (f.actions.length > 0) out.push(`- then: ${f.actions.map(actionText).join(", ")}`);
  if (f.meta.length > 0 || f.actions.length > 0) out.push("");
  if (f.secret) {
    out.push(`Content: ${SECRET_TEXT} (secret; not shown)`, "");
  } else if (f.unknown) {
    out.push("Content: known only during `up` (it depends on values read from the hosts)", "");
  } else if (f.diff) {
    if (f.isNewFile) {
      if (limits.newFileBodies) {
        out.push(`<details><summary>content of the new ${f.kind === "block" ? "block" : "file"}</summary>`, "", renderDiff(f.diff, limits), "</details>", "");
      } else {
        out.push(`_(content not shown: report size limit; run \`npm run review\` locally for all of it)_`, "");
      }
    } else {
      out.push(renderDiff(f.diff, limits));
    }
  } else if (f.op === "update") {
    out.push("Content: unchanged", "");
  }
  return out.join("\n");
}

function renderHost(h: HostSection, limits: RenderLimits): string {
  const out: string[] = [`### Host ${inlineCode(h.host)}${h.address ? ` (${h.address})` : ""}`, ""];
  const actions = h.files.flatMap((f) => f.actions);
  if (actions.length > 0) {
    const byAction = new Map<string, string[]>();
    for (const a of actions) byAction.set(actionText(a), [...(byAction.get(actionText(a)) ?? []), a.because]);
    out.push("**Services that would restart or reload:**", "");
    for (const [a, because] of byAction) out.push(`- ${a} — after ${[...new Set(because)].map(inlineCode).join(", ")}`);
    out.push("");
  }
  if (h.files.length > 0) {
    out.push(`**Files (${h.files.length}):**`, "");
    for (const f of h.files) out.push(renderFile(f, limits));
  }
  if (h.commands.length > 0) {
    out.push("**Commands:**", "");
    for (const c of h.commands) {
      out.push(`- ${inlineCode(c.name)} (${OP_WORD[c.op] ?? c.op}): ${c.note}`);
      if (c.diff && c.op === "create") {
        if (limits.newFileBodies) out.push("", "<details><summary>the script</summary>", "", renderDiff(c.diff, limits), "</details>", "");
      } else if (c.diff) {
        out.push("", renderDiff(c.diff, limits));
      }
    }
    out.push("");
  }
  if (h.probes.length > 0) {
    out.push("**Values read from the host:**", "");
    for (const p of h.probes) out.push(`- ${p}`);
    out.push("");
  }
  return out.join("\n");
}

function renderPolicy(input: ReviewInput): string {
  if (!input.violations) return "";
  const n = input.rulesChecked ?? 0;
  if (input.violations.length === 0) return `**Policy:** ${n} rules checked, no violations.\n`;
  const out = [`### Policy: ${input.violations.length} violation${input.violations.length === 1 ? "" : "s"} (${n} rules checked)`, ""];
  for (const v of input.violations) out.push(`- ❌ \`${v.policy}\` — host ${inlineCode(v.host || "-")}, key ${inlineCode(v.key)}: ${v.message}`);
  return out.join("\n") + "\n";
}

function diagnostics(doc: PreviewDoc | undefined, severity: string): string[] {
  return (doc?.diagnostics ?? [])
    .filter((d) => (d.severity ?? "info") === severity)
    .map((d) => d.message.replace(/^(error|warning): /, "").trim())
    .filter((m) => m !== "");
}

/**
 * Replaces every occurrence of the given secret values (4+ characters) with "[secret]"; a multi-line value (a key)
 * is also masked line by line (lines of 8+ characters), since a diff shows it one line at a time.
 */
export function maskSecrets(report: string, values: readonly string[] = []): string {
  let out = report;
  const all = values.flatMap((v) => (typeof v !== "string" ? [] : v.includes("\n") ? [v, ...v.split("\n").map((l) => l.trim()).filter((l) => l.length >= 8)] : [v]));
  const vals = [...new Set(all.filter((v) => v.length >= 4))].sort((a, b) => b.length - a.length);
  for (const v of vals) out = out.split(v).join(SECRET_TEXT);
  return out;
}

function summary(doc: PreviewDoc | undefined): string {
  const cs = doc?.changeSummary ?? {};
  const words: [string, string][] = [
    ["create", "to create"],
    ["update", "to update"],
    ["replace", "to replace"],
    ["delete", "to delete"],
    ["same", "unchanged"],
  ];
  return words
    .filter(([k]) => (cs[k] ?? 0) > 0)
    .map(([k, w]) => `${cs[k]} ${w}`)
    .join(", ");
}

function renderAll(input: ReviewInput, limits: RenderLimits): string {
  const stack = inlineCode(input.stack);
  const warnings = diagnostics(input.preview, "warning");
  if (!input.previewOk) {
    const errors = diagnostics(input.preview, "error");
    const extra = (input.engineOutput ?? "").trim();
    const body = [...errors, ...(errors.length === 0 && extra ? [extra] : [])].join("\n\n") || "(the engine printed no error message)";
    const f = fence(body);
    const out = [`## mirrorstack review of stack ${stack}: the preview failed`, "", "Nothing was changed. The engine reported:", "", `${f}\n${body}\n${f}`, ""];
    if (warnings.length > 0) out.push("**Warnings:**", "", ...warnings.map((w) => `- ${w}`), "");
    return out.join("\n");
  }
  const doc = input.preview ?? { steps: [] };
  const model = buildModel(doc);
  const violations = input.violations ?? [];
  if (model.changedResources === 0 && violations.length === 0) {
    // The engine's count (what `pulumi preview` prints), else ours.
    const n = doc.changeSummary?.same ?? model.unchanged;
    const policy = input.violations ? `; policy: ${input.rulesChecked ?? 0} rules checked, no violations` : "";
    const warn = warnings.length > 0 ? `; warnings: ${warnings.join(" / ").replace(/\s*\n\s*/g, " ")}` : "";
    return `No changes: stack ${stack} is up to date (${n} resources unchanged${policy}${warn}).\n`;
  }
  const files = model.hosts.reduce((n, h) => n + h.files.length, 0);
  const fileHosts = model.hosts.filter((h) => h.files.length > 0).length;
  const restarts = model.hosts.reduce((n, h) => n + h.files.reduce((m, f) => m + f.actions.length, 0), 0);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const headline =
    model.changedResources === 0
      ? `no changes, ${plural(violations.length, "policy violation")}`
      : [
          `${plural(files, "file")} on ${plural(fileHosts, "host")}`,
          plural(restarts, "service action"),
          plural(model.replication.length, "replication change"),
        ].join(", ") + (violations.length > 0 ? `, ${plural(violations.length, "policy violation")}` : "");
  const out: string[] = [`## mirrorstack review of stack ${stack}: ${headline}`, ""];
  out.push(`Preview: ${summary(doc) || "no resource counts"}. Secrets are shown as \`${SECRET_TEXT}\`.`, "");
  const policy = renderPolicy(input);
  if (violations.length > 0) out.push(policy);
  if (model.changedResources === 0) out.push("No changes to apply.", "");
  if (model.switchover) out.push(renderSwitchover(model.switchover));
  for (const h of model.hosts) out.push(renderHost(h, limits));
  if (model.replication.length > 0) {
    out.push("### Replication", "");
    for (const r of model.replication) {
      out.push(`- ${r.headline}`);
      for (const d of r.details) out.push(`  - ${d}`);
    }
    out.push("");
  }
  if (model.other.length > 0) out.push("### Other resources", "", ...model.other.map((o) => `- ${o}`), "");
  if (warnings.length > 0) out.push("### Warnings", "", ...warnings.map((w) => `- ${w.replace(/\n/g, " ")}`), "");
  if (violations.length === 0 && policy) out.push(policy);
  return out.join("\n").replace(/\n{3,}/g, "\n\n");
}

function renderSwitchover(sw: Switchover): string {
  const others = sw.others.map((o) => `\`${o}\``);
  const follow = [...others, `\`${sw.from}\``].join(", ");
  return [
    `### Switchover: \`${sw.from}\` → \`${sw.to}\``,
    "",
    `The stack config names \`${sw.to}\` as the master. Before any host's files change, \`up\` runs \`mirrorctl switchover --to ${sw.to}\`'s steps (nothing, if that was done already):`,
    "",
    `1. preflight: every host answers and runs with the server_id the config gives it; every mirror replicates from \`${sw.from}\` within the lag bound; no mirror holds transactions \`${sw.from}\` lacks (errant ones are named);`,
    `2. fence \`${sw.from}\`: read_only, a global read lock, its client sessions ended: **writes stop here**;`,
    `3. wait until \`${sw.to}\` has applied \`${sw.from}\`'s last transaction;`,
    `4. promote \`${sw.to}\`: replication reset, writable: **writes resume here** (the gap is recorded in the MasterRole's output);`,
    `5. point ${follow} at \`${sw.to}\` by GTID: no data is copied;`,
    `6. prove: a heartbeat written on \`${sw.to}\` reaches every host, and \`verify\` is equal.`,
    "",
    `Anything failing before step 4, or the deadline (${sw.deadlineSeconds} s) passing, undoes step 2: \`${sw.from}\` stays the master and writable, and \`up\` fails with the reason. Then each host's files follow the new roles (below): the database settings change at run time, file mirroring moves to \`${sw.to}\` as the source.`,
    "",
  ].join("\n");
}

/** The Markdown review of one preview. */
export function renderReview(input: ReviewInput): string {
  const max = input.maxChars ?? 60000;
  const attempts: RenderLimits[] = [
    { newFileBodies: true, maxDiffLines: Infinity },
    { newFileBodies: false, maxDiffLines: Infinity },
    { newFileBodies: false, maxDiffLines: 80 },
    { newFileBodies: false, maxDiffLines: 20 },
  ];
  let report = "";
  for (const limits of attempts) {
    report = maskSecrets(renderAll(input, limits), input.secretValues);
    if (report.length <= max) return report;
  }
  const note = "\n\n_(report cut at the size limit; run `npm run review` locally for all of it)_\n";
  let cut = report.slice(0, Math.max(0, max - note.length));
  // Do not leave a code fence open.
  const fences = cut.match(/^`{3,}/gm) ?? [];
  if (fences.length % 2 === 1) cut += `\n${fences[fences.length - 1]}`;
  return cut + note;
}

