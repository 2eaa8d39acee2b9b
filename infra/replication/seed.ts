// Seeding a mirror and starting replication: the orchestration shared by the Pulumi provider and mirrorctl.
// No Pulumi here. Like the other replication modules, node built-ins and mysql2 are required inside
// functions so Pulumi's closure serialization can carry this code into a dynamic provider.
import type { SshTarget } from "../ssh/exec";
import { sshArgs, withKeyFile } from "../ssh/exec";
import { shq } from "../shell";
import { connectViaSsh, type DbSession } from "./connect";
import { dialect, runAll, stmt, type CertificateRequirement, type DbEngine, type ReplicaTls } from "./dialect";
import { quoteIdent } from "./checksum";
import { normalizeReplicaStatus, normalizeSourceStatus, type ReplicaStatus } from "./status";

/** Everything needed to (re)build one mirror's replication. */
export interface SeedPlan {
  /** The master, as the provisioner reaches it over SSH. */
  readonly master: SshTarget;
  /** The mirror, as the provisioner reaches it over SSH. */
  readonly mirror: SshTarget;
  /** Address and port of the master's database as the mirror reaches it. */
  readonly sourceHost: string;
  readonly sourcePort: number;
  /** The mirror's address as the master sees its connections (host part of the replication account; '%' only with tls). */
  readonly mirrorAddress: string;
  /** TLS (tls.enabled): the mirror's client files and the certificate its account requires. */
  readonly tls?: { readonly replica: ReplicaTls; readonly require: CertificateRequirement } | null;
  readonly engine: DbEngine;
  readonly user: string;
  readonly password: string;
  /** Databases to copy and replicate. */
  readonly databases: readonly string[];
  /** logical: consistent dump streamed master -> mirror. physical: mariabackup stream of the whole instance. */
  readonly method: "logical" | "physical";
  /** Seconds to wait for the mirror to catch up before failing. */
  readonly catchUpTimeoutSeconds: number;
}

/** What a finished seed reports (goes into stack outputs). */
export interface SeedReport {
  readonly method: "logical" | "physical";
  readonly bytes: number;
  readonly seconds: number;
  readonly startFile: string;
  readonly startPos: number;
  readonly status: ReplicaStatus;
}

/** Runs `srcScript` on one host and pipes its stdout into `dstScript` on another, through this machine. */
export async function pipeBetweenHosts(
  src: SshTarget,
  srcScript: string,
  dst: SshTarget,
  dstScript: string,
): Promise<{ bytes: number; srcStderr: string; dstStdout: string; dstStderr: string }> {
  const cp = require("child_process") as typeof import("child_process");
  return withKeyFile(src, (srcKey) => withKeyFile(dst, (dstKey) => pipeWithKeys(cp, src, srcKey, srcScript, dst, dstKey, dstScript)));
}

async function pipeWithKeys(
  cp: typeof import("child_process"),
  src: SshTarget,
  srcKey: string | undefined,
  srcScript: string,
  dst: SshTarget,
  dstKey: string | undefined,
  dstScript: string,
): Promise<{ bytes: number; srcStderr: string; dstStdout: string; dstStderr: string }> {
  const a = cp.spawn("ssh", [...sshArgs(src, srcKey), `bash -c ${shq(srcScript)}`], { stdio: ["ignore", "pipe", "pipe"] });
  const b = cp.spawn("ssh", [...sshArgs(dst, dstKey), `bash -c ${shq(dstScript)}`], { stdio: ["pipe", "pipe", "pipe"] });
  let bytes = 0;
  const collect = (s: NodeJS.ReadableStream) => {
    const parts: Buffer[] = [];
    s.on("data", (d: Buffer) => parts.push(d));
    return () => Buffer.concat(parts).toString("utf8");
  };
  const aErr = collect(a.stderr!);
  const bOut = collect(b.stdout!);
  const bErr = collect(b.stderr!);
  a.stdout!.on("data", (d: Buffer) => (bytes += d.length));
  a.stdout!.pipe(b.stdin!);
  b.stdin!.on("error", () => undefined);
  const exit = (p: import("child_process").ChildProcess) =>
    new Promise<number>((resolve) => p.on("close", (code) => resolve(code ?? 255)));
  const [ca, cb] = await Promise.all([exit(a), exit(b)]);
  if (ca !== 0 || cb !== 0) {
    throw new Error(
      `copy ${src.host} -> ${dst.host} failed (${src.host} exit ${ca}, ${dst.host} exit ${cb}):\n` +
        `${src.host}: ${aErr().trim().slice(-2000)}\n${dst.host}: ${bErr().trim().slice(-2000)}`,
    );
  }
  return { bytes, srcStderr: aErr(), dstStdout: bOut(), dstStderr: bErr() };
}

