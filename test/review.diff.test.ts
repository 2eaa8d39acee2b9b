// The report's unified diff matches diff(1) -u hunk for hunk.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diffStat, splitLines, unifiedDiff } from "../infra/review/diff";

const dir = mkdtempSync(join(tmpdir(), "review-diff-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `diff -u` without its two header lines. */
function systemDiff(a: string, b: string): string {
  writeFileSync(join(dir, "a"), a);
  writeFileSync(join(dir, "b"), b);
  const r = spawnSync("diff", ["-u", join(dir, "a"), join(dir, "b")], { encoding: "utf8" });
  return r.stdout.split("\n").slice(2).join("\n");
}

/** A small deterministic pseudo-random generator (tests must not depend on Math.random). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("unifiedDiff", () => {
  it("is empty for equal texts", () => {
    expect(unifiedDiff("a\nb\n", "a\nb\n")).toBe("");
  });

  it("prints one hunk with 3 lines of context and the headers", () => {
    const a = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
    const b = a.replace("line 10\n", "line ten\n");
    expect(unifiedDiff(a, b, { labels: ["x (now)", "x (after up)"] })).toBe(
      ["--- x (now)", "+++ x (after up)", "@@ -7,7 +7,7 @@", " line 7", " line 8", " line 9", "-line 10", "+line ten", " line 11", " line 12", " line 13", ""].join("\n"),
    );
  });

  it("shows a new file as all added lines", () => {
    expect(unifiedDiff("", "a\nb\n")).toBe("@@ -0,0 +1,2 @@\n+a\n+b\n");
    expect(unifiedDiff("a\nb\n", "")).toBe("@@ -1,2 +0,0 @@\n-a\n-b\n");
  });

  it("matches diff -u on hand-picked cases", () => {
    const cases: [string, string][] = [
      ["a\nb\nc\n", "a\nc\n"],
      ["a\nb\nc\n", "a\nb\nc\nd\n"],
      ["x\na\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n", "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\nk\ny\n"],
      ["1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n", "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11\n12\nthirteen\n14\n15\n"],
      ["a\na\na\nb\n", "a\nb\na\na\n"],
    ];
    for (const [a, b] of cases) expect(unifiedDiff(a, b), JSON.stringify([a, b])).toBe(systemDiff(a, b));
  });

  it("matches diff -u on 200 random edits of a config-like file", () => {
    const next = rng(42);
    const words = ["server_id = 1", "port = 3306", "read_only = ON", "", "# comment", "[mysqld]", "log_bin = x", "sync_binlog = 1"];
    for (let n = 0; n < 200; n++) {
      const a = Array.from({ length: 5 + Math.floor(next() * 40) }, () => words[Math.floor(next() * words.length)]!);
      const b = a.flatMap((l) => {
        const r = next();
        if (r < 0.08) return [];
        if (r < 0.16) return [l, words[Math.floor(next() * words.length)]!];
        if (r < 0.22) return [`${l} changed`];
        return [l];
      });
      const at = `${a.join("\n")}\n`;
      const bt = `${b.join("\n")}\n`;
      // Where several shortest edit scripts exist, diff(1) and an LCS may pick different ones: compare what
      // matters, that applying the hunks to the old text gives the new one, and the line counts.
      const ours = unifiedDiff(at, bt);
      expect(applyUnified(at, ours), `case ${n}`).toBe(bt);
      const theirs = systemDiff(at, bt);
      expect(diffStat(ours), `case ${n}`).toEqual(diffStat(theirs));
    }
  });
});

/** Applies a unified diff (as unifiedDiff prints it) to a text. */
function applyUnified(text: string, diff: string): string {
  if (diff === "") return text;
  const src = splitLines(text);
  const out: string[] = [];
  let at = 0;
  for (const hunk of diff.split(/^(?=@@ )/m).filter((h) => h.startsWith("@@"))) {
    const m = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@/.exec(hunk)!;
    const start = Number(m[1]) - (m[2] === "0" ? 0 : 1);
    while (at < start) out.push(src[at++]!);
    for (const l of hunk.split("\n").slice(1)) {
      if (l.startsWith(" ")) {
        out.push(src[at++]!);
      } else if (l.startsWith("-")) {
        at++;
      } else if (l.startsWith("+")) {
        out.push(l.slice(1));
      }
    }
  }
  while (at < src.length) out.push(src[at++]!);
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}
