// The zod schema of a stack config (the `mirrorstack:*` keys of stacks/Pulumi.<stack>.yaml).
// Shapes, value formats and plain defaults live here; rules that span keys (uniqueness, NFS overrides, secrets)
// and defaults derived from other keys live in cross.ts / resolve.ts. docs/config.md is generated from this file.

import { z } from "zod";
import {
  RSYNC_ALLOWED_DESCRIPTION,
  checkAbsolutePath,
  checkAddress,
  checkHostAddress,
  checkClient,
  checkCron,
  checkDatabaseName,
  checkDevice,
  checkDomain,
  checkExcludePattern,
  checkHostName,
  checkMountOption,
  checkOwner,
  checkRsyncOption,
  checkRsyncOptionList,
  checkSqlUser,
  checkTreePath,
  checkMailAddress,
  checkUnixName,
  checkVendorCommand,
  show,
  unsafeCharacter,
} from "./checks";

/** Extra documentation for docs/config.md: a type label, or the rule a derived default follows. */
export interface DocMeta {
  docType?: string;
  derivedDefault?: string;
}

type Check = (v: string) => string | undefined;

/** z.unknown() whose input type says what a value may be given as (the types SiteMirror's args take); the
 * transform after it still checks every value at run time. */
const given = <I>() => z.unknown() as z.ZodType<unknown, I>;

/** A string checked by one or more value checks (all messages are reported). */
function text(...checks: Check[]) {
  return z.string().superRefine((v, ctx) => {
    for (const check of checks) {
      const m = check(v);
      if (m) {
        ctx.addIssue({ code: "custom", message: m, input: v });
        return;
      }
    }
  });
}

/** An integer in [min, max]; also accepts a string of digits (Pulumi passes top-level scalars as strings). */
function int(min: number, max: number) {
  return given<number | string>()
    .transform((v, ctx) => {
      const n = typeof v === "number" ? v : typeof v === "string" && /^[0-9]+$/.test(v.trim()) ? Number(v) : NaN;
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: "custom", message: `expected an integer from ${min} to ${max}, got ${show(v)}`, input: v });
        return z.NEVER;
      }
      return n;
    })
    .meta({ docType: `integer ${min}-${max}` } satisfies DocMeta);
}

/** A boolean; also accepts "true"/"false". */
function bool() {
  return given<boolean | "true" | "false">()
    .transform((v, ctx) => {
      if (v === true || v === "true") return true;
      if (v === false || v === "false") return false;
      ctx.addIssue({ code: "custom", message: `expected true or false, got ${show(v)}`, input: v });
      return z.NEVER;
    })
    .meta({ docType: "boolean" } satisfies DocMeta);
}

/** A list given either as a YAML array or as one string of space-separated items. */
function wordList<T extends z.ZodType>(item: T) {
  return z.preprocess((v: string | z.input<T>[]) => (typeof v === "string" ? v.trim().split(/\s+/).filter((s) => s !== "") : v), z.array(item));
}

const absolutePath = () => text((v) => checkAbsolutePath(v));
const cron = () => text(checkCron).meta({ docType: "cron (5 fields)" } satisfies DocMeta);

/** A path on the operator's machine (read by the Pulumi program, never written to a host). */
const localPath = () =>
  text((v) => {
    if (v.length === 0) return "must not be empty";
    if (v.startsWith("~")) return `${show(v)}: ~ is not expanded; write an absolute path or one relative to the project`;
    const bad = unsafeCharacter(v);
    if (bad && !(bad === "whitespace" && !/[\n\r\t]/.test(v))) return `${show(v)} contains ${bad}`;
    return undefined;
  });

export const osFamilySchema = z.enum(["debian", "rhel"]);

const hostFields = {
  name: text(checkHostName).describe("Host name: lowercase letters, digits and '-', unique across all hosts"),
  address: text(checkHostAddress).describe("IPv4/IPv6 address or DNS name that SSH, replication and file sync connect to"),
  sshUser: text(checkUnixName).optional().describe("SSH login user for this host (overrides ssh.user)"),
  sshPort: int(1, 65535).optional().describe("SSH port of this host (overrides ssh.port)"),
  osFamily: osFamilySchema.default("debian").describe("Operating system family; decides file paths and service names"),
  bindAddress: text(checkAddress)
    .optional()
    .describe("bind_address of this host's database server (overrides database.bindAddress)")
    .meta({ derivedDefault: "database.bindAddress, else the host's address" } satisfies DocMeta),
  web: bool()
    .default(false)
    .describe("Serve the site from this host (see web): web server and PHP, the site's virtual host on the mirrored tree, and a database account that is read-only on a mirror"),
};