/** Master side of a logical copy: one consistent snapshot, coordinates on stderr, data compressed on stdout. */
export function logicalDumpScript(databases: readonly string[], flavour: "mariadb" | "mysql"): string {
  const dump = flavour === "mariadb" ? "mariadb-dump" : "mysqldump";
  const coords = flavour === "mariadb" ? "--master-data=2" : "--source-data=2 --set-gtid-purged=COMMENTED";
  // --single-transaction: InnoDB snapshot, the master keeps taking writes; the global read lock that
  // pins the coordinates lasts only while the snapshot opens. The coordinate comment is copied to stderr.
  return `set -euo pipefail
${dump} --single-transaction ${coords} --quick --hex-blob --routines --triggers --events \\
  --default-character-set=utf8mb4 --databases ${databases.join(" ")} \\
  | tee -p >(grep -m1 -E '^-- CHANGE (MASTER|REPLICATION SOURCE) TO' >&2 || true) \\
  | zstd -1 -q -T0`;
}

/** Mirror side of a logical copy: decompress and load with relaxed durability for speed (restored after). */
export function logicalLoadScript(flavour: "mariadb" | "mysql"): string {
  const cli = flavour === "mariadb" ? "mariadb" : "mysql";
  return `set -euo pipefail
old=$(${cli} -N -B -e 'SELECT @@GLOBAL.innodb_flush_log_at_trx_commit')
${cli} -e 'SET GLOBAL innodb_flush_log_at_trx_commit=2'
trap "${cli} -e \\"SET GLOBAL innodb_flush_log_at_trx_commit=$old\\"" EXIT
zstd -d -q | ${cli} --binary-mode`;
}

/** Master side of a physical copy: the whole instance as an xbstream, compressed. */
export function physicalBackupScript(): string {
  return `set -euo pipefail
d=$(mktemp -d /tmp/mirrorstack-backup.XXXXXX); trap 'rm -rf "$d"' EXIT
mariadb-backup --backup --stream=xbstream --parallel=2 --target-dir="$d" 2>"$d/log" | zstd -1 -q -T0 \\
  || { tail -n 20 "$d/log" >&2; exit 1; }`;
}

/**
 * Mirror side of a physical copy: the old datadir is moved aside (not deleted) until the new one is
 * prepared and MariaDB runs on it; on any failure it is put back and MariaDB restarted on it.
 */
export function physicalRestoreScript(): string {
  return `set -euo pipefail
dd=/var/lib/mysql; prev="$dd.mirrorstack-prev"; new="$dd.mirrorstack-new"
svc() { if [ -d /run/systemd/system ]; then systemctl "$1" mariadb; else service mariadb "$1" >/dev/null; fi; }
rm -rf "$new"; mkdir -p "$new"
zstd -d -q | mbstream -x -C "$new"
mariadb-backup --prepare --target-dir="$new" >"$new.prepare.log" 2>&1 || { tail -n 20 "$new.prepare.log" >&2; exit 1; }
chown -R mysql:mysql "$new"
svc stop
rm -rf "$prev"; mv "$dd" "$prev"; mv "$new" "$dd"
if ! svc start; then
  rm -rf "$new"; mv "$dd" "$new"; mv "$prev" "$dd"; svc start || true
  echo "MariaDB did not start on the copied datadir; the previous one is back" >&2; exit 1
fi
rm -rf "$prev" "$new.prepare.log"
cat "$dd/mariadb_backup_binlog_info" 2>/dev/null || cat "$dd/xtrabackup_binlog_info"`;
}

