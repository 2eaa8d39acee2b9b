// Scheduled jobs: binlog purge (master), backup (backup host), health check (every host), and their log rotation.

import { checkSecretText } from "../config/checks";
import type { HostConfig, StackConfig } from "../config/types";
import type { FileBody } from "./types";
import { PATHS, VALIDATE_CRON, VALIDATE_LOGROTATE, header, mysqlLogDir, rootScript } from "./common";
import { certFilesOf } from "./tls";
import { METRICS } from "./metrics";
import { retentionSetting } from "./mysql";
import { pulledExports, pullsFiles } from "./sync";
import { renderTemplate } from "./templates";

/** Where `mirrorctl purge-binlogs` (the only writer; `--record-only` to just record) leaves each mirror's applied position for the master's purge job. */
export const POSITIONS_DIR = `${PATHS.stateDir}/replica-positions`;

function clients(cfg: StackConfig): string {
  return cfg.database.flavour === "mariadb" ? "mariadb mysql" : "mysql";
}


function cronFile(name: string, content: string, description: string): FileBody {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`cron file name ${JSON.stringify(name)} must be [a-z0-9-] (cron skips names with dots)`);
  return { path: `/etc/cron.d/${name}`, kind: "whole", owner: "root", group: "root", mode: "0644", content, secret: false, validate: VALIDATE_CRON, onChange: [], description };
}

function replicaStatus(cfg: StackConfig): { query: string; io: string; sql: string; lag: string } {
  const db = cfg.database;
  // MySQL 8.0.22+ has SHOW REPLICA STATUS (and 8.4 dropped the old spelling); MariaDB keeps SLAVE.
  if (db.flavour === "mysql") {
    return { query: "SHOW REPLICA STATUS", io: "Replica_IO_Running", sql: "Replica_SQL_Running", lag: "Seconds_Behind_Source" };
  }
  return { query: "SHOW SLAVE STATUS", io: "Slave_IO_Running", sql: "Slave_SQL_Running", lag: "Seconds_Behind_Master" };
}

function binlogPurgeFiles(cfg: StackConfig, host: HostConfig): FileBody[] {
  const log = `${PATHS.logDir}/binlog-purge.log`;
  const r = retentionSetting(cfg.database);
  return [
    rootScript(
      PATHS.binlogPurgeScript,
      renderTemplate("mirrorstack-binlog-purge.sh.hbs", {
        header: header(cfg.stack),
        stack: cfg.stack,
        host: host.name,
        retentionDays: cfg.database.binlogRetentionDays,
        retentionOption: r.option,
        logFile: log,
        clients: clients(cfg),
        positionsDir: POSITIONS_DIR,
        mirrors: cfg.mirrors.map((m) => m.name),
        mirrorList: cfg.mirrors.map((m) => m.name).join(", "),
      }),
      "purges binary logs that no mirror needs (positions recorded by mirrorctl) and that are past the retention",
    ),
    cronFile(
      "mirrorstack-binlog-purge",
      renderTemplate("cron-binlog-purge.hbs", {
        header: header(cfg.stack),
        host: host.name,
        logFile: log,
        schedule: cfg.cron.binlogPurge,
        script: PATHS.binlogPurgeScript,
      }),
      `runs mirrorstack-binlog-purge at "${cfg.cron.binlogPurge}"`,
    ),
  ];
}

/** The passphrase file; refuses a passphrase that is not one line of text. */
function passphraseContent(cfg: StackConfig, passphrase: string): string {
  const err = checkSecretText(passphrase, "the backup passphrase", 1);
  if (err) throw new Error(err);
  return renderTemplate("backup-passphrase.hbs", { header: header(cfg.stack), script: PATHS.backupScript, passphrase });
}