/** A host's server_id: optional, derived from its role and position (cross.ts defaultServerId) when not set. */
const serverId = (doc: string, derivedDefault: string) =>
  int(1, 4294967295).optional().describe(doc).meta({ derivedDefault } satisfies DocMeta);

export const masterSchema = z.strictObject({
  ...hostFields,
  serverId: serverId("server_id of the master's database server", "1"),
});

export const mirrorSchema = z.strictObject({
  ...hostFields,
  serverId: serverId("server_id of this mirror's database server; set it to keep it stable when mirrors are removed", "100 + the mirror's index"),
  reseed: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,64}$/, { message: "expected a short token of letters, digits, '.', '_', ':' or '-' (e.g. a date)" })
    .optional()
    .describe("Change this token (e.g. to today's date) to copy the master onto this mirror again and restart replication"),
  changingAddress: bool()
    .default(false)
    .describe(
      "The mirror's address changes (e.g. a home DSL line): its replication account matches any client address ('%') and its TLS certificate is its identity; needs tls.enabled. Changing it re-seeds the mirror",
    ),
});

export const sshSchema = z.strictObject({
  user: text(checkUnixName).default("root").describe("Default SSH login user on every host"),
  port: int(1, 65535).default(22).describe("Default SSH port on every host"),
  privateKeyPath: localPath()
    .optional()
    .describe("Path (on the machine running Pulumi) of the SSH private key; or set the secret sshPrivateKey"),
  knownHostsPath: localPath()
    .optional()
    .describe("Path (on the machine running Pulumi) of a known_hosts file pinning the hosts' keys"),
});

/** database.version when it is not set, per flavour (resolve.ts). */
export const DEFAULT_VERSION = { mariadb: "10.11", mysql: "8.0" } as const;

export const databaseSchema = z.strictObject({
  flavour: z.enum(["mariadb", "mysql"]).default("mariadb").describe("Database server: mariadb or mysql"),
  version: z
    .string()
    .regex(/^[0-9]{1,2}\.[0-9]{1,2}$/, { message: "expected a major version like 10.11, 8.0 or 8.4" })
    .optional()
    .describe("Major version of the server packages on the hosts (MariaDB 10.5 or later, MySQL 8.0 or 8.4)")
    .meta({ derivedDefault: `"${DEFAULT_VERSION.mariadb}" for mariadb, "${DEFAULT_VERSION.mysql}" for mysql` } satisfies DocMeta),
  databases: z
    .array(text(checkDatabaseName))
    .min(1, { message: "list at least one database to replicate" })
    .describe("Names of the databases to replicate (letters, digits, '_'; not the system databases)"),
  binlogFormat: z
    .enum(["ROW", "STATEMENT", "MIXED"])
    .default("ROW")
    .describe("binlog_format on the master; STATEMENT and MIXED need allowUnsafeBinlogFormat"),
  allowUnsafeBinlogFormat: bool()
    .default(false)
    .describe("Accept STATEMENT/MIXED binlog formats, which can make mirrors diverge (insert/delete ordering)"),
  binlogRetentionDays: int(1, 365).default(7).describe("Days the master keeps binary logs"),
  mirrorBinlogRetentionDays: int(1, 365)
    .default(7)
    .describe("Days each mirror keeps its binary log (the replicated changes, for promoting it: mirrorctl switchover / failover)"),
  bindAddress: text(checkAddress)
    .optional()
    .describe("Default bind_address of every database server (e.g. 0.0.0.0)")
    .meta({ derivedDefault: "each host's address" } satisfies DocMeta),
  replicationUser: text(checkSqlUser)
    .default("mirrorstack_repl")
    .describe("Database user the mirrors replicate as ([A-Za-z0-9_], at most 32 characters)"),
  port: int(1, 65535).default(3306).describe("TCP port of every database server"),
  seedMethod: z
    .enum(["logical", "physical"])
    .default("logical")
    .describe("Initial copy: logical (consistent dump of the replicated databases) or physical (mariabackup stream of the whole instance, faster for large data)"),
  seedCompression: z
    .enum(["zstd", "none"])
    .default("zstd")
    .describe("How the seeding stream from the master to a new mirror is compressed: zstd (level 1, all cores; for links slower than the hosts' CPUs) or none (fast local networks)"),
  catchUpTimeoutSeconds: int(10, 86400)
    .default(900)
    .describe("Seconds a new mirror may take to catch up with the master after seeding before the deployment fails"),
  switchoverDeadlineSeconds: int(5, 3600)
    .default(30)
    .describe("Hard deadline of mirrorctl switchover/failover: past it, a switchover that has not promoted the new master yet is undone and the old master writable again (mirrorctl --deadline overrides it)"),
  switchoverMaxLagSeconds: int(0, 3600)
    .default(5)
    .describe("Most seconds a mirror may be behind the master for mirrorctl switchover to start"),
});