/** Reads `-- CHANGE MASTER TO MASTER_LOG_FILE='f', MASTER_LOG_POS=n;` (either dialect's spelling). */
export function parseDumpCoordinates(text: string): { file: string; pos: number } {
  const m = /(?:MASTER|SOURCE)_LOG_FILE='([^']+)',\s*(?:MASTER|SOURCE)_LOG_POS=(\d+)/.exec(text);
  if (!m) throw new Error(`the dump did not report binlog coordinates (is the binary log on?): ${text.trim().slice(0, 300)}`);
  return { file: m[1], pos: Number(m[2]) };
}

/** Reads `file<TAB>pos[<TAB>gtid]` from mariabackup's binlog info. */
export function parseBackupCoordinates(text: string): { file: string; pos: number } {
  const m = /^(\S+)\s+(\d+)/m.exec(text.trim().split("\n").pop() ?? "");
  if (!m) throw new Error(`the physical copy did not report binlog coordinates: ${text.trim().slice(0, 300)}`);
  return { file: m[1], pos: Number(m[2]) };
}

async function withSessions<T>(plan: SeedPlan, fn: (master: DbSession, mirror: DbSession) => Promise<T>): Promise<T> {
  const master = await connectViaSsh(plan.master);
  try {
    const mirror = await connectViaSsh(plan.mirror);
    try {
      return await fn(master, mirror);
    } finally {
      await mirror.close();
    }
  } finally {
    await master.close();
  }
}

/**
 * Replication account on the master for this mirror (idempotent; also resets the password). A configured
 * database the master does not have yet is created empty (utf8mb4), so mirrors replicate it from its start.
 */
