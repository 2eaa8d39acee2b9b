// mirrorctl status: per host, replication (threads, lag, errors, executed position), the last file sync, the
// free disk space of the datadir and the mirrored trees, judged with the stack's health thresholds, and the RAID
// state the host's own health job measured last (md arrays, the vendor RAID command; from its metrics file). Output and exit
// status work as a monitoring check: 0 OK, 1 WARNING, 2 CRITICAL (`--format prometheus` prints the same as metrics).
// Read only: it writes nothing on any host (the binlog purge job's position reports are only read here, for their
// age; positions.ts says who writes them).

import type { HostConfig, StackConfig } from "../config/types";
import { PATHS } from "../render/common";
import { shq } from "../shell";
import { pullsFiles } from "../render/sync";
import { certFilesOf } from "../render/tls";
import { formatMetrics, METRICS, type Sample } from "../render/metrics";
import { dialect, stmt } from "../replication/dialect";
import { health, normalizeReplicaStatus, normalizeSourceStatus, type HealthLevel, type ReplicaStatus } from "../replication/status";
import type { Request } from "./args";
import type { OpsContext } from "./context";
import { dfScript, parseDf, parseKeyValues, run, section, withDb, type DiskFree } from "./hosts";
import { checkWebHosts, judgeWeb, webCell, type WebCheck } from "./web";
import { age, bytes, errMsg, levelExit, mapLimit, table, worst, type CommandResult } from "./output";
import { describeReports, parseReportAges, readReportsScript, type ReportAge } from "./positions";

/** Free space (percent of the filesystem) below which a disk is WARNING / CRITICAL: health.diskWarnPercent / diskCritPercent. */
export interface DiskThresholds {
  readonly diskWarnPercent: number;
  readonly diskCritPercent: number;
}

export interface SyncState {
  /** false: this host has no file mirroring to pull (no trees, or NFS). */
  readonly configured: boolean;
  /** Why it is not configured (shown instead of the sync columns). */
  readonly note?: string;
  readonly lastRun?: number | null;
  readonly lastRunExit?: number | null;
  readonly lastSuccess?: number | null;
  /** Seconds since the last success (host clock), null when there was none. */
  readonly ageSeconds?: number | null;
}

export interface HostStatus {
  readonly host: string;
  readonly role: "master" | "mirror";
  readonly address: string;
  readonly level: HealthLevel;
  readonly reasons: readonly string[];
  readonly reachable: boolean;
  /** Mirrors: the normalized replica status (null when it could not be read). */
  readonly replication: ReplicaStatus | null;
  /** Master: its current binary log position. */
  readonly binlog?: { readonly file: string; readonly pos: number } | null;
  readonly sync: SyncState;
  readonly disks: readonly DiskFree[];
  /** Master: the age of each mirror's position report for the binlog purge job (read, never written, here). */
  readonly positionReports?: readonly ReportAge[];
  /** What the host's own health job measured that status does not (md arrays, the vendor RAID command). */
  readonly healthJob?: HealthJobResult;
  /** web: true: what the site answered over HTTP (infra/ops/web.ts). */
  readonly web?: WebCheck;
  /** Replication TLS (tls.enabled): the certificates on the host and when they expire. */
  readonly certificates?: readonly CertExpiry[];
}

/** A certificate file on a host: when it expires (Unix time), null when it is missing or unreadable. */
export interface CertExpiry {
  readonly what: string;
  readonly path: string;
  readonly notAfter: number | null;
}

/** The shell lines that print `<path> notAfter=<date>` (or `<path> missing`) for each certificate file. */
export function certDatesScript(files: readonly { path: string }[]): string {
  return files.map((f) => `printf '%s ' ${shq(f.path)}; openssl x509 -in ${shq(f.path)} -noout -enddate 2>/dev/null || echo missing`).join("\n");
}

/** Reads certDatesScript's output. */
export function parseCertDates(text: string, files: readonly { what: string; path: string }[]): CertExpiry[] {
  const byPath = new Map<string, number | null>();
  for (const line of text.split("\n")) {
    const m = /^(\S+) notAfter=(.+)$/.exec(line.trim());
    if (m) {
      const t = Date.parse(m[2]!);
      byPath.set(m[1]!, Number.isNaN(t) ? null : Math.floor(t / 1000));
    }
  }
  return files.map((f) => ({ what: f.what, path: f.path, notAfter: byPath.get(f.path) ?? null }));
}