const treeSchema = z.preprocess(
  (v: string | { path: string; exclude?: string[] }) => (typeof v === "string" ? { path: v } : v),
  z.strictObject({
    path: text((v) => checkAbsolutePath(v, { spaces: true }), checkTreePath).describe(
      "Absolute directory to mirror, e.g. /srv/www; single spaces inside a name are allowed with rsync-ssh",
    ),
    exclude: z
      .array(text(checkExcludePattern))
      .default([])
      .describe("rsync exclude patterns relative to the tree (rsync-ssh only)"),
  }),
);

export const DEFAULT_RSYNC_OPTIONS = ["-az", "--delete-delay", "--partial"] as const;

export const filesSchema = z.strictObject({
  method: z
    .enum(["rsync-ssh", "nfs"])
    .default("rsync-ssh")
    .describe("How mirrors get the files: rsync-ssh (pull copies) or nfs (mount the master's exports)"),
  trees: z
    .array(treeSchema)
    .default([])
    .describe("Directories to mirror (a path string or {path, exclude}); none: no file mirroring")
    .meta({ docType: "array of path or {path, exclude}" } satisfies DocMeta),
  schedule: cron()
    .optional()
    .describe("Alias of cron.sync (set one of the two)")
    .meta({ derivedDefault: "cron.sync" } satisfies DocMeta),
  rsyncOptions: wordList(text(checkRsyncOption))
    .superRefine((opts, ctx) => {
      const err = checkRsyncOptionList(opts);
      if (err) ctx.addIssue({ code: "custom", message: err, input: opts });
    })
    .default([...DEFAULT_RSYNC_OPTIONS])
    .describe(`rsync options for the pull (a list or one string; -a is required, and at most one --delete-WHEN option); allowed: ${RSYNC_ALLOWED_DESCRIPTION}`)
    .meta({ docType: "array of string (or one string)" } satisfies DocMeta),
  syncUser: text(checkUnixName, (v) => (v === "root" ? '"root" cannot be the sync user' : undefined))
    .default("mirrorsync")
    .describe("Account on the master that mirrors log in as to read the trees (forced command, read-only)"),
  owner: text(checkOwner).optional().describe("Owner (name or uid) of mirrored files on the mirrors; unset: as on the master"),
  group: text(checkOwner).optional().describe("Group (name or gid) of mirrored files on the mirrors; unset: as on the master"),
  rsyncPath: text(
    (v) => checkAbsolutePath(v),
    (v) => (/^[A-Za-z0-9._/+-]+$/.test(v) ? undefined : `${show(v)} may only hold letters, digits and . _ / + -`),
  )
    .default("/usr/bin/rsync").describe("Path of the rsync binary on the master"),
  confineRoot: given<boolean | "auto" | "true" | "false">()
    .transform((v, ctx) => {
      if (v === "auto") return "auto" as const;
      if (v === true || v === "true") return true;
      if (v === false || v === "false") return false;
      ctx.addIssue({ code: "custom", message: `expected true, false or "auto", got ${show(v)}`, input: v });
      return z.NEVER;
    })
    .meta({ docType: "true \\| false \\| auto" } satisfies DocMeta)
    .default("auto")
    .describe("Have the master's rsync confine reads to the tree with --confine-root (rsync 3.5.0+); auto: when available"),
  allowOldRsync: bool()
    .default(false)
    .describe("Install the sync account on a master whose rsync is older than 3.4.0 (CVE-2024-12084/12085 are reachable by a pulling client); otherwise the deployment stops"),
});

