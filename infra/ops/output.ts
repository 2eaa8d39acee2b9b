// Output helpers for mirrorctl: plain-text tables, monitoring levels and the result every command returns.

import type { HealthLevel } from "../replication/status";

/** What a command hands back to the CLI: the exit status, the text for people and the value for --json. */
export interface CommandResult {
  readonly exitCode: number;
  readonly text: string;
  readonly json: unknown;
}

export const LEVEL_RANK: Record<HealthLevel, number> = { OK: 0, WARNING: 1, CRITICAL: 2 };

/** The worse of levels (OK when none). */
export function worst(levels: Iterable<HealthLevel>): HealthLevel {
  let w: HealthLevel = "OK";
  for (const l of levels) if (LEVEL_RANK[l] > LEVEL_RANK[w]) w = l;
  return w;
}

/** Monitoring-plugin exit status of a level: 0 OK, 1 WARNING, 2 CRITICAL. */
export function levelExit(level: HealthLevel): number {
  return LEVEL_RANK[level];
}

/** A left-aligned text table; cells may hold newlines (continued on the next lines of the same column). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const split = rows.map((r) => headers.map((_, i) => String(r[i] ?? "").split("\n")));
  const widths = headers.map((h, i) => Math.max(h.length, ...split.map((r) => Math.max(...r[i]!.map((l) => l.length)))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [line(headers)];
  for (const r of split) {
    const height = Math.max(...r.map((c) => c.length));
    for (let k = 0; k < height; k++) out.push(line(r.map((c) => c[k] ?? "")));
  }
  return out.join("\n");
}

/** "3.2 GiB" style sizes. */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** "3m 20s" style durations from seconds. */
export function age(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d ${Math.floor((seconds % 86400) / 3600)}h`;
}

/** Indents every line of a block. */
export function indent(text: string, prefix = "  "): string {
  return text
    .replace(/\n$/, "")
    .split("\n")
    .map((l) => prefix + l)
    .join("\n");
}

/** Runs `fn` over `items` with at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}

/** The message of anything thrown. */
export function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