export async function ensureReplicationUser(plan: SeedPlan): Promise<void> {
  const d = dialect(plan.engine);
  const master = await connectViaSsh(plan.master);
  try {
    for (const db of plan.databases) {
      await master.query(stmt(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`));
    }
    await runAll(
      master,
      d.createReplicationUser({ user: plan.user, host: plan.mirrorAddress, password: plan.password, ...(plan.tls ? { requireCertificate: plan.tls.require } : {}) }),
    );
  } finally {
    await master.close();
  }
}

/**
 * Waits until the mirror applied a master position taken now and both replica threads run; throws with the
 * threads' error text if they do not. START SLAVE returns before the IO thread has connected, so the
 * threads are polled (an IO error ends the wait at once).
 */
export async function waitCaughtUp(plan: SeedPlan, master: DbSession, mirror: DbSession): Promise<ReplicaStatus> {
  const d = dialect(plan.engine);
  const deadline = Date.now() + plan.catchUpTimeoutSeconds * 1000;
  let status = normalizeReplicaStatus(await mirror.query(d.showReplicaStatus()), plan.mirror.host);
  while (!(status.ioRunning && status.sqlRunning) && !status.lastIoError && !status.lastSqlError && Date.now() < deadline) {
    if (!status.sqlRunning && !status.ioConnecting && !status.ioRunning) break; // stopped, nothing to wait for
    await new Promise((r) => setTimeout(r, 200));
    status = normalizeReplicaStatus(await mirror.query(d.showReplicaStatus()), plan.mirror.host);
  }
  let outcome: string = "threads not running";
  if (status.ioRunning && status.sqlRunning) {
    const target = normalizeSourceStatus(await master.query(d.showSourceStatus()), plan.master.host);
    const seconds = Math.max(1, Math.round((deadline - Date.now()) / 1000));
    const w = d.waitForPosition({ file: target.file, pos: target.pos }, seconds);
    const [row] = await mirror.query(w);
    outcome = w.interpret(row?.result);
    status = normalizeReplicaStatus(await mirror.query(d.showReplicaStatus()), plan.mirror.host);
  }
  if (outcome !== "reached" || !status.ioRunning || !status.sqlRunning) {
    throw new Error(
      `[${plan.mirror.host}] replication is not healthy after seeding (${outcome}): ` +
        `IO thread ${status.ioRunning ? "running" : status.ioConnecting ? "still connecting" : "stopped"}${status.lastIoError ? ` (${status.lastIoError})` : ""}, ` +
        `SQL thread ${status.sqlRunning ? "running" : "stopped"}${status.lastSqlError ? ` (${status.lastSqlError})` : ""}`,
    );
  }
  return status;
}

/**
 * Full (re)seed: replication account, stop and forget any old replication on the mirror, consistent copy,
 * source + credentials + coordinates in one statement, start, and wait until caught up.
 */
export async function seedMirror(plan: SeedPlan, log: (msg: string) => void = () => undefined): Promise<SeedReport> {
  const d = dialect(plan.engine);
  const t0 = Date.now();
  await ensureReplicationUser(plan);
  {
    const mirror = await connectViaSsh(plan.mirror);
    try {
      for (const s of d.fullReset()) await mirror.query(s).catch(() => undefined); // nothing to reset on a new mirror
    } finally {
      await mirror.close();
    }
  }
  let start: { file: string; pos: number };
  let bytes: number;
  if (plan.method === "logical") {
    log(`${plan.mirror.host}: logical copy of ${plan.databases.join(", ")} from ${plan.master.host}`);
    const r = await pipeBetweenHosts(
      plan.master,
      logicalDumpScript(plan.databases, plan.engine.flavour),
      plan.mirror,
      logicalLoadScript(plan.engine.flavour),
    );
    start = parseDumpCoordinates(r.srcStderr);
    bytes = r.bytes;
  } else {
    if (plan.engine.flavour !== "mariadb") throw new Error("[database.seedMethod] physical seeding is implemented for MariaDB (mariabackup) only");
    log(`${plan.mirror.host}: physical copy (mariabackup) from ${plan.master.host}`);
    const r = await pipeBetweenHosts(plan.master, physicalBackupScript(), plan.mirror, physicalRestoreScript());
    start = parseBackupCoordinates(r.dstStdout);
    bytes = r.bytes;
  }
  const status = await withSessions(plan, async (master, mirror) => {
    await runAll(
      mirror,
      d.changeSource({
        host: plan.sourceHost,
        port: plan.sourcePort,
        user: plan.user,
        password: plan.password,
        position: { kind: "file", file: start.file, pos: start.pos },
        ...(plan.tls ? { ssl: true, tls: plan.tls.replica } : {}),
      }),
    );
    await mirror.query(d.startReplica());
    return waitCaughtUp(plan, master, mirror);
  });
  return { method: plan.method, bytes, seconds: (Date.now() - t0) / 1000, startFile: start.file, startPos: start.pos, status };
}

/** New password (and TLS settings): the master account and the mirror's stored credentials, replication position kept. */
export async function rotatePassword(plan: SeedPlan): Promise<ReplicaStatus> {
  const d = dialect(plan.engine);
  await ensureReplicationUser(plan);
  return withSessions(plan, async (master, mirror) => {
    await mirror.query(d.stopReplica());
    await mirror.query(d.changeSourcePassword(plan.password));
    if (plan.tls) await mirror.query(d.changeSourceTls(plan.tls.replica));
    await mirror.query(d.startReplica());
    return waitCaughtUp(plan, master, mirror);
  });
}

/** Stops and forgets replication on the mirror and drops its account on the master. Data stays. */
export async function unseedMirror(plan: SeedPlan): Promise<void> {
  const d = dialect(plan.engine);
  await withSessions(plan, async (master, mirror) => {
    for (const s of d.fullReset()) await mirror.query(s).catch(() => undefined);
    await runAll(master, d.dropReplicationUser({ user: plan.user, host: plan.mirrorAddress, ...(plan.tls ? { requireCertificate: plan.tls.require } : {}) }));
  });
}

/** Current replica status of one mirror. */
export async function mirrorStatus(target: SshTarget, engine: DbEngine): Promise<ReplicaStatus> {
  const mirror = await connectViaSsh(target);
  try {
    return normalizeReplicaStatus(await mirror.query(dialect(engine).showReplicaStatus()), target.host);
  } finally {
    await mirror.close();
  }
}