/** files with nothing set: the defaults, for renderers and readers that take a partial files config. */
export const FILES_DEFAULTS = filesSchema.parse({});

/** Mirrors mount the master's exports under here by default, so the local copy can keep the tree's own path. */
export const NFS_MOUNT_ROOT = "/mnt/mirrorstack";

/** Where mirrors mount an export: its mountPoint, else its path under NFS_MOUNT_ROOT. */
export function exportMountPoint(e: { readonly path: string; readonly mountPoint?: string | undefined }): string {
  return e.mountPoint ?? `${NFS_MOUNT_ROOT}${e.path}`;
}

/** Where mirrors copy a mounted export: copyTo, else the export's own path; undefined when it is not pulled. */
export function exportCopyTo(e: { readonly path: string; readonly pull: boolean; readonly copyTo?: string | undefined }): string | undefined {
  return e.pull ? (e.copyTo ?? e.path) : undefined;
}

export const RPC_SERVICES = ["portmap", "rpcbind", "mountd", "lockd", "statd", "rquotad"] as const;

/** NFS clients (addresses, networks, names, wildcards); the mirrors' addresses when not set (resolve.ts). */
const clientList = (doc: string) =>
  z
    .array(text(checkClient))
    .min(1, { message: "list at least one client" })
    .optional()
    .describe(doc)
    .meta({ derivedDefault: "the mirrors' addresses" } satisfies DocMeta);

export const nfsExportSchema = z.strictObject({
  path: text((v) => checkAbsolutePath(v), checkTreePath).describe("Directory the master exports"),
  clients: clientList("Hosts allowed to mount (IP, CIDR, host name; wildcards need allowWildcard)"),
  access: z.enum(["ro", "rw"]).default("ro").describe("ro or rw; rw needs allowReadWrite"),
  sync: bool().default(true).describe("sync (true) or async (false) export option"),
  rootSquash: bool().default(true).describe("root_squash (true) or no_root_squash (false, needs allowNoRootSquash)"),
  subtreeCheck: bool().default(false).describe("subtree_check (true) or no_subtree_check (false)"),
  secure: bool().default(true).describe("secure (requests from ports below 1024 only) or insecure"),
  mountPoint: absolutePath()
    .optional()
    .describe("Where the mirrors mount this export")
    .meta({ derivedDefault: `${NFS_MOUNT_ROOT}<path>` } satisfies DocMeta),
  pull: bool()
    .default(true)
    .describe("Mirrors also copy the mounted export into copyTo on cron.sync (a local copy that survives the master); false: use the mount only"),
  copyTo: text((v) => checkAbsolutePath(v), checkTreePath)
    .optional()
    .describe("Where the mirrors keep their local copy of this export (pull: true)")
    .meta({ derivedDefault: "the export's path" } satisfies DocMeta),
  allowReadWrite: bool().default(false).describe("Confirm that access: rw is intended"),
  allowWildcard: bool().default(false).describe("Confirm that wildcard clients (*, *.example.org) are intended"),
  allowNoRootSquash: bool().default(false).describe("Confirm that rootSquash: false is intended"),
});

const nfsFilesystemSchema = z.strictObject({
  device: text(checkDevice).describe("fstab device of the export filesystem (UUID=, LABEL=, PARTUUID= or /dev/...)"),
  mountpoint: absolutePath().describe("Where the export filesystem is mounted on the master"),
  fstype: z.enum(["ext4", "ext3", "btrfs"]).default("ext4").describe("Filesystem type (one that takes the acl option)"),
  options: z
    .array(text(checkMountOption))
    .default(["defaults", "acl"])
    .describe("Mount options; must include acl"),
  dump: int(0, 1).default(0).describe("fstab dump field"),
  pass: int(0, 2).default(2).describe("fstab fsck pass field"),
});

