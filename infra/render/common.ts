// Paths, headers and validation snippets shared by the renderers.
// Validation snippets are POSIX sh run on the host with $FILE set to the candidate file.

import type { Flavour, OsFamily } from "../config/types";
import type { FileBody } from "./types";
import { shq } from "../shell";

/** Header comment ('#' syntax) naming the stack; every rendered file starts with it. */
export function header(stack: string, what: "file" | "block" = "file"): string {
  return (
    `# This ${what} is managed by mirrorstack (stack: ${stack}). ` +
    `Do not edit: the next deployment overwrites it.`
  );
}

/**
 * A bare Pulumi stack name (Pulumi's own rule: letters, digits, . _ -, at most 100), as pulumi.getStack() returns
 * it and as stacks/Pulumi.<stack>.yaml is named. The one pattern for mirrorctl, render, review and the headers;
 * an org/project/stack name is refused (the stack file could not be found by it).
 */
export const STACK_NAME_RE = /^[A-Za-z0-9._-]{1,100}$/;

export const PATHS = {
  validateRsync: "/usr/local/lib/mirrorstack/validate-rsync",
  authorizedKeysDir: "/etc/ssh/authorized_keys",
  sshdDropIn: "/etc/ssh/sshd_config.d/60-mirrorstack.conf",
  syncKey: "/root/.ssh/mirrorstack_sync",
  knownHosts: "/etc/mirrorstack/known_hosts",
  backupPassphrase: "/etc/mirrorstack/backup-passphrase",
  logDir: "/var/log/mirrorstack",
  stateDir: "/var/lib/mirrorstack",
  syncStatus: "/var/lib/mirrorstack/sync-status",
  healthStatus: "/var/lib/mirrorstack/health-status",
  /** The health job's alert state: `<this>.mail` and `<this>.command`, the result each channel last told. */
  healthAlertState: "/var/lib/mirrorstack/health-alert",
  /** Where node_exporter's textfile collector (Debian's prometheus-node-exporter default) reads *.prom files. */
  healthMetrics: "/var/lib/prometheus/node-exporter/mirrorstack.prom",
  /** Software RAID state, read by the health job. */
  mdstat: "/proc/mdstat",
  sendmail: "/usr/sbin/sendmail",
  syncLock: "/run/lock/mirrorstack-sync.lock",
  backupLock: "/run/lock/mirrorstack-backup.lock",
  syncScript: "/usr/local/sbin/mirrorstack-sync",
  backupScript: "/usr/local/sbin/mirrorstack-backup",
  binlogPurgeScript: "/usr/local/sbin/mirrorstack-binlog-purge",
  healthScript: "/usr/local/sbin/mirrorstack-health",
  logrotate: "/etc/logrotate.d/mirrorstack",
  exports: "/etc/exports",
  hostsAllow: "/etc/hosts.allow",
  hostsDeny: "/etc/hosts.deny",
  idmapd: "/etc/idmapd.conf",
  fstab: "/etc/fstab",
  backupPushKey: "/root/.ssh/mirrorstack_backup_push",
  /** Replication TLS: the host's key (made there), its certificate and the stack's CA certificate (tls.enabled). */
  tlsDir: "/etc/mirrorstack/tls",
  backupKnownHosts: "/etc/mirrorstack/backup_known_hosts",
  backupReceive: "/usr/local/lib/mirrorstack/backup-receive",
  backupSshdDropIn: "/etc/ssh/sshd_config.d/61-mirrorstack-backup.conf",
  /** One directory per seed (its key pair, receiving script, pinned host keys), on the master and the new mirrors. */
  seedRunDir: "/run/mirrorstack-seed",
} as const;

export function myCnfPath(os: OsFamily, flavour: Flavour): string {
  if (os === "rhel") return "/etc/my.cnf.d/60-mirrorstack.cnf";
  return flavour === "mariadb" ? "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf" : "/etc/mysql/mysql.conf.d/60-mirrorstack.cnf";
}

/** Directory for binary and relay logs: Debian's packages log to /var/log/mysql, RHEL's keep them in the datadir. */
/** The database server's socket on a host (Debian /run/mysqld, RHEL /var/lib/mysql). */
export function dbSocket(os: OsFamily): string {
  return os === "rhel" ? "/var/lib/mysql/mysql.sock" : "/run/mysqld/mysqld.sock";
}

export function mysqlLogDir(os: OsFamily): string {
  return os === "rhel" ? "/var/lib/mysql" : "/var/log/mysql";
}

export function nfsDefaultsPath(os: OsFamily): string {
  return os === "rhel" ? "/etc/sysconfig/nfs" : "/etc/default/nfs-kernel-server";
}

export function nobodyGroupDefault(os: OsFamily): string {
  return os === "rhel" ? "nobody" : "nogroup";
}

