// mirrorctl purge-binlogs [--dry-run | --record-only]: purges the master's binary logs up to the oldest one any
// mirror still needs (decidePurge in infra/replication/purge.ts: the smallest executed source log over all mirrors).
// Refuses, and purges nothing, when any mirror is unreachable, not configured or has a stopped thread. It is also
// the one writer of the position reports the master's cron purge job reads (positions.ts): every run but a dry run
// records each readable mirror's position; --record-only does only that, for an operator to schedule.

import { dialect } from "../replication/dialect";
import { decidePurge, type MirrorReport, type PurgeDecision } from "../replication/purge";
import { normalizeBinaryLogs, normalizeReplicaStatus, ReplicationNotConfiguredError, type BinaryLog } from "../replication/status";
import type { Request } from "./args";
import type { OpsContext } from "./context";
import { withDb } from "./hosts";
import { bytes, errMsg, mapLimit, type CommandResult } from "./output";
import { writePositionReports } from "./positions";

export async function gatherMirrorReports(ctx: OpsContext, parallel: number): Promise<MirrorReport[]> {
  const d = dialect(ctx.engine);
  return mapLimit(ctx.cfg.mirrors, parallel, async (m): Promise<MirrorReport> => {
    try {
      const status = await withDb(ctx.target(m.name), ctx.cfg, async (db) => normalizeReplicaStatus(await db.query(d.showReplicaStatus()), m.name));
      return { name: m.name, status };
    } catch (e) {
      if (e instanceof ReplicationNotConfiguredError) return { name: m.name, status: "not-configured" };
      return { name: m.name, status: "unreachable", detail: errMsg(e).replace(/^\[[^\]]*\] /, "").slice(0, 300) };
    }
  });
}

function mirrorsJson(mirrors: readonly MirrorReport[]) {
  return mirrors.map((m) => ({ name: m.name, status: typeof m.status === "object" ? { execFile: m.status.execFile, execPos: m.status.execPos, ioRunning: m.status.ioRunning, sqlRunning: m.status.sqlRunning } : m.status, detail: m.detail }));
}

export function formatDecision(binlogs: readonly BinaryLog[], decision: PurgeDecision, dryRun: boolean, purged: boolean): string {
  const lines = [`master binary logs: ${binlogs.length} (${bytes(binlogs.reduce((n, b) => n + b.size, 0))}): ${binlogs.map((b) => b.name).join(", ")}`];
  if (!decision.ok) {
    lines.push("REFUSED: nothing purged");
    for (const r of decision.refusals) lines.push(`  ${r.reason}`);
    return lines.join("\n");
  }
  lines.push(decision.message);
  if (decision.purgeTo) lines.push(dryRun ? `dry run: would run PURGE BINARY LOGS TO '${decision.purgeTo}'` : purged ? `purged: PURGE BINARY LOGS TO '${decision.purgeTo}' done` : "not purged");
  return lines.join("\n");
}

/** The --record-only result: which mirrors' positions were recorded on the master and which kept their previous report. */
export function formatRecorded(master: string, mirrors: readonly MirrorReport[], writeError: string | undefined): { exitCode: number; text: string } {
  const recorded = mirrors.filter((m) => typeof m.status === "object");
  const lines: string[] = [];
  if (writeError) lines.push(`FAILED: ${writeError}`);
  else if (recorded.length > 0) lines.push(`recorded on ${master} for the binlog purge job: ${recorded.map((m) => (typeof m.status === "object" ? `${m.name} ${m.status.execFile ?? "-"}:${m.status.execPos ?? "?"}${m.status.ioRunning && m.status.sqlRunning ? "" : " (replication stopped: the job will refuse)"}` : m.name)).join(", ")}`);
  for (const m of mirrors) {
    if (typeof m.status !== "object") lines.push(`not recorded: ${m.name}: ${m.status === "not-configured" ? "replication not configured" : `unreachable${m.detail ? ` (${m.detail})` : ""}`}; its previous report, if any, stays`);
  }
  lines.push("nothing purged (--record-only)");
  return { exitCode: writeError || recorded.length < mirrors.length ? 1 : 0, text: lines.join("\n") };
}

export async function purgeCommand(ctx: OpsContext, req: Request): Promise<CommandResult> {
  const d = dialect(ctx.engine);
  const mirrors = await gatherMirrorReports(ctx, req.parallel);
  // A dry run changes nothing, reports included; every other run leaves the positions it read for the cron job.
  const writeError = req.dryRun
    ? undefined
    : await writePositionReports(
        ctx,
        mirrors.map((m) => ({ host: m.name, role: "mirror", replication: typeof m.status === "object" ? m.status : null })),
      );
  if (req.recordOnly) {
    const r = formatRecorded(ctx.cfg.master.name, mirrors, writeError);
    return { ...r, json: { stack: ctx.stack, recordOnly: true, recorded: !writeError, mirrors: mirrorsJson(mirrors), ...(writeError ? { error: writeError } : {}) } };
  }
  return withDb(ctx.target(ctx.cfg.master.name), ctx.cfg, async (master) => {
    const binlogs = normalizeBinaryLogs(await master.query(d.showBinaryLogs()));
    const decision = decidePurge({ binlogs, mirrors, expectedSourceHost: ctx.cfg.master.address });
    let purged = false;
    if (decision.ok && decision.purgeTo && !req.dryRun) {
      await master.query(d.purgeBinaryLogsTo(decision.purgeTo));
      purged = true;
    }
    const after = purged ? normalizeBinaryLogs(await master.query(d.showBinaryLogs())) : binlogs;
    return {
      exitCode: decision.ok ? 0 : 1,
      text:
        formatDecision(binlogs, decision, req.dryRun, purged) +
        (purged ? `\nbinary logs now: ${after.map((b) => b.name).join(", ")}` : "") +
        (writeError ? `\nnote: ${writeError}` : ""),
      json: { stack: ctx.stack, dryRun: req.dryRun, decision, purged, binlogsBefore: binlogs, binlogsAfter: after, mirrors: mirrorsJson(mirrors), ...(writeError ? { recordError: writeError } : {}) },
    };
  });
}