export const nfsSchema = z.strictObject({
  exports: z
    .array(nfsExportSchema)
    .min(1, { message: "list at least one export" })
    .optional()
    .describe("Directories the master exports to the mirrors")
    .meta({ derivedDefault: "one read-only export per files.trees entry" } satisfies DocMeta),
  idmapDomain: text(checkDomain).default("localdomain").describe("NFSv4 id mapping domain (same on master and mirrors)"),
  nobodyUser: text(checkUnixName).default("nobody").describe("User unknown owners map to"),
  nobodyGroup: text(checkUnixName)
    .optional()
    .describe("Group unknown groups map to")
    .meta({ derivedDefault: "nogroup on debian, nobody on rhel" } satisfies DocMeta),
  threads: int(1, 256).default(8).describe("Number of nfsd threads on the master"),
  filesystem: nfsFilesystemSchema
    .optional()
    .describe("The export filesystem's fstab line on the master (managed block); unset: left alone"),
  mountOptions: z
    .array(text(checkMountOption, (v) => (v === "ro" || v === "rw" ? "ro/rw come from the export's access; leave them out" : undefined)))
    .default(["hard", "noatime", "nosuid", "nodev", "_netdev", "vers=4.2"])
    .describe("NFS mount options on the mirrors (ro/rw are added from the export's access)"),
  tcpWrappers: z
    .strictObject({
      enabled: bool().default(true).describe("Manage the hosts.allow/hosts.deny blocks for the RPC services"),
      services: z
        .array(z.enum(RPC_SERVICES))
        .min(1, { message: "list at least one service" })
        .default(["rpcbind", "mountd", "lockd", "statd", "rquotad"])
        .describe("RPC daemons restricted with TCP wrappers"),
      clients: clientList("Who may use those services"),
    })
    .prefault({})
    .describe("TCP wrappers (hosts.allow/hosts.deny) for the NFS RPC services on the master"),
});

/** The schedules of the jobs when neither cron.<job> nor its alias is set (resolve.ts). */
export const DEFAULT_SCHEDULES = {
  sync: "17 * * * *",
  backup: "40 3 * * *",
  binlogPurge: "10 4 * * *",
  healthCheck: "*/5 * * * *",
} as const;

export const cronSchema = z.strictObject({
  sync: cron()
    .optional()
    .describe("When mirrors pull the file trees (rsync-ssh)")
    .meta({ derivedDefault: `files.schedule, else "${DEFAULT_SCHEDULES.sync}"` } satisfies DocMeta),
  backup: cron()
    .optional()
    .describe("When the backup host dumps the databases")
    .meta({ derivedDefault: `backups.schedule, else "${DEFAULT_SCHEDULES.backup}"` } satisfies DocMeta),
  binlogPurge: cron()
    .optional()
    .describe("When the master rotates binary logs so expired ones are purged")
    .meta({ derivedDefault: `"${DEFAULT_SCHEDULES.binlogPurge}"` } satisfies DocMeta),
  healthCheck: cron()
    .optional()
    .describe("When every host checks its own health")
    .meta({ derivedDefault: `"${DEFAULT_SCHEDULES.healthCheck}"` } satisfies DocMeta),
});


/** A separate host that receives a copy of each backup over SSH, with its own restricted key. */
export const backupPushSchema = z.strictObject({
  name: text(checkHostName)
    .default("backup")
    .describe("Name of the backup host in messages and resource names (not one of the stack's host names)"),
  address: text(checkHostAddress).describe("Address (IPv4/IPv6 or DNS name) of the backup host; the backup-taking host and the deployment connect to it"),
  sshUser: text(checkUnixName)
    .optional()
    .describe("Login user of the deployment on the backup host")
    .meta({ derivedDefault: "ssh.user" } satisfies DocMeta),
  sshPort: int(1, 65535)
    .optional()
    .describe("SSH port of the backup host")
    .meta({ derivedDefault: "ssh.port" } satisfies DocMeta),
  osFamily: osFamilySchema.default("debian").describe("Operating system family of the backup host"),
  user: text(checkUnixName, (v) => (v === "root" ? '"root" cannot receive backups; name a dedicated account' : undefined))
    .default("mirrorbackup")
    .describe("Account on the backup host that receives the backups; its only key can do nothing but store a backup"),
  directory: text((v) => checkAbsolutePath(v), checkTreePath)
    .default("/var/backups/mirrorstack-pushed")
    .describe("Directory on the backup host holding the pushed backups (owned by user, mode 0700)"),
  retention: int(1, 1000)
    .optional()
    .describe("Number of pushed backups the backup host keeps")
    .meta({ derivedDefault: "backups.retention" } satisfies DocMeta),
  quotaMiB: int(1, 64 * 1024 * 1024)
    .default(10240)
    .describe(
      "Most MiB the pushed backups (stored and being uploaded) may take in backups.push.directory, each file counted as at least 16 KiB; the backup host refuses a push that would go over, and never deletes a stored backup to make room",
    ),
});

