// Line-based unified diff (the format of `diff -u`), written for the review report. Pure.

type Op = { t: " " | "-" | "+"; line: string };

/** Splits text into lines; a trailing newline does not make an extra empty line. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Shortest edit script between two line lists (LCS over the part between a common prefix and suffix). */
function editScript(a: readonly string[], b: readonly string[]): Op[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const x = a.slice(pre, a.length - suf);
  const y = b.slice(pre, b.length - suf);
  const n = x.length;
  const m = y.length;
  // lcs[i][j] = length of the LCS of x[i..] and y[j..]
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = a.slice(0, pre).map((line) => ({ t: " ", line }));
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      ops.push({ t: " ", line: x[i]! });
      i++;
      j++;
    } else if (j === m || (i < n && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Deletions before insertions inside a change, as diff(1) prints them.
      ops.push({ t: "-", line: x[i]! });
      i++;
    } else {
      ops.push({ t: "+", line: y[j]! });
      j++;
    }
  }
  for (const line of a.slice(a.length - suf)) ops.push({ t: " ", line });
  return ops;
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
  const ctx = opts.context ?? 3;
  const a = splitLines(oldText);
  const b = splitLines(newText);
  const ops = editScript(a, b);
  // Old/new line numbers (1-based) of each op.
  const pos: { ai: number; bi: number }[] = [];
  let ai = 1;
  let bi = 1;
  for (const op of ops) {
    pos.push({ ai, bi });
    if (op.t !== "+") ai++;
    if (op.t !== "-") bi++;
  }
  const changed = ops.map((op, k) => (op.t !== " " ? k : -1)).filter((k) => k >= 0);
  const out: string[] = [];
  if (opts.labels) out.push(`--- ${opts.labels[0]}`, `+++ ${opts.labels[1]}`);
  let h = 0;
  while (h < changed.length) {
    const start = Math.max(0, changed[h]! - ctx);
    let end = Math.min(ops.length - 1, changed[h]! + ctx);
    let next = h + 1;
    while (next < changed.length && changed[next]! - ctx <= end + 1) {
      end = Math.min(ops.length - 1, changed[next]! + ctx);
      next++;
    }
    const slice = ops.slice(start, end + 1);
    const oldCount = slice.filter((o) => o.t !== "+").length;
    const newCount = slice.filter((o) => o.t !== "-").length;
    const oldStart = oldCount === 0 ? pos[start]!.ai - 1 : pos[start]!.ai;
    const newStart = newCount === 0 ? pos[start]!.bi - 1 : pos[start]!.bi;
    const range = (s: number, c: number) => (c === 1 ? `${s}` : `${s},${c}`);
    out.push(`@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@`);
    for (const o of slice) out.push(`${o.t}${o.line}`);
    h = next;
  }
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