/** Certificates: missing or expired is CRITICAL, expiring within tls.warnDays a WARNING. */
export function judgeCerts(certs: readonly CertExpiry[], warnDays: number, now: number): { level: HealthLevel; reasons: string[] } {
  const levels: HealthLevel[] = [];
  const reasons: string[] = [];
  for (const c of certs) {
    if (c.notAfter === null) {
      levels.push("CRITICAL");
      reasons.push(`TLS ${c.what} ${c.path} is missing or unreadable`);
      continue;
    }
    const left = c.notAfter - now;
    const when = new Date(c.notAfter * 1000).toISOString().replace(/\.000Z$/, "Z");
    if (left <= 0) {
      levels.push("CRITICAL");
      reasons.push(`TLS ${c.what} ${c.path} expired at ${when}`);
    } else if (left < warnDays * 86400) {
      levels.push("WARNING");
      reasons.push(`TLS ${c.what} ${c.path} expires in ${(left / 86400).toFixed(1)} days (${when}); \`pulumi up\` renews it within tls.renewBeforeDays`);
    }
  }
  return { level: worst(levels), reasons };
}

/** From the health job's metrics file (PATHS.healthMetrics, templates/mirrorstack-health.sh.hbs): the RAID state. */
export interface HealthJobResult {
  /** md arrays: degraded (a failed or missing member) and resyncing. */
  readonly arrays: readonly { readonly array: string; readonly degraded: boolean; readonly resyncing: boolean }[];
  /** The vendor RAID command's verdict; undefined when none is configured. */
  readonly vendorOk?: boolean;
  /** Seconds since the health job ran (host clock), null when unknown. */
  readonly ageSeconds: number | null;
}

/** Reads the samples of the health job's metrics file that status uses (labels as formatMetrics writes them). */
export function parseHealthJob(text: string, now: number | null): HealthJobResult | undefined {
  const samples = text.split("\n").flatMap((l) => {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(l);
    if (!m) return [];
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))]));
    return [{ name: m[1]!, labels, value: Number(m[3]) }];
  });
  const checked = samples.find((x) => x.name === METRICS.healthChecked.name)?.value;
  if (checked === undefined) return undefined;
  const arrays = new Map<string, { array: string; degraded: boolean; resyncing: boolean }>();
  for (const x of samples) {
    const array = x.labels["array"];
    if (array === undefined || (x.name !== METRICS.mdDegraded.name && x.name !== METRICS.mdResyncing.name)) continue;
    const a = arrays.get(array) ?? { array, degraded: false, resyncing: false };
    if (x.name === METRICS.mdDegraded.name) a.degraded = x.value === 1;
    else a.resyncing = x.value === 1;
    arrays.set(array, a);
  }
  const vendor = samples.find((x) => x.name === METRICS.vendorCheckOk.name);
  return {
    arrays: [...arrays.values()],
    ...(vendor ? { vendorOk: vendor.value === 1 } : {}),
    ageSeconds: now !== null && Number.isFinite(checked) ? Math.max(0, now - checked) : null,
  };
}

/** The RAID state the health job measured: a degraded array or a failing vendor check is CRITICAL, a resync WARNING. */
export function judgeHealthJob(j: HealthJobResult | undefined): { level: HealthLevel; reasons: string[] } {
  if (!j) return { level: "OK", reasons: [] };
  const when = j.ageSeconds === null ? "health job" : `health job, ${age(j.ageSeconds)} ago`;
  const levels: HealthLevel[] = [];
  const reasons: string[] = [];
  for (const a of j.arrays) {
    if (a.degraded) (levels.push("CRITICAL"), reasons.push(`RAID ${a.array} is degraded (${when})`));
    else if (a.resyncing) (levels.push("WARNING"), reasons.push(`RAID ${a.array} is resyncing (${when})`));
  }
  if (j.vendorOk === false) (levels.push("CRITICAL"), reasons.push(`the RAID vendor command reports a problem (${when}; health.vendorCommand)`));
  return { level: worst(levels), reasons };
}