export const backupsSchema = z.strictObject({
  enabled: bool().default(true).describe("Take scheduled encrypted logical backups"),
  schedule: cron()
    .optional()
    .describe("Alias of cron.backup (set one of the two)")
    .meta({ derivedDefault: "cron.backup" } satisfies DocMeta),
  retention: int(1, 1000).default(7).describe("Number of backups kept"),
  destination: absolutePath().default("/var/backups/mirrorstack").describe("Directory on the backup host holding the backups"),
  host: text(checkHostName)
    .optional()
    .describe("Name of the host that takes the backups")
    .meta({ derivedDefault: "the first mirror" } satisfies DocMeta),
  push: backupPushSchema.optional().describe("Also push each backup over SSH to a separate backup host; unset: backups stay on the backup-taking host"),
});

export const healthSchema = z.strictObject({
  maxReplicationLagSeconds: int(1, 86400).default(300).describe("Replication lag above which a mirror reports unhealthy"),
  maxSyncAgeMinutes: int(1, 100000).default(180).describe("Age of the last successful file sync above which a mirror reports unhealthy"),
  diskWarnPercent: int(1, 99)
    .default(10)
    .describe("Free space (percent) of the database, binary log and mirrored-tree filesystems below which a host reports WARNING"),
  diskCritPercent: int(1, 99)
    .default(5)
    .describe("Free space (percent) below which a host reports CRITICAL (unhealthy); below diskWarnPercent"),
  vendorCommand: text(checkVendorCommand)
    .optional()
    .describe("RAID vendor status command each health check runs (with a timeout), e.g. \"/usr/sbin/tw_cli /c0 show\": a problem when it fails, or when a line whose first word names a port (p0, p1, ...) does not have OK as its second word (the ports are named; a port listed as NOT-PRESENT counts too)"),
  alertMail: text(checkMailAddress)
    .optional()
    .describe("Mail address told (through the host's /usr/sbin/sendmail -t; subject \"mirrorstack <stack> <host>: OK|FAIL\", the problems as body) when a host's health result changes; no repeat while it stays, a failed send is tried again on the next run"),
  alertCommand: text(checkVendorCommand)
    .optional()
    .describe("Command run (e.g. a webhook call; with a timeout) when a host's health result changes, with the new result on stdin (stack=, host=, checked=, status=ok|fail, problems= lines); no repeat while it stays, a failed run is tried again on the next check"),
});

/** A URL path: starts with "/", no spaces, quotes or control characters. */
const urlPath = () =>
  text((v) => (/^\/[A-Za-z0-9._~\/-]*$/.test(v) ? undefined : `${JSON.stringify(v)} is not a URL path like /index.php (letters, digits, . _ ~ - and /)`));

