// mirrorctl purge-binlogs [--dry-run]: purges the master's binary logs up to the oldest one any mirror still needs
// (decidePurge in infra/replication/purge.ts: the smallest executed source log over all mirrors). Refuses, and
// purges nothing, when any mirror is unreachable, not configured or has a stopped thread. Also records each
// mirror's position on the master for the cron job (positions.ts).

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

export async function purgeCommand(ctx: OpsContext, req: Request): Promise<CommandResult> {
  const d = dialect(ctx.engine);
  const mirrors = await gatherMirrorReports(ctx, req.parallel);
  await writePositionReports(
    ctx,
    mirrors.map((m) => ({ host: m.name, role: "mirror", replication: typeof m.status === "object" ? m.status : null })),
  );
  return withDb(ctx.target(ctx.cfg.master.name), ctx.cfg, async (master) => {
    const binlogs = normalizeBinaryLogs(await master.query(d.showBinaryLogs()));
    const decision = decidePurge({ binlogs, mirrors, expectedSourceHost: ctx.cfg.master.address });
    let purged = false;
    if (decision.ok && decision.purgeTo && !req.dryRun) {
      await master.query(d.purgeBinaryLogsTo(decision.purgeTo));
      purged = true;
    }
    const after = purged ? normalizeBinaryLogs(await master.query(d.showBinaryLogs())) : binlogs;
    const mirrorsJson = mirrors.map((m) => ({ name: m.name, status: typeof m.status === "object" ? { execFile: m.status.execFile, execPos: m.status.execPos, ioRunning: m.status.ioRunning, sqlRunning: m.status.sqlRunning } : m.status, detail: m.detail }));
    return {
      exitCode: decision.ok ? 0 : 1,
      text: formatDecision(binlogs, decision, req.dryRun, purged) + (purged ? `\nbinary logs now: ${after.map((b) => b.name).join(", ")}` : ""),
      json: { stack: ctx.stack, dryRun: req.dryRun, decision, purged, binlogsBefore: binlogs, binlogsAfter: after, mirrors: mirrorsJson },
    };
  });
}
