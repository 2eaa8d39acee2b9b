// Replica position reports: the master's binlog purge job (mirrorstack-binlog-purge, run by cron on the master)
// cannot ask the mirrors for their applied position itself (the master has no way into the mirrors, by design).
// So `mirrorctl purge-binlogs`, which reads each mirror's status anyway, leaves one small file per mirror on the
// master; `mirrorctl purge-binlogs --record-only` does only that (no purge), for an operator to schedule:
//
//   /var/lib/mirrorstack/replica-positions/<mirror>
//     reported=<epoch> io_running=Yes|No sql_running=Yes|No exec_file=<source binlog> exec_pos=<n> source_host=<addr>
//
// That is the only writer. Read-only commands (`mirrorctl status` and the others) write nothing: `status` only
// reads the reports' age (readReportsScript) and says when one is missing or old.
//
// A report only ever understates how far a mirror has got (applied positions only move forward), so purging up to
// the oldest reported file is safe however old the reports are. A mirror with no report, or whose last report says
// a thread was stopped, makes the job refuse. Unreachable mirrors keep their previous report.

import { POSITIONS_DIR } from "../render/jobs";
import type { ReplicaStatus } from "../replication/status";
import type { OpsContext } from "./context";
import { run, shq } from "./hosts";
import { age } from "./output";

export { POSITIONS_DIR };

/** A report older than this is called old by `status`: the purge job (daily by default) then works from stale positions and purges less. */
export const REPORT_OLD_SECONDS = 24 * 3600;

/** The command that records the reports without purging (what `status` and the purge job point to). */
export const RECORD_COMMAND = "mirrorctl purge-binlogs --record-only";

/** The report text for one mirror. */
export function positionReport(mirror: string, s: ReplicaStatus, now = Math.floor(Date.now() / 1000)): string {
  const clean = (v: string | null) => (v ?? "").replace(/[^A-Za-z0-9._:-]/g, "");
  return [
    `reported=${now}`,
    `mirror=${mirror}`,
    `io_running=${s.ioRunning ? "Yes" : "No"}`,
    `sql_running=${s.sqlRunning ? "Yes" : "No"}`,
    `exec_file=${clean(s.execFile)}`,
    `exec_pos=${s.execPos ?? ""}`,
    `source_host=${clean(s.sourceHost)}`,
    "",
  ].join("\n");
}

/** The script that writes the reports of the mirrors whose status was read (run on the master). */
export function writeReportsScript(statuses: readonly { readonly host: string; readonly replication: ReplicaStatus }[], now?: number): string {
  const lines = [`set -eu`, `umask 077`, `d=${shq(POSITIONS_DIR)}`, `mkdir -p "$d"`];
  for (const s of statuses) {
    lines.push(`printf '%s' ${shq(positionReport(s.host, s.replication, now))} > "$d/.${s.host}.tmp"`, `mv -f "$d/.${s.host}.tmp" "$d/${s.host}"`);
  }
  return lines.join("\n");
}

/** Writes the reports of the mirrors whose status was read; returns an error text instead of throwing. Only `purge-binlogs` calls this. */
export async function writePositionReports(
  ctx: OpsContext,
  statuses: readonly { readonly host: string; readonly role: string; readonly replication: ReplicaStatus | null }[],
): Promise<string | undefined> {
  const known = statuses.flatMap((s) => (s.role === "mirror" && s.replication ? [{ host: s.host, replication: s.replication }] : []));
  if (known.length === 0) return undefined;
  const r = await run(ctx.target(ctx.cfg.master.name), writeReportsScript(known));
  return r.code === 0 ? undefined : `could not record the mirrors' positions on ${ctx.cfg.master.name} for the binlog purge job: ${r.stderr.trim().slice(0, 300)}`;
}

/** One mirror's report as `status` sees it: its age on the master's clock, null when there is none. */
export interface ReportAge {
  readonly mirror: string;
  readonly ageSeconds: number | null;
}

/** Shell lines (read only) that print `R<TAB>mirror<TAB>reported` per mirror and `now=<epoch>` on the master. */
export function readReportsScript(mirrors: readonly string[]): string {
  if (mirrors.length === 0) return `echo "now=$(date +%s)"`;
  return `for m in ${mirrors.map(shq).join(" ")}; do
  printf 'R\\t%s\\t%s\\n' "$m" "$(sed -n 's/^reported=//p' ${shq(POSITIONS_DIR)}/"$m" 2>/dev/null | head -n 1)"
done
echo "now=$(date +%s)"`;
}

/** Parses readReportsScript output; a mirror without a readable report gets ageSeconds null. */
export function parseReportAges(stdout: string, mirrors: readonly string[]): ReportAge[] {
  const reported = new Map<string, number>();
  let now: number | undefined;
  for (const line of stdout.split("\n")) {
    const f = line.split("\t");
    if (f[0] === "R" && f.length >= 3 && /^\d+$/.test(f[2]!)) reported.set(f[1]!, Number(f[2]));
    const m = /^now=(\d+)$/.exec(line);
    if (m) now = Number(m[1]);
  }
  const clock = now ?? Math.floor(Date.now() / 1000);
  return mirrors.map((mirror) => {
    const t = reported.get(mirror);
    return { mirror, ageSeconds: t === undefined ? null : Math.max(0, clock - t) };
  });
}

/** The status line about the reports: where they come from, each mirror's age, and what to run when one is missing or old. */
export function describeReports(stack: string, master: string, reports: readonly ReportAge[]): string | undefined {
  if (reports.length === 0) return undefined;
  const missing = reports.filter((r) => r.ageSeconds === null);
  const old = reports.filter((r) => r.ageSeconds !== null && r.ageSeconds > REPORT_OLD_SECONDS);
  const each = reports.map((r) => `${r.mirror} ${r.ageSeconds === null ? "none" : `${age(r.ageSeconds)} ago${r.ageSeconds > REPORT_OLD_SECONDS ? " (old)" : ""}`}`).join(", ");
  const line = `binlog purge job on ${master}: mirror positions as recorded by mirrorctl purge-binlogs: ${each}`;
  if (missing.length === 0 && old.length === 0) return line;
  const why = missing.length > 0 ? "the job refuses to purge without a report for every mirror" : "the job purges only up to the oldest report";
  return `${line}\nnote: ${why}; record the positions with \`${RECORD_COMMAND} --stack ${stack}\` (schedule it, e.g. hourly)`;
}
