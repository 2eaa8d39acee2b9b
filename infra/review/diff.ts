// Line-based unified diff (the format of `diff -u`) for the review report, from jsdiff's hunks. Pure.

import { structuredPatch } from "diff";

/** Splits text into lines; a trailing newline does not make an extra empty line. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

export interface UnifiedDiffOptions {
  /** Lines of context around each change (default 3). */
  readonly context?: number;
  /** Labels of the two sides (`--- a`, `+++ b`); no header lines when omitted. */
  readonly labels?: readonly [string, string];
}

/** Unified diff of two texts; "" when they are equal. */
export function unifiedDiff(oldText: string, newText: string, opts: UnifiedDiffOptions = {}): string {
  if (oldText === newText) return "";
  // Both sides end with a newline for jsdiff, so its hunks hold no "\ No newline at end of file" lines: the report
  // says it once, below, when only one side lacks it.
  const eol = (t: string) => (t === "" || t.endsWith("\n") ? t : `${t}\n`);
  const patch = structuredPatch("", "", eol(oldText), eol(newText), undefined, undefined, { context: opts.context ?? 3 });
  const out: string[] = [];
  if (opts.labels) out.push(`--- ${opts.labels[0]}`, `+++ ${opts.labels[1]}`);
  // As diff -u writes a range: a count of 1 is left out; an empty side starts at the line before it.
  const range = (start: number, count: number) => (count === 1 ? `${start}` : `${count === 0 ? start - 1 : start},${count}`);
  for (const h of patch.hunks) out.push(`@@ -${range(h.oldStart, h.oldLines)} +${range(h.newStart, h.newLines)} @@`, ...h.lines);
  const noEol = (t: string) => t !== "" && !t.endsWith("\n");
  if (noEol(oldText) !== noEol(newText)) out.push("\\ No newline at end of file (one side)");
  return out.join("\n") + "\n";
}

/** Counts of removed and added lines of a unified diff. */
export function diffStat(diff: string): { removed: number; added: number } {
  let removed = 0;
  let added = 0;
  for (const l of diff.split("\n")) {
    if (l.startsWith("---") || l.startsWith("+++")) continue;
    if (l.startsWith("-")) removed++;
    else if (l.startsWith("+")) added++;
  }
  return { removed, added };
}