export const webSchema = z.strictObject({
  server: z.enum(["apache", "nginx"]).default("apache").describe("Web server on the web hosts: apache (with mod_php) or nginx (with PHP-FPM)"),
  documentRoot: text((v) => checkAbsolutePath(v), checkTreePath)
    .optional()
    .describe("The site's document root; inside one of files.trees, so each mirror serves its own synced copy; required when a host has web: true"),
  uploadsPath: text((v) => checkAbsolutePath(v), checkTreePath)
    .optional()
    .describe("Directory of the site's uploads (e.g. MediaWiki's images), served at uploadsUrl; inside one of files.trees"),
  uploadsUrl: urlPath().default("/images").describe("URL path the uploads are served at"),
  serverName: text(checkHostAddress)
    .optional()
    .describe("ServerName / server_name of the site's virtual host")
    .meta({ derivedDefault: "each web host's address" } satisfies DocMeta),
  database: text(checkDatabaseName)
    .optional()
    .describe("The site's database (one of database.databases); the web server's own system user gets a socket-authenticated account on it: all privileges on the master, SELECT only on a mirror")
    .meta({ derivedDefault: "the first of database.databases" } satisfies DocMeta),
  app: z
    .enum(["mediawiki", "generic"])
    .default("mediawiki")
    .describe("What the rendered include (/etc/mirrorstack/site.php) tells the application: mediawiki also sets $wgReadOnly on a mirror"),
  readOnlyMessage: text((v) => (/^[^'\\\n\r]{1,200}$/.test(v) ? undefined : "must be 1 to 200 characters without quotes, backslashes or line breaks"))
    .default("This is a read-only mirror of the site; changes are made on the master.")
    .describe("Message a mirror's application shows while it is read-only ($wgReadOnly for MediaWiki)"),
  checkPath: urlPath().default("/").describe("Page mirrorctl status fetches from each web host (expects HTTP 200)"),
  checkFile: urlPath()
    .optional()
    .describe("A mirrored file mirrorctl status fetches from each web host (expects HTTP 200 and the same bytes as on the master), e.g. /images/logo.png"),
});

export const tlsSchema = z.strictObject({
  enabled: bool()
    .default(false)
    .describe(
      "Encrypt replication with TLS: a stack-managed CA and one certificate per host, for serving as the master and replicating as a mirror (switchover and failover keep it); each replication account requires its host's certificate subject, and replicas verify the master's certificate",
    ),
  caValidityDays: int(30, 36500).default(3650).describe("Days the stack's CA certificate is valid (made once; not renewed by the stack)"),
  validityDays: int(2, 3650).default(365).describe("Days a host certificate is valid when signed"),
  renewBeforeDays: int(1, 3649)
    .default(30)
    .describe("`pulumi up` signs a certificate again (same key, no re-seed, no restart) once it expires within this many days; below validityDays"),
  warnDays: int(1, 3650).default(14).describe("`mirrorctl status` warns once a certificate on a host expires within this many days"),
});

/** The secrets: plain top-level keys that must be set with `pulumi config set --secret`. */
export const SECRET_KEYS = ["replicationPassword", "backupPassphrase", "sshPrivateKey"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

export const stackSchema = z.strictObject({
  master: masterSchema.describe("The master host (the database and files mirrors copy from)"),
  mirrors: z
    .array(mirrorSchema)
    .min(1, { message: "list at least one mirror" })
    .max(100, { message: "at most 100 mirrors" })
    .describe("The mirror hosts"),
  ssh: sshSchema.prefault({}).describe("How Pulumi reaches the hosts over SSH"),
  database: databaseSchema.describe("The replicated database server"),
  files: filesSchema.prefault({}).describe("File tree mirroring"),
  nfs: nfsSchema.optional().describe("NFS settings; used (and allowed) only when files.method is nfs"),
  cron: cronSchema.prefault({}).describe("Schedules of the jobs mirrorstack installs"),
  backups: backupsSchema.prefault({}).describe("Scheduled backups"),
  health: healthSchema.prefault({}).describe("Health check thresholds"),
  web: webSchema.prefault({}).describe("The site served from the hosts marked web: true"),
  tls: tlsSchema.prefault({}).describe("Encrypted, certificate-authenticated replication"),
  replicationPassword: z.string().describe("SECRET: password of the replication user, 16 to 32 characters (set with --secret)"),
  backupPassphrase: z
    .string()
    .optional()
    .describe("SECRET: passphrase that encrypts backups; required when backups.enabled (set with --secret)"),
  sshPrivateKey: z
    .string()
    .optional()
    .describe("SECRET: SSH private key (PEM/OpenSSH text), alternative to ssh.privateKeyPath (set with --secret)"),
});

export type StackInput = z.input<typeof stackSchema>;
export type StackParsed = z.output<typeof stackSchema>;

/** Top-level keys whose value is an object or array (Pulumi may pass them as JSON strings). */
export const STRUCTURED_KEYS: ReadonlySet<string> = new Set([
  "master", "mirrors", "ssh", "database", "files", "nfs", "cron", "backups", "health", "tls", "web",
]);