// ---------------------------------------------------------------------------------------------------------------
// Validation snippets

export const VALIDATE_BASH = `bash -n "$FILE"`;

/** my.cnf drop-in: the client library parses it, and the server accepts every option in it. */
export function validateMyCnf(flavour: Flavour): string {
  const serverCheck =
    flavour === "mysql"
      ? // MySQL 8.0.16+: --validate-config checks the options and exits.
        `err=$("$bin" --defaults-file="$FILE" --validate-config 2>&1) || { printf '%s\\n' "$err" >&2; exit 1; }`
      : // MariaDB: --help --verbose parses every option and fails on an unknown one.
        `err=$("$bin" --defaults-file="$FILE" --help --verbose 2>&1 >/dev/null) || { printf '%s\\n' "$err" >&2; exit 1; }`;
  return [
    `out=$(my_print_defaults --defaults-file="$FILE" mysqld) || exit 1`,
    `[ -n "$out" ] || { echo "no [mysqld] options found in $FILE" >&2; exit 1; }`,
    `bin=`,
    `for b in ${flavour === "mariadb" ? "mariadbd mysqld /usr/sbin/mariadbd /usr/sbin/mysqld /usr/libexec/mariadbd /usr/libexec/mysqld" : "mysqld /usr/sbin/mysqld /usr/libexec/mysqld"}; do`,
    `  if command -v "$b" >/dev/null 2>&1; then bin=$(command -v "$b"); break; fi`,
    `done`,
    `[ -n "$bin" ] || { echo "no ${flavour} server binary found to check $FILE" >&2; exit 1; }`,
    serverCheck,
  ].join("\n");
}

/** /etc/cron.d file: each entry has 5 time fields, a user and a command; no '%'; ends with a newline. */
export const VALIDATE_CRON = [
  `[ -s "$FILE" ] || { echo "$FILE is empty" >&2; exit 1; }`,
  `[ -z "$(tail -c 1 "$FILE")" ] || { echo "$FILE does not end with a newline" >&2; exit 1; }`,
  `awk '`,
  `/^[ \\t]*(#|$)/ { next }`,
  `/^[A-Za-z_][A-Za-z0-9_]*=/ { next }`,
  `{`,
  `  if (NF < 7) { printf "line %d: expected 5 time fields, a user and a command\\n", NR; bad = 1; next }`,
  `  for (i = 1; i <= 5; i++) if ($i !~ /^[0-9*,\\/-]+$/) { printf "line %d: bad time field %s\\n", NR, $i; bad = 1 }`,
  `  if ($6 !~ /^[a-z_][a-z0-9_-]*$/) { printf "line %d: bad user field %s\\n", NR, $6; bad = 1 }`,
  `  if (index($0, "%") > 0) { printf "line %d: %% in a cron command must be escaped\\n", NR; bad = 1 }`,
  `}`,
  `END { exit bad }' "$FILE" >&2`,
].join("\n");

/** sshd drop-in: a temporary main config that includes only the candidate, checked by sshd -t. */
export const VALIDATE_SSHD_DROPIN = [
  `sshd=$(command -v sshd || echo /usr/sbin/sshd)`,
  `tmp=$(mktemp -d) || exit 1`,
  `trap 'rm -rf "$tmp"' EXIT`,
  `case "$FILE" in /*) f=$FILE ;; *) f=$PWD/$FILE ;; esac`,
  `printf 'Include %s\\n' "$f" > "$tmp/sshd_config"`,
  `ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_key" >/dev/null || exit 1`,
  `mkdir -p /run/sshd`,
  `"$sshd" -t -f "$tmp/sshd_config" -h "$tmp/host_key"`,
].join("\n");

/**
 * authorized_keys of the sync account: every key line is restricted to the forced command and a from= address,
 * and ssh-keygen reads each one as a key (options included). Comment-only files are fine.
 */
export function validateAuthorizedKeys(command: string): string {
  return [
    `tmp=$(mktemp) || exit 1`,
    `trap 'rm -f "$tmp"' EXIT`,
    `grep -Ev '^[[:space:]]*(#|$)' "$FILE" | while IFS= read -r line; do`,
    `  case "$line" in`,
    `    'restrict,from="'*'",command="${command}" '*) ;;`,
    `    *) echo "key line without restrict,from=...,command=\"${command}\": $line" >&2; exit 1 ;;`,
    `  esac`,
    `  printf '%s\n' "$line" > "$tmp"`,
    `  ssh-keygen -l -f "$tmp" >/dev/null 2>&1 || { echo "not a valid key line: $line" >&2; exit 1; }`,
    `done`,
  ].join("\n");
}

