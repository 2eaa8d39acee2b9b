// mirrorctl sync-now: one pull of the mirrored trees on each mirror now (/usr/local/sbin/mirrorstack-sync, the
// script cron runs), with progress, the lines the script logged for this run and the recorded result.

import { PATHS } from "../render/common";
import { pulledExports, pullsFiles } from "../render/sync";
import { UsageError, type Request } from "./args";
import { selectHosts, type OpsContext } from "./context";
import { parseKeyValues, run, section, shq } from "./hosts";
import { indent, mapLimit, type CommandResult } from "./output";
import { syncNote } from "./status";

/** The exit status sync-now asks the sync script for when it skipped (EX_TEMPFAIL; rsync's and the script's own codes differ). */
const SKIP_STATUS = 75;

export interface SyncRun {
  readonly host: string;
  readonly exitCode: number | null;
  readonly skipped: boolean;
  readonly seconds: number;
  readonly log: string;
  readonly status: Record<string, string>;
  readonly error?: string;
}

export async function syncNowCommand(ctx: OpsContext, req: Request, progress: (l: string) => void): Promise<CommandResult> {
  if (!pullsFiles(ctx.cfg)) {
    throw new UsageError(`file mirroring is ${syncNote(ctx.cfg) ?? "not configured"} in stack ${ctx.stack}: there is nothing to pull`);
  }
  const mirrors = selectHosts(ctx, req.hosts, ctx.cfg.mirrors);
  const nfs = pulledExports(ctx.cfg);
  const what =
    nfs.length > 0
      ? `copying ${nfs.map((e) => `${e.mount} to ${e.copyTo}`).join(", ")}`
      : `pulling ${ctx.cfg.files.trees.map((t) => t.path).join(", ")} from ${ctx.cfg.master.name}`;
  const log = `${PATHS.logDir}/sync.log`;
  const results = await mapLimit(mirrors, req.parallel, async (m): Promise<SyncRun> => {
    progress(`${m.name}: ${what} ...`);
    const t0 = Date.now();
    const r = await run(
      ctx.target(m.name),
      `log=${shq(log)}
s=$(stat -c %s "$log" 2>/dev/null || echo 0)
[ -x ${shq(PATHS.syncScript)} ] || { echo "${PATHS.syncScript} is not installed on $(hostname): run pulumi up for this stack" >&2; exit 3; }
MIRRORSTACK_SKIP_STATUS=${SKIP_STATUS} ${shq(PATHS.syncScript)}; rc=$?
echo "@@BEGIN log"; tail -c +$((s + 1)) "$log"; echo "@@END log"
echo "@@BEGIN status"; cat ${shq(PATHS.syncStatus)} 2>/dev/null; echo "@@END status"
exit $rc`,
    );
    const seconds = (Date.now() - t0) / 1000;
    if (r.unreachable) {
      progress(`${m.name}: unreachable`);
      return { host: m.name, exitCode: null, skipped: false, seconds, log: "", status: {}, error: r.stderr };
    }
    const logText = section(r.stdout, "log") ?? "";
    // By exit status: the log section may also hold a cron run's skip while this one ran.
    const skipped = r.code === SKIP_STATUS;
    progress(`${m.name}: ${skipped ? "skipped (a sync is already running)" : r.code === 0 ? "done" : `FAILED (exit ${r.code})`} in ${seconds.toFixed(1)}s`);
    return { host: m.name, exitCode: skipped ? 0 : r.code, skipped, seconds, log: logText, status: parseKeyValues(section(r.stdout, "status") ?? ""), ...(r.code !== 0 && !logText ? { error: r.stderr.trim() } : {}) };
  });
  const out: string[] = [];
  for (const s of results) {
    out.push(`=== ${s.host}: ${s.exitCode === null ? "unreachable" : s.skipped ? "skipped: a sync was already running" : s.exitCode === 0 ? "synced" : `FAILED (exit ${s.exitCode})`} (${s.seconds.toFixed(1)}s)`);
    if (s.log.trim()) out.push(indent(s.log.trim()));
    if (s.error) out.push(indent(s.error, "  ! "));
  }
  const ok = results.every((s) => s.exitCode === 0 && !s.skipped);
  out.push(ok ? `all ${results.length} mirror(s) synced` : "not every mirror synced");
  return { exitCode: ok ? 0 : 1, text: out.join("\n"), json: { stack: ctx.stack, ok, mirrors: results } };
}