function backupFiles(cfg: StackConfig, host: HostConfig, passphrase: string): FileBody[] {
  const log = `${PATHS.logDir}/backup.log`;
  const b = cfg.backups;
  const rs = replicaStatus(cfg);
  // The mirrored trees: pulled copies on a mirror, the source trees on the master. In NFS mode a mirror archives
  // its local copies, never the mount (the master's data seen remotely).
  const backupTrees =
    cfg.files.method === "nfs" && host.role === "mirror" ? pulledExports(cfg).map((e) => e.copyTo) : cfg.files.trees.map((t) => t.path);
  return [
    {
      path: PATHS.backupPassphrase,
      kind: "whole",
      owner: "root",
      group: "root",
      mode: "0600",
      content: passphraseContent(cfg, passphrase),
      completion: { needs: "secrets", content: (s) => passphraseContent(cfg, s.backupPassphrase) },
      secret: true,
      validate: `[ "$(sed -n '$p' "$FILE" | wc -c)" -gt 1 ] || { echo "no passphrase on the last line" >&2; exit 1; }`,
      onChange: [],
      description: "passphrase that encrypts the backups (secret)",
    },
    rootScript(
      PATHS.backupScript,
      renderTemplate("mirrorstack-backup.sh.hbs", {
        header: header(cfg.stack),
        host: host.name,
        databases: cfg.database.databases,
        databasesList: cfg.database.databases.join(", "),
        destination: b.destination,
        retention: b.retention,
        logFile: log,
        lock: PATHS.backupLock,
        passphraseFile: PATHS.backupPassphrase,
        dumpClients: cfg.database.flavour === "mariadb" ? "mariadb-dump mysqldump" : "mysqldump",
        clients: clients(cfg),
        stack: cfg.stack,
        role: host.role,
        mirror: host.role === "mirror",
        master: host.role === "master",
        // The master records each dump's own snapshot position; mirrors record the paused SQL thread's position.
        positionOption: host.role === "master" ? (cfg.database.flavour === "mariadb" ? "--master-data=2" : "--source-data=2") : "",
        statusQuery: rs.query,
        sqlRunningField: rs.sql,
        execFileField: cfg.database.flavour === "mysql" ? "Relay_Source_Log_File" : "Relay_Master_Log_File",
        execPosField: cfg.database.flavour === "mysql" ? "Exec_Source_Log_Pos" : "Exec_Master_Log_Pos",
        stopSql: cfg.database.flavour === "mysql" ? "STOP REPLICA SQL_THREAD" : "STOP SLAVE SQL_THREAD",
        startSql: cfg.database.flavour === "mysql" ? "START REPLICA SQL_THREAD" : "START SLAVE SQL_THREAD",
        trees: backupTrees,
        hasTrees: backupTrees.length > 0,
        push: b.push !== undefined,
        pushName: b.push?.name ?? "",
        pushAddress: b.push?.address ?? "",
        pushPort: b.push?.sshPort ?? 22,
        pushKey: PATHS.backupPushKey,
        pushKnownHosts: PATHS.backupKnownHosts,
        pushDest: b.push ? `${b.push.user}@${b.push.address}` : "",
        treesList: backupTrees.join(", "),
      }),
      `encrypted backup of ${cfg.database.databases.join(", ")}${backupTrees.length > 0 ? ` and ${backupTrees.join(", ")}` : ""} into ${b.destination}, keeping ${b.retention}${b.push ? `, pushed to ${b.push.name}` : ""}`,
    ),
    cronFile(
      "mirrorstack-backup",
      renderTemplate("cron-backup.hbs", {
        header: header(cfg.stack),
        host: host.name,
        destination: b.destination,
        logFile: log,
        schedule: b.schedule,
        script: PATHS.backupScript,
      }),
      `runs mirrorstack-backup at "${b.schedule}"`,
    ),
  ];
}

/** The system PATH of the root jobs (the health job's is a template value, so the tests can put stand-ins first). */
const JOB_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
/** Seconds the health job waits for health.vendorCommand. */
const VENDOR_TIMEOUT_SECONDS = 60;

/** The mirrored trees whose filesystems the health job watches on this host (those present when it runs). */
function healthTrees(cfg: StackConfig, host: HostConfig): string[] {
  if (cfg.files.method === "nfs" && cfg.nfs) {
    // The master exports its own trees; a mirror's mounts are the master's disks, its local copies its own.
    return host.role === "master" ? cfg.nfs.exports.map((e) => e.path) : pulledExports(cfg).map((e) => e.copyTo);
  }
  return cfg.files.trees.map((t) => t.path);
}

