// Replica position reports: the master's binlog purge job (mirrorstack-binlog-purge, run by cron on the master)
// cannot ask the mirrors for their applied position itself (the master has no way into the mirrors, by design).
// So every `mirrorctl status` and `mirrorctl purge-binlogs` run, which reads each mirror's status anyway, leaves
// one small file per mirror on the master:
//
//   /var/lib/mirrorstack/replica-positions/<mirror>
//     reported=<epoch> io_running=Yes|No sql_running=Yes|No exec_file=<source binlog> exec_pos=<n> source_host=<addr>
//
// A report only ever understates how far a mirror has got (applied positions only move forward), so purging up to
// the oldest reported file is safe however old the reports are. A mirror with no report, or whose last report says
// a thread was stopped, makes the job refuse. Unreachable mirrors keep their previous report.

import { POSITIONS_DIR } from "../render/jobs";
import type { ReplicaStatus } from "../replication/status";
import type { OpsContext } from "./context";
import { run, shq } from "./hosts";

export { POSITIONS_DIR };

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

/** Writes the reports of the mirrors whose status was read; returns an error text instead of throwing. */
export async function writePositionReports(
  ctx: OpsContext,
  statuses: readonly { readonly host: string; readonly role: string; readonly replication: ReplicaStatus | null }[],
): Promise<string | undefined> {
  const known = statuses.filter((s) => s.role === "mirror" && s.replication);
  if (known.length === 0) return undefined;
  const lines = [`set -eu`, `umask 077`, `d=${shq(POSITIONS_DIR)}`, `mkdir -p "$d"`];
  for (const s of known) {
    lines.push(`printf '%s' ${shq(positionReport(s.host, s.replication!))} > "$d/.${s.host}.tmp"`, `mv -f "$d/.${s.host}.tmp" "$d/${s.host}"`);
  }
  const r = await run(ctx.target(ctx.cfg.master.name), lines.join("\n"));
  return r.code === 0 ? undefined : `could not record the mirrors' positions on ${ctx.cfg.master.name} for the binlog purge job: ${r.stderr.trim().slice(0, 300)}`;
}