/** /etc/exports: each entry is an absolute path followed by client(options) items. */
export const VALIDATE_EXPORTS = [
  `awk '`,
  `/^[ \\t]*(#|$)/ { next }`,
  `{`,
  `  if ($1 !~ /^\\//) { printf "line %d: %s is not an absolute path\\n", NR, $1; bad = 1 }`,
  `  if (NF < 2) { printf "line %d: no clients\\n", NR; bad = 1 }`,
  `  for (i = 2; i <= NF; i++) if ($i !~ /^[^()]+\\([a-z0-9_=,]+\\)$/) { printf "line %d: bad client %s\\n", NR, $i; bad = 1 }`,
  `}`,
  `END { exit bad }' "$FILE" >&2`,
].join("\n");

/** hosts.allow / hosts.deny: every rule is `daemons : clients`. */
export const VALIDATE_HOSTS_ACCESS = [
  `awk '`,
  `/^[ \\t]*(#|$)/ { next }`,
  `!/^[A-Za-z0-9_.,@ \\t-]+:[ \\t]*[^ \\t]/ { printf "line %d: expected \\"daemons : clients\\"\\n", NR; bad = 1 }`,
  `END { exit bad }' "$FILE" >&2`,
].join("\n");

/** Shell-style KEY=value defaults files (/etc/default/nfs-kernel-server, /etc/sysconfig/nfs). */
export const VALIDATE_ENV_FILE = [
  `bash -n "$FILE" || exit 1`,
  `awk '`,
  `/^[ \\t]*(#|$)/ { next }`,
  `!/^[A-Z_][A-Z0-9_]*=("[^"$\`\\\\]*"|[A-Za-z0-9_.\\/-]*)$/ { printf "line %d: expected KEY=value\\n", NR; bad = 1 }`,
  `END { exit bad }' "$FILE" >&2`,
].join("\n");

/** idmapd.conf: [Section] headers and `Key = value` lines only. */
export const VALIDATE_INI = [
  `awk '`,
  `/^[ \\t]*(#|;|$)/ { next }`,
  `/^\\[[A-Za-z]+\\]$/ { next }`,
  `!/^[A-Za-z-]+[ \\t]*=[ \\t]*[^ \\t].*$/ { printf "line %d: expected [Section] or Key = value\\n", NR; bad = 1 }`,
  `END { exit bad }' "$FILE" >&2`,
].join("\n");

/**
 * fstab with the managed block: findmnt parses the whole file without parse errors, and reports no error for the
 * block's own mount points except a missing target directory (systemd creates mount points when mounting).
 */
export function validateFstab(targets: readonly string[]): string {
  return [
    `out=$(LC_ALL=C findmnt --verify --verbose --tab-file "$FILE" 2>&1)`,
    `printf '%s\\n' "$out" | grep -Eq '^(0 parse errors|Success, no errors or warnings detected)' || { printf '%s\\n' "$out" >&2; exit 1; }`, // findmnt says the latter when there is no warning at all
    `printf '%s\\n' "$out" | awk -v targets=${shq(targets.join(" "))} '`,
    `BEGIN { n = split(targets, t, " "); for (i = 1; i <= n; i++) mine[t[i]] = 1 }`,
    `/^[^ \\t]/ { cur = $0; next }`,
    `/\\[E\\]/ && (cur in mine) && $0 !~ /required target: No such file or directory/ { print cur ": " $0; bad = 1 }`,
    `END { exit bad }' >&2 || exit 1`,
    // Our own lines: six fields, no empty mount option, numeric dump and pass.
    `awk -v targets=${shq(targets.join(" "))} '`,
    `BEGIN { n = split(targets, t, " "); for (i = 1; i <= n; i++) mine[t[i]] = 1 }`,
    `/^[ \\t]*(#|$)/ { next }`,
    `($2 in mine) && (NF != 6 || $4 ~ /(^|,)(,|$)/ || $5 !~ /^[0-9]$/ || $6 !~ /^[0-9]$/) { printf "line %d: malformed entry for %s\\n", NR, $2; bad = 1 }`,
    `END { exit bad }' "$FILE" >&2`,
  ].join("\n");
}

/** logrotate snippet: logrotate's debug mode parses it without rotating anything. */
export const VALIDATE_LOGROTATE = [
  `command -v logrotate >/dev/null 2>&1 || { echo "logrotate is not installed" >&2; exit 1; }`,
  `tmp=$(mktemp) || exit 1`,
  `trap 'rm -f "$tmp"' EXIT`,
  `logrotate -d -s "$tmp" "$FILE" 2>&1 | grep -i '^error' >&2 && exit 1`,
  `exit 0`,
].join("\n");

/** A root-owned bash script (0755), checked with bash -n on its host before it replaces the old one. */
export function rootScript(path: string, content: string, description: string): FileBody {
  return { path, kind: "whole", owner: "root", group: "root", mode: "0755", content, secret: false, validate: VALIDATE_BASH, onChange: [], description };
}