/** The lag thresholds: WARNING from half of health.maxReplicationLagSeconds, CRITICAL from the maximum itself. */
export function lagThresholds(cfg: StackConfig): { warn: number; crit: number } {
  const crit = cfg.health.maxReplicationLagSeconds;
  return { warn: Math.max(1, Math.ceil(crit / 2)), crit };
}

/** Judges a sync state: no success or older than health.maxSyncAgeMinutes is CRITICAL, a failed last run WARNING. */
export function judgeSync(s: SyncState, maxAgeMinutes: number): { level: HealthLevel; reasons: string[] } {
  if (!s.configured) return { level: "OK", reasons: [] };
  const reasons: string[] = [];
  let level: HealthLevel = "OK";
  if (s.lastRun === null || s.lastRun === undefined) return { level: "CRITICAL", reasons: ["file sync has never run"] };
  if (s.lastSuccess === null || s.lastSuccess === undefined) {
    level = "CRITICAL";
    reasons.push("no successful file sync recorded");
  } else if ((s.ageSeconds ?? 0) > maxAgeMinutes * 60) {
    level = "CRITICAL";
    reasons.push(`last successful file sync is ${age(s.ageSeconds ?? 0)} old (limit ${maxAgeMinutes} min)`);
  }
  if (s.lastRunExit !== 0 && s.lastRunExit !== null && s.lastRunExit !== undefined) {
    if (level === "OK") level = "WARNING";
    reasons.push(`last file sync failed (rsync exit ${s.lastRunExit})`);
  }
  return { level, reasons };
}

/** Judges free disk space. */
export function judgeDisks(disks: readonly DiskFree[], t: DiskThresholds): { level: HealthLevel; reasons: string[] } {
  const reasons: string[] = [];
  const levels: HealthLevel[] = [];
  for (const d of disks) {
    if (!d.present) {
      // A missing datadir is fatal; a missing source tree or export on the master is worth a look; a backup
      // directory before the first backup or a tree before the first pull is not a problem (sync has its own check).
      if (d.what === "datadir") levels.push("CRITICAL");
      else if (d.what === "source tree" || d.what === "export") levels.push("WARNING");
      else continue;
      reasons.push(`${d.what} ${d.path} is missing`);
    } else if (d.freePercent < t.diskCritPercent) {
      levels.push("CRITICAL");
      reasons.push(`${d.what} ${d.path}: only ${d.freePercent}% free`);
    } else if (d.freePercent < t.diskWarnPercent) {
      levels.push("WARNING");
      reasons.push(`${d.what} ${d.path}: only ${d.freePercent}% free`);
    }
  }
  return { level: worst(levels), reasons };
}

/** Paths whose free space is checked on a host, with what they are. */
export function diskPaths(cfg: StackConfig, h: HostConfig, datadir: string): Map<string, string> {
  const m = new Map<string, string>([[datadir.replace(/\/+$/, "") || "/", "datadir"]]);
  if (cfg.files.method === "nfs" && cfg.nfs) {
    for (const e of cfg.nfs.exports) {
      m.set(h.role === "master" ? e.path : e.mountPoint, h.role === "master" ? "export" : "mount");
      if (h.role === "mirror" && e.copyTo !== undefined) m.set(e.copyTo, "tree");
    }
  } else {
    for (const t of cfg.files.trees) m.set(t.path, h.role === "master" ? "source tree" : "tree");
  }
  if (cfg.backups.enabled && cfg.backups.host === h.name) m.set(cfg.backups.destination, "backups");
  return m;
}

/** Why a mirror has no file sync to report. */
export function syncNote(cfg: StackConfig): string | undefined {
  if (pullsFiles(cfg)) return undefined;
  if (cfg.files.method === "nfs") return "not configured (the NFS exports are only mounted: pull is false)";
  return "not configured (files.trees is empty)";
}