/** The health script's template context (exported for the tests, which render it with stand-in paths). */
export function healthContext(cfg: StackConfig, host: HostConfig) {
  const isMirror = host.role === "mirror";
  const checksSync = isMirror && pullsFiles(cfg);
  const mounts = isMirror && cfg.files.method === "nfs" && cfg.nfs ? cfg.nfs.exports.map((e) => e.mountPoint) : [];
  const rs = replicaStatus(cfg);
  const h = cfg.health;
  return {
    header: header(cfg.stack),
    stack: cfg.stack,
    host: host.name,
    role: host.role,
    master: !isMirror,
    mirror: isMirror,
    searchPath: JOB_PATH,
    logFile: `${PATHS.logDir}/health.log`,
    status: PATHS.healthStatus,
    metricsFile: PATHS.healthMetrics,
    metrics: METRICS,
    families: Object.values(METRICS),
    clients: clients(cfg),
    replicaStatusQuery: rs.query,
    ioRunning: rs.io,
    sqlRunning: rs.sql,
    lagField: rs.lag,
    maxLag: h.maxReplicationLagSeconds,
    checksSync,
    syncStatus: PATHS.syncStatus,
    maxSyncAgeMinutes: h.maxSyncAgeMinutes,
    checksMounts: mounts.length > 0,
    mounts,
    backupHost: cfg.backups.enabled && cfg.backups.host === host.name,
    backupDestination: cfg.backups.destination,
    // Asked of the server when it answers (SELECT @@datadir); this when it does not.
    datadirDefault: "/var/lib/mysql",
    binlogDir: mysqlLogDir(host.osFamily),
    trees: healthTrees(cfg, host),
    diskWarnPercent: h.diskWarnPercent,
    diskCritPercent: h.diskCritPercent,
    mdstat: PATHS.mdstat,
    certs: certFilesOf(cfg, host),
    certWarnDays: cfg.tls.warnDays,
    vendor: h.vendorCommand !== undefined,
    vendorText: h.vendorCommand ?? "",
    vendorWords: h.vendorCommand?.split(" ") ?? [],
    vendorTimeout: VENDOR_TIMEOUT_SECONDS,
    alerts: h.alertMail !== undefined || h.alertCommand !== undefined,
    alertState: PATHS.healthAlertState,
    alertMail: h.alertMail ?? "",
    sendmail: PATHS.sendmail,
    alertCommand: h.alertCommand !== undefined,
    alertCommandText: h.alertCommand ?? "",
    alertCommandWords: h.alertCommand?.split(" ") ?? [],
  };
}

/** The health template's file name, rendered with healthContext. */
export const HEALTH_TEMPLATE = "mirrorstack-health.sh.hbs";

function healthFiles(cfg: StackConfig, host: HostConfig): FileBody[] {
  const ctx = healthContext(cfg, host);
  const extras = [
    ctx.checksSync ? "file sync" : "",
    ctx.checksMounts ? "NFS mounts" : "",
    "disks",
    "RAID",
    ctx.vendor ? "vendor RAID" : "",
    ctx.alerts ? "alerts" : "",
  ].filter((x) => x !== "");
  return [
    rootScript(
      PATHS.healthScript,
      renderTemplate(HEALTH_TEMPLATE, ctx),
      `health check of ${host.name} (${ctx.mirror ? "replication" : "binary log"}, ${extras.join(", ")}), metrics in ${PATHS.healthMetrics}`,
    ),
    cronFile(
      "mirrorstack-health",
      renderTemplate("cron-health.hbs", {
        header: header(cfg.stack),
        host: host.name,
        checksSync: ctx.checksSync,
        checksMounts: ctx.checksMounts,
        status: PATHS.healthStatus,
        schedule: cfg.cron.healthCheck,
        script: PATHS.healthScript,
      }),
      `runs mirrorstack-health at "${cfg.cron.healthCheck}"`,
    ),
  ];
}

function logrotateFile(cfg: StackConfig): FileBody {
  return {
    path: PATHS.logrotate,
    kind: "whole",
    owner: "root",
    group: "root",
    mode: "0644",
    content: renderTemplate("logrotate.hbs", { header: header(cfg.stack), logDir: PATHS.logDir }),
    secret: false,
    validate: VALIDATE_LOGROTATE,
    onChange: [],
    description: `weekly rotation of ${PATHS.logDir}/*.log`,
  };
}

export function renderJobFiles(cfg: StackConfig, host: HostConfig, backupPassphrase: string): FileBody[] {
  const files: FileBody[] = [];
  if (host.role === "master") files.push(...binlogPurgeFiles(cfg, host));
  if (cfg.backups.enabled && cfg.backups.host === host.name) files.push(...backupFiles(cfg, host, backupPassphrase));
  files.push(...healthFiles(cfg, host), logrotateFile(cfg));
  return files;
}
