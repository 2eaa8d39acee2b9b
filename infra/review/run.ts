// `npm run review`'s work, with the engine passed in: run the preview, read its JSON, apply the policy rules, render.
// The CLI (infra/cli/review.ts) only parses arguments, runs the engine through scripts/pulumi.sh and writes files.

import type { PolicyContext } from "./context";
import { parsePreviewJson, resourcesAfterUp, type PreviewDoc } from "./preview";
import { maskSecrets, renderReview } from "./report";
import { checkPolicies, RULES, type Violation } from "./rules";

export interface EngineResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the Pulumi CLI with these arguments (through scripts/pulumi.sh in the CLI). */
export type RunEngine = (args: readonly string[]) => EngineResult;

/** Exit statuses of `npm run review`. */
export const EXIT = { ok: 0, previewFailed: 1, usage: 2, policy: 3 } as const;

/**
 * The preview the review reads. --show-sames: unchanged resources too, so the policy sees the whole stack.
 * Never --show-secrets, never --refresh (a refresh would log in to every host; the diff itself is local).
 */
export function previewArgs(stack: string): string[] {
  return ["preview", "--diff", "--json", "--show-sames", "--non-interactive", "--stack", stack];
}

/** Decrypted values of the stack's secret config (to mask them in the report), from `pulumi config --json --show-secrets`. */
export function secretValuesFromConfigJson(text: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  const out: string[] = [];
  const leaves = (v: unknown) => {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) v.forEach(leaves);
    else if (v !== null && typeof v === "object") Object.values(v).forEach(leaves);
  };
  for (const entry of Object.values((doc ?? {}) as Record<string, { value?: unknown; objectValue?: unknown; secret?: boolean }>)) {
    if (!entry || entry.secret !== true) continue;
    leaves(entry.objectValue ?? entry.value);
    if (typeof entry.value === "string") {
      // A structured secret arrives as its JSON text: mask its parts too.
      try {
        leaves(JSON.parse(entry.value));
      } catch {
        /* plain string */
      }
    }
  }
  return out;
}

export interface ReviewOptions {
  readonly stack: string;
  readonly runEngine: RunEngine;
  /** Policy context of the stack; undefined: the policy rules are not applied. */
  readonly policy?: PolicyContext;
  /** Read the stack's secret values to mask them in the report (default true). */
  readonly maskConfigSecrets?: boolean;
  readonly maxChars?: number;
}

export interface ReviewResult {
  readonly report: string;
  readonly exitCode: number;
  readonly previewOk: boolean;
  readonly preview?: PreviewDoc;
  readonly violations: readonly Violation[];
  /** Problems of the review itself (not of the stack), for stderr. */
  readonly notes: readonly string[];
  /** Masks the stack's secret values in any other text the caller writes (e.g. the preview JSON). */
  readonly mask: (text: string) => string;
}

export function runReview(opts: ReviewOptions): ReviewResult {
  const notes: string[] = [];
  const res = opts.runEngine(previewArgs(opts.stack));
  let preview: PreviewDoc | undefined;
  if (res.stdout.trim() !== "") {
    try {
      preview = parsePreviewJson(res.stdout);
    } catch (e) {
      notes.push((e as Error).message);
    }
  }
  const errors = (preview?.diagnostics ?? []).filter((d) => d.severity === "error");
  const previewOk = res.code === 0 && preview !== undefined && errors.length === 0;
  let secretValues: string[] = [];
  if (opts.maskConfigSecrets !== false) {
    const cfg = opts.runEngine(["config", "--json", "--show-secrets", "--stack", opts.stack]);
    if (cfg.code === 0) secretValues = secretValuesFromConfigJson(cfg.stdout);
    else notes.push(`could not read the stack's secrets to mask them (the engine's own masking still applies): ${cfg.stderr.trim().split("\n")[0] ?? ""}`);
  }
  const violations = previewOk && preview && opts.policy ? checkPolicies(resourcesAfterUp(preview), opts.policy) : [];
  const engineOutput = [res.stderr.trim(), preview ? "" : res.stdout.trim()].filter((s) => s !== "").join("\n");
  const report = renderReview({
    stack: opts.stack,
    previewOk,
    ...(preview ? { preview } : {}),
    ...(engineOutput ? { engineOutput } : {}),
    ...(previewOk && opts.policy ? { violations, rulesChecked: RULES.length } : {}),
    secretValues,
    ...(opts.maxChars !== undefined ? { maxChars: opts.maxChars } : {}),
  });
  const exitCode = !previewOk ? EXIT.previewFailed : violations.length > 0 ? EXIT.policy : EXIT.ok;
  return { report, exitCode, previewOk, ...(preview ? { preview } : {}), violations, notes, mask: (t) => maskSecrets(t, [...secretValues, ...secretValues.map((v) => JSON.stringify(v).slice(1, -1))]) };
}