async function probeHost(ctx: OpsContext, h: HostConfig): Promise<HostStatus> {
  const cfg = ctx.cfg;
  const target = ctx.target(h.name);
  const d = dialect(ctx.engine);
  const reasons: string[] = [];
  const levels: HealthLevel[] = [];
  let replication: ReplicaStatus | null = null;
  let binlog: { file: string; pos: number } | null | undefined;
  let datadir = "/var/lib/mysql";
  let reachable = true;

  try {
    await withDb(target, cfg, async (db) => {
      const [dd] = await db.query(stmt("SELECT @@datadir AS datadir"));
      if (dd?.datadir) datadir = String(dd.datadir);
      if (h.role === "mirror") {
        const { warn, crit } = lagThresholds(cfg);
        try {
          replication = normalizeReplicaStatus(await db.query(d.showReplicaStatus()), h.name);
          const hl = health(replication, { warnSecondsBehind: warn, critSecondsBehind: crit, expectedSourceHost: cfg.master.address });
          levels.push(hl.level);
          reasons.push(...hl.reasons);
        } catch (e) {
          levels.push("CRITICAL");
          reasons.push(errMsg(e).replace(/^\[[^\]]*\] /, ""));
        }
      } else {
        try {
          const s = normalizeSourceStatus(await db.query(d.showSourceStatus()), h.name);
          binlog = { file: s.file, pos: s.pos };
        } catch (e) {
          binlog = null;
          levels.push("CRITICAL");
          reasons.push(errMsg(e).replace(/^\[[^\]]*\] /, ""));
        }
      }
    });
  } catch (e) {
    levels.push("CRITICAL");
    reasons.push(`database not reachable: ${errMsg(e).replace(/^\[[^\]]*\] /, "")}`);
  }

  const paths = diskPaths(cfg, h, datadir);
  const pulls = h.role === "mirror" && pullsFiles(cfg);
  const mirrorNames = cfg.mirrors.map((m) => m.name);
  const certFiles = certFilesOf(cfg, h);
  const script = `set -u
echo "@@BEGIN df"
${dfScript([...paths.keys()])}
echo "@@END df"
${pulls ? `echo "@@BEGIN sync"; cat ${PATHS.syncStatus} 2>/dev/null; echo "now=$(date +%s)"; echo "@@END sync"` : ""}
echo "@@BEGIN now"; date +%s; echo "@@END now"
echo "@@BEGIN health"; cat ${PATHS.healthMetrics} 2>/dev/null; echo "@@END health"
${certFiles.length > 0 ? `echo "@@BEGIN certs"\n${certDatesScript(certFiles)}\necho "@@END certs"` : ""}
${h.role === "master" ? `echo "@@BEGIN positions"\n${readReportsScript(mirrorNames)}\necho "@@END positions"` : ""}
true`;
  const r = await run(target, script);
  let disks: DiskFree[] = [];
  let sync: SyncState = { configured: false, note: h.role === "master" ? "master (source of the files)" : syncNote(cfg) ?? "not configured" };
  let positionReports: ReportAge[] | undefined;
  let healthJob: HealthJobResult | undefined;
  let certificates: CertExpiry[] | undefined;
  if (r.unreachable || r.code !== 0) {
    reachable = false;
    levels.push("CRITICAL");
    reasons.push(r.unreachable ? r.stderr.replace(/^\[[^\]]*\] /, "") : `status script failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  } else {
    disks = parseDf(section(r.stdout, "df") ?? "", paths);
    if (h.role === "master") positionReports = parseReportAges(section(r.stdout, "positions") ?? "", mirrorNames);
    const nowText = (section(r.stdout, "now") ?? "").trim();
    const hostNow = /^\d+$/.test(nowText) ? Number(nowText) : null;
    healthJob = parseHealthJob(section(r.stdout, "health") ?? "", hostNow);
    const hj = judgeHealthJob(healthJob);
    levels.push(hj.level);
    reasons.push(...hj.reasons);
    if (certFiles.length > 0) {
      certificates = parseCertDates(section(r.stdout, "certs") ?? "", certFiles);
      const cj = judgeCerts(certificates, cfg.tls.warnDays, hostNow ?? Math.floor(Date.now() / 1000));
      levels.push(cj.level);
      reasons.push(...cj.reasons);
    }
    const dj = judgeDisks(disks, ctx.cfg.health);
    levels.push(dj.level);
    reasons.push(...dj.reasons);
    if (pulls) {
      const kv = parseKeyValues(section(r.stdout, "sync") ?? "");
      const num = (k: string) => (kv[k] !== undefined && /^\d+$/.test(kv[k]!) ? Number(kv[k]) : null);
      const now = num("now") ?? Math.floor(Date.now() / 1000);
      const lastSuccess = num("last_success");
      sync = {
        configured: true,
        lastRun: num("last_run"),
        lastRunExit: num("last_run_exit"),
        lastSuccess,
        ageSeconds: lastSuccess === null ? null : Math.max(0, now - lastSuccess),
      };
      const sj = judgeSync(sync, cfg.health.maxSyncAgeMinutes);
      levels.push(sj.level);
      reasons.push(...sj.reasons);
    }
  }
  return { host: h.name, role: h.role, address: h.address, level: worst(levels), reasons, reachable, replication, ...(binlog !== undefined ? { binlog } : {}), sync, disks, ...(positionReports ? { positionReports } : {}), ...(healthJob ? { healthJob } : {}), ...(certificates ? { certificates } : {}) };
}

/** Collects every host's status (hosts in parallel, at most `parallel` at a time). */
export async function collectStatus(ctx: OpsContext, parallel: number): Promise<HostStatus[]> {
  const [hosts, web] = await Promise.all([mapLimit(ctx.cfg.hosts, parallel, (h) => probeHost(ctx, h)), checkWebHosts(ctx.cfg)]);
  return hosts.map((h) => {
    const c = web.get(h.host);
    if (!c) return h;
    const j = judgeWeb(c, h.role);
    return { ...h, web: c, level: worst([h.level, j.level]), reasons: [...h.reasons, ...j.reasons] };
  });
}

function position(s: HostStatus): string {
  if (s.role === "master") return s.binlog ? `${s.binlog.file}:${s.binlog.pos}` : "-";
  const r = s.replication;
  if (!r) return "-";
  const pos = r.execFile ? `${r.execFile}:${r.execPos ?? "?"}` : "-";
  return r.gtid ? `${pos}\ngtid ${r.gtid}` : pos;
}

function syncCell(s: HostStatus): string {
  if (!s.sync.configured) return s.role === "master" ? "-" : s.sync.note ?? "not configured";
  if (s.sync.lastRun === null || s.sync.lastRun === undefined) return "never ran";
  const ok = s.sync.lastRunExit === 0 ? "ok" : `failed (exit ${s.sync.lastRunExit})`;
  return `${ok}, ${s.sync.ageSeconds === null || s.sync.ageSeconds === undefined ? "no success yet" : `${age(s.sync.ageSeconds)} ago`}`;
}

function diskCell(s: HostStatus): string {
  return s.disks.map((d) => (d.present ? `${d.what} ${d.path} ${d.freePercent}% free (${bytes(d.freeBytes)})` : `${d.what} ${d.path} missing`)).join("\n") || "-";
}

/** Renders statuses as the table plus a monitoring-plugin summary line (first line). */
export function formatStatus(stack: string, hosts: readonly HostStatus[]): string {
  const level = worst(hosts.map((h) => h.level));
  const bad = hosts.filter((h) => h.level !== "OK");
  const summary =
    level === "OK"
      ? `MIRRORSTACK ${level} - stack ${stack}: ${hosts.filter((h) => h.role === "mirror").length} mirror(s) replicating, ${hosts.length} host(s) healthy`
      : `MIRRORSTACK ${level} - stack ${stack}: ${bad.map((h) => `${h.host}: ${h.reasons.join("; ")}`).join(" | ")}`;
  const anyWeb = hosts.some((h) => h.web !== undefined);
  const rows = hosts.map((h) => {
    const r = h.replication;
    const yn = (b: boolean | undefined, connecting = false) => (b === undefined ? "-" : connecting ? "Connecting" : b ? "Yes" : "No");
    return [
      h.host,
      h.role,
      h.level,
      h.role === "mirror" ? yn(r?.ioRunning, r?.ioConnecting) : "-",
      h.role === "mirror" ? yn(r?.sqlRunning) : "-",
      h.role === "mirror" ? (r ? (r.secondsBehind === null ? "NULL" : `${r.secondsBehind}s`) : "-") : "-",
      position(h),
      syncCell(h),
      diskCell(h),
      ...(anyWeb ? [webCell(h.web)] : []),
    ];
  });
  const headers = ["HOST", "ROLE", "LEVEL", "IO", "SQL", "BEHIND", "EXECUTED / BINLOG", "FILE SYNC", "DISK FREE", ...(anyWeb ? ["WEB"] : [])];
  const out = [summary, "", table(headers, rows)];
  const errors = hosts.filter((h) => h.reasons.length > 0 || h.replication?.lastIoError || h.replication?.lastSqlError);
  if (errors.length > 0) {
    out.push("");
    for (const h of errors) {
      const r = h.replication;
      if (r?.lastIoError) out.push(`${h.host}: last IO error ${r.lastIoErrno}: ${r.lastIoError}`);
      if (r?.lastSqlError) out.push(`${h.host}: last SQL error ${r.lastSqlErrno}: ${r.lastSqlError}`);
      for (const reason of h.reasons) if (!(r?.lastSqlError && reason.includes(r.lastSqlError)) && !(r?.lastIoError && reason.includes(r.lastIoError))) out.push(`${h.host}: ${reason}`);
    }
  }
  for (const h of hosts) {
    const reports = h.role === "master" && h.positionReports ? describeReports(stack, h.host, h.positionReports) : undefined;
    if (reports) out.push("", reports);
  }
  return out.join("\n");
}

/**
 * What status found, as samples of the families in infra/render/metrics.ts (the names the health job's textfile
 * uses too). What status could not read is left out rather than guessed (an unreadable replica status gives no
 * thread or lag samples, a lag of NULL no lag sample, a sync that never succeeded no age): health_ok 0 says it.
 */
export function statusSamples(hosts: readonly HostStatus[]): (Sample & { readonly host: string })[] {
  const out: (Sample & { readonly host: string })[] = [];
  for (const h of hosts) {
    const add = (family: Sample["family"], value: number, labels?: Record<string, string>) => out.push({ family, host: h.host, value, ...(labels ? { labels } : {}) });
    add(METRICS.healthOk, h.level === "OK" ? 1 : 0);
    add(METRICS.healthProblems, h.reasons.length);
    const r = h.replication;
    if (h.role === "mirror" && r) {
      add(METRICS.replicationIoRunning, r.ioRunning ? 1 : 0);
      add(METRICS.replicationSqlRunning, r.sqlRunning ? 1 : 0);
      if (r.secondsBehind !== null) add(METRICS.replicationLag, r.secondsBehind);
    }
    if (h.sync.configured && h.sync.ageSeconds !== null && h.sync.ageSeconds !== undefined) add(METRICS.fileSyncAge, h.sync.ageSeconds);
    for (const c of h.certificates ?? []) if (c.notAfter !== null) add(METRICS.tlsCertExpiry, c.notAfter, { purpose: c.what, path: c.path });
    for (const d of h.disks) {
      if (!d.present) continue;
      add(METRICS.filesystemAvail, d.freeBytes, { purpose: d.what, path: d.path });
      add(METRICS.filesystemSize, d.totalBytes, { purpose: d.what, path: d.path });
    }
  }
  return out;
}

/** Renders statuses in the Prometheus text format (`status --format prometheus`). */
export function formatStatusMetrics(stack: string, hosts: readonly HostStatus[]): string {
  return formatMetrics(stack, statusSamples(hosts));
}

export async function statusCommand(ctx: OpsContext, req: Request): Promise<CommandResult> {
  const hosts = await collectStatus(ctx, req.parallel);
  const level = worst(hosts.map((h) => h.level));
  const text = req.format === "prometheus" ? formatStatusMetrics(ctx.stack, hosts) : formatStatus(ctx.stack, hosts);
  return { exitCode: levelExit(level), text, json: { stack: ctx.stack, level, exitCode: levelExit(level), hosts } };
}
