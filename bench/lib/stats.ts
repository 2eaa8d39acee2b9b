// Small statistics and reporting helpers shared by the benchmarks.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ROOT } from "./lab";
import type { WriterLog } from "./writer";

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const round = (x: number, digits = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);
export const MiB = 1024 * 1024;

/** The machine's load averages (1, 5, 15 min), as `uptime` shows them. */
export function load(): [number, number, number] {
  const [a, b, c] = os.loadavg();
  return [round(a, 2), round(b, 2), round(c, 2)];
}

/**
 * CPU seconds the whole machine has spent busy since boot (every core: user, nice, system, irq, softirq, steal from
 * /proc/stat, 100 ticks a second). The difference over a run is the work of mirrorstack and of every lab host on
 * the shared cores; divided by the core count it is the least wall time that work can take here.
 */
export function machineBusySeconds(): number {
  const cpu = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / 100;
}

/**
 * Waits (at most `maxSeconds`) until the machine's busy CPU, measured over one second, is below `cores` cores:
 * after a cold `up` of many hosts they go on working (and the 1-minute load average lags further still), which
 * a timed run of mirrorstack's own would otherwise share. Returns the seconds waited and the last rate.
 */
export async function waitMachineQuiet(maxSeconds = 30, cores = 0.5): Promise<{ seconds: number; busyCores: number }> {
  const t0 = performance.now();
  for (;;) {
    const b0 = machineBusySeconds();
    await new Promise((r) => setTimeout(r, 1000));
    const busyCores = round(machineBusySeconds() - b0, 2);
    const seconds = round((performance.now() - t0) / 1000, 1);
    if (busyCores < cores || seconds >= maxSeconds) return { seconds, busyCores };
  }
}

/** What the writer saw during [fromMs, toMs] (writer clock). */
export interface WriterWindow {
  seconds: number;
  completed: number;
  perSecondMedian: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  /** Whole seconds (from the window start) in which no transaction completed. */
  zeroSeconds: number[];
  /** Longest stretch without a completed transaction, and where it started (seconds from the window start). */
  longestGapMs: number;
  longestGapAtS: number;
  /** The three longest stretches without completions (ms, and start in seconds from the window start). */
  topGaps: { ms: number; atS: number }[];
  /**
   * The stretch without completions around the first lost session (e.g. the master's restart), and where it
   * started: from the last completion before the first failure to the first completion after it. 0 without failures.
   */
  cutMs: number;
  cutAtS: number;
  failures: number;
  failureSamples: string[];
  sessions: number;
}

export function writerWindow(log: WriterLog, fromMs: number, toMs: number): WriterWindow {
  const inside = log.completions.filter((c) => c.at >= fromMs && c.at <= toMs);
  const lat = inside.map((c) => c.ms);
  const seconds = Math.max(0, (toMs - fromMs) / 1000);
  const buckets = new Array(Math.floor(seconds)).fill(0) as number[];
  for (const c of inside) {
    const i = Math.floor((c.at - fromMs) / 1000);
    if (i < buckets.length) buckets[i]++;
  }
  const gaps: { ms: number; at: number }[] = [];
  let prev = fromMs;
  for (const at of [...inside.map((c) => c.at), toMs]) {
    gaps.push({ ms: at - prev, at: prev });
    prev = at;
  }
  gaps.sort((a, b) => b.ms - a.ms);
  const gap = gaps[0]?.ms ?? 0;
  const gapAt = gaps[0]?.at ?? fromMs;
  const failures = log.failures.filter((f) => f.at >= fromMs && f.at <= toMs);
  let cut = 0;
  let cutAt = 0;
  if (failures.length > 0) {
    const f = failures[0].at;
    let before = fromMs;
    for (const c of inside) if (c.at <= f) before = c.at;
    const after = inside.find((c) => c.at > f)?.at ?? toMs;
    cut = after - before;
    cutAt = before;
  }
  return {
    seconds: round(seconds, 1),
    completed: inside.length,
    perSecondMedian: median(buckets),
    latencyP50Ms: round(percentile(lat, 50), 1),
    latencyP99Ms: round(percentile(lat, 99), 1),
    latencyMaxMs: round(Math.max(0, ...lat), 1),
    zeroSeconds: buckets.flatMap((n, i) => (n === 0 ? [i] : [])),
    longestGapMs: Math.round(gap),
    longestGapAtS: round((gapAt - fromMs) / 1000, 1),
    topGaps: gaps.slice(0, 3).map((g) => ({ ms: Math.round(g.ms), atS: round((g.at - fromMs) / 1000, 1) })),
    cutMs: Math.round(cut),
    cutAtS: round((cutAt - fromMs) / 1000, 1),
    failures: failures.length,
    failureSamples: [...new Set(failures.map((f) => f.message.replace(/\s+/g, " ").slice(0, 160)))].slice(0, 4),
    sessions: log.sessions,
  };
}

/** A Markdown table. */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map((c) => String(c)).join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

/** The tree the numbers were measured on (others edit infra/ while benchmarks run). */
export function treeInfo(): { commit: string; dirtyFiles: number; infraDiffSha: string } {
  const git = (...a: string[]) => execFileSync("git", a, { cwd: ROOT, encoding: "utf8" }).trim();
  try {
    const commit = git("rev-parse", "--short", "HEAD");
    const dirty = git("status", "--porcelain").split("\n").filter(Boolean).length;
    const diff = execFileSync("git", ["diff", "HEAD", "--", "infra", "templates"], { cwd: ROOT });
    const sha = createHash("sha256").update(diff).digest("hex").slice(0, 12);
    return { commit, dirtyFiles: dirty, infraDiffSha: sha };
  } catch {
    return { commit: "unknown", dirtyFiles: -1, infraDiffSha: "" };
  }
}

/** Writes bench-results/<name>-<timestamp>.json and .md; returns the JSON path. */
export function writeResults(name: string, data: unknown, markdown: string): string {
  const dir = path.join(ROOT, "bench-results");
  fs.mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").replace(/-\d+Z$/, "Z");
  const base = path.join(dir, `${name}-${stamp}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(data, null, 2) + "\n");
  fs.writeFileSync(`${base}.md`, markdown + "\n");
  return `${base}.json`;
}

export function log(msg: string): void {
  const t = new Date().toISOString().slice(11, 19);
  console.log(`[bench ${t} load ${load()[0]}] ${msg}`);
}
