// SQL text for replication, per database flavour and version. Pure: every function returns statements
// ({sql, values}) and never talks to a server. Values go through mysql2's client-side `format` (`?`
// placeholders, run them with `connection.query`, never `execute`: CREATE USER / CHANGE MASTER cannot be
// prepared). Identifiers are never taken from `?`-formatting; user and host names are validated strictly
// before they reach a placeholder, so a name can neither inject SQL nor widen an account to a wildcard.
//
// Supported versions (anything else throws UnsupportedVersionError naming `database.version`):
//   MariaDB 10.5 and later (10.11 is tested live). MariaDB keeps the MASTER/SLAVE spellings everywhere;
//     they are not deprecated there, so they are used for every MariaDB version.
//   MySQL 8.0.23 and later 8.0 releases, and 8.4 LTS. 8.0.23 introduced CHANGE REPLICATION SOURCE TO and
//     GET_SOURCE_PUBLIC_KEY; START/STOP/RESET/SHOW REPLICA came in 8.0.22; SOURCE_POS_WAIT in 8.0.26 (8.0.23
//     to 8.0.25 use MASTER_POS_WAIT); SHOW BINARY LOG STATUS in 8.2 (8.4 removed SHOW MASTER STATUS and
//     every other MASTER/SLAVE spelling). "8.0" without a patch number means the current 8.0 release
//     (what the package repositories install today, well past 8.0.23). Innovation releases (8.1 - 8.3, 9.x)
//     and 5.7 are refused.

import { format } from "mysql2";

export type Flavour = "mariadb" | "mysql";

/** Flavour and version as given in the stack config (`database.flavour`, `database.version`). */
export interface DbEngine {
  readonly flavour: Flavour;
  /** "10.11", "10.11.6", "8.0", "8.0.36", "8.4"; a server's VERSION() string is accepted too. */
  readonly version: string;
}

/** One statement: SQL with `?` placeholders and the values for them (mysql2 `format` semantics). */
export interface Stmt {
  readonly sql: string;
  readonly values: readonly unknown[];
  /** Indexes into `values` that are secrets (passwords): `render(stmt, {redact: true})` hides them. */
  readonly secret?: readonly number[];
}

/** A wait-for-position statement: `interpret` turns the single `result` column into an outcome. */
export interface WaitStmt extends Stmt {
  readonly interpret: (result: unknown) => WaitOutcome;
}

/** reached: the replica has applied the position; timeout: not yet; not-running: the SQL thread is not running or replication is not configured. */
export type WaitOutcome = "reached" | "timeout" | "not-running";

/** Where a replica starts reading: binlog coordinates, or GTID. */
export type SourcePosition =
  | { readonly kind: "file"; readonly file: string; readonly pos: number }
  /**
   * GTID auto-positioning. MariaDB: `gtid` (a gtid_slave_pos value such as "0-1-42") is set first with
   * SET GLOBAL gtid_slave_pos; without it the replica's current gtid_slave_pos is used. MySQL: the replica
   * asks the source for everything not in its gtid_executed; `gtid`, when given, is written to
   * gtid_purged first (only valid while the replica's gtid_executed is empty, i.e. right after seeding).
   */
  | { readonly kind: "gtid"; readonly gtid?: string };

export interface ChangeSourceOptions {
  /** Address of the master as the mirror reaches it (literal IP or host name). */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly position: SourcePosition;
  /**
   * true: encrypt the replication connection (MASTER_SSL=1 / SOURCE_SSL=1; the source must have TLS
   * configured). false: plain connection (MASTER_SSL=0 / SOURCE_SSL=0). Unset: server default.
   * MySQL's default account plugin is caching_sha2_password, which needs either TLS or RSA key exchange
   * for the first login: without TLS we add GET_SOURCE_PUBLIC_KEY=1 (the replica fetches the source's RSA
   * public key; this protects the password on the wire but trusts the key it is sent).
   */
  readonly ssl?: boolean;
  /** With ssl: the client side's files on the replica and whether it verifies the source's certificate. */
  readonly tls?: ReplicaTls;
  /** Seconds between reconnection attempts (MASTER_CONNECT_RETRY / SOURCE_CONNECT_RETRY). */
  readonly connectRetrySeconds?: number;
}

/** The replica's TLS files (absolute paths on the replica, readable by the server's user). */
export interface ReplicaTls {
  readonly caPath: string;
  readonly certPath: string;
  readonly keyPath: string;
  /** MASTER_SSL_VERIFY_SERVER_CERT / SOURCE_SSL_VERIFY_SERVER_CERT: the source's certificate must name MASTER_HOST. */
  readonly verifyServerCert: boolean;
}

/** What a replication account requires of the client's certificate (distinguished names as OpenSSL prints them, "/CN=..."). */
export interface CertificateRequirement {
  readonly subject: string;
  readonly issuer: string;
}

/** The account host that matches any address: only for an account that requires a certificate (its identity). */
export const ANY_HOST = "%";

export interface ReplicationAccount {
  /** Replication user name (the same name is used for every mirror; the host part differs). */
  readonly user: string;
  /**
   * The mirror's address as the master sees it: a literal IP address or a host name, never a pattern. The one
   * exception is ANY_HOST ('%') for a mirror with a changing address, and only together with `requireCertificate`.
   */
  readonly host: string;
  /** REQUIRE SUBJECT ... AND ISSUER ...: the account logs in only over TLS with this client certificate. */
  readonly requireCertificate?: CertificateRequirement;
}

export interface CreateReplicationUserOptions extends ReplicationAccount {
  readonly password: string;
  /**
   * Write the account statements to the master's binary log (so they replicate to mirrors)? Default
   * false: they run with sql_log_bin=0 in this session. Mirrors seeded with only the application
   * databases do not have the account, and a replicated ALTER USER for a missing account stops the
   * mirror's SQL thread (error 1396).
   */
  readonly replicate?: boolean;
}

export class UnsupportedVersionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedVersionError";
  }
}

export class UnsafeValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeValueError";
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Versions

export interface ParsedVersion {
  readonly major: number;
  readonly minor: number;
  /** Undefined when the version was given as major.minor only. */
  readonly patch?: number;
}

/** Parses "10.11", "8.0.36", "10.11.6-MariaDB-0+deb12u1", "8.0.36-0ubuntu0.22.04.1". */
export function parseVersion(version: string): ParsedVersion {
  const m = /^\s*(\d+)\.(\d+)(?:\.(\d+))?(?:[-+~_ ].*)?\s*$/.exec(version);
  if (!m) throw new UnsupportedVersionError(`database.version "${version}" is not a version number like 10.11 or 8.0.36`);
  return { major: Number(m[1]), minor: Number(m[2]), ...(m[3] !== undefined ? { patch: Number(m[3]) } : {}) };
}

/** The engine a server reports, from `SELECT VERSION()` (MariaDB's contains "MariaDB"). */
export function engineFromServerVersion(serverVersion: string): DbEngine {
  const flavour: Flavour = /mariadb/i.test(serverVersion) ? "mariadb" : "mysql";
  // MariaDB 10.x used to report "5.5.5-10.x.y-MariaDB" on the wire; VERSION() is clean, but accept both.
  const v = serverVersion.replace(/^5\.5\.5-/, "");
  const p = parseVersion(v);
  return { flavour, version: `${p.major}.${p.minor}${p.patch !== undefined ? "." + p.patch : ""}` };
}

function cmp(a: ParsedVersion, major: number, minor: number, patch = 0): number {
  return a.major - major || a.minor - minor || (a.patch ?? Number.MAX_SAFE_INTEGER) - patch;
}

/** What differs between supported versions. */
export interface DialectFeatures {
  readonly flavour: Flavour;
  readonly version: ParsedVersion;
  /** "SLAVE" (MariaDB) or "REPLICA" (MySQL 8.0.22+). */
  readonly replicaWord: "SLAVE" | "REPLICA";
  readonly changeSource: "CHANGE MASTER TO" | "CHANGE REPLICATION SOURCE TO";
  /** Option prefix inside the CHANGE statement. */
  readonly optionPrefix: "MASTER_" | "SOURCE_";
  readonly posWaitFunction: "MASTER_POS_WAIT" | "SOURCE_POS_WAIT";
  readonly sourceStatus: "SHOW MASTER STATUS" | "SHOW BINARY LOG STATUS";
  /** Longest replication password the CHANGE statement accepts. */
  readonly maxPasswordLength: number;
  /** Longest user name. */
  readonly maxUserLength: number;
}

/** Checks flavour + version and returns the spellings to use; throws UnsupportedVersionError otherwise. */
export function features(engine: DbEngine): DialectFeatures {
  const v = parseVersion(engine.version);
  const shown = `database.version "${engine.version}"`;
  if (engine.flavour === "mariadb") {
    if (v.major < 10 || (v.major === 10 && v.minor < 5)) {
      throw new UnsupportedVersionError(`${shown} is not supported for MariaDB: mirrorstack needs MariaDB 10.5 or later (10.11 LTS recommended)`);
    }
    return {
      flavour: "mariadb",
      version: v,
      replicaWord: "SLAVE",
      changeSource: "CHANGE MASTER TO",
      optionPrefix: "MASTER_",
      posWaitFunction: "MASTER_POS_WAIT",
      sourceStatus: "SHOW MASTER STATUS",
      // MariaDB 10.11 refuses longer MASTER_PASSWORDs ("should be no longer than 96"), echoing the start of it.
      maxPasswordLength: 96,
      maxUserLength: 80,
    };
  }
  if (engine.flavour === "mysql") {
    const supported = "mirrorstack supports MySQL 8.0 (8.0.23 or later) and 8.4 LTS";
    if (v.major === 8 && v.minor === 0) {
      if (v.patch !== undefined && v.patch < 23) {
        throw new UnsupportedVersionError(`${shown} is not supported: ${supported} (CHANGE REPLICATION SOURCE TO needs 8.0.23)`);
      }
    } else if (!(v.major === 8 && v.minor === 4)) {
      throw new UnsupportedVersionError(`${shown} is not supported: ${supported}`);
    }
    return {
      flavour: "mysql",
      version: v,
      replicaWord: "REPLICA",
      changeSource: "CHANGE REPLICATION SOURCE TO",
      optionPrefix: "SOURCE_",
      posWaitFunction: cmp(v, 8, 0, 26) >= 0 ? "SOURCE_POS_WAIT" : "MASTER_POS_WAIT",
      sourceStatus: cmp(v, 8, 2, 0) >= 0 ? "SHOW BINARY LOG STATUS" : "SHOW MASTER STATUS",
      // SOURCE_PASSWORD is limited to 32 characters (ER_CHANGE_SOURCE_PASSWORD_LENGTH).
      maxPasswordLength: 32,
      maxUserLength: 32,
    };
  }
  throw new UnsupportedVersionError(`database.flavour "${String((engine as { flavour: unknown }).flavour)}" is not mariadb or mysql`);
}

// ---------------------------------------------------------------------------------------------------------------
// Validation of values that end up in account names and CHANGE statements

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** A replication user name: no quotes, backslashes, control characters, `%` or whitespace. */
export function checkUserName(user: string, maxLength = 32): void {
  if (typeof user !== "string" || user.length === 0) throw new UnsafeValueError("replication user name is empty (anonymous accounts are not allowed)");
  if (user.length > maxLength) throw new UnsafeValueError(`replication user name "${user}" is longer than ${maxLength} characters`);
  if (/['"`\\%\s]/.test(user) || CONTROL.test(user)) {
    throw new UnsafeValueError(`replication user name ${JSON.stringify(user)} must not contain quotes, backslashes, whitespace, control characters or %`);
  }
}

const HOSTNAME_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** True for a literal IPv4/IPv6 address or an RFC 1123 host name (no wildcards, no netmasks). */
export function isLiteralHost(host: string): boolean {
  if (typeof host !== "string" || host.length === 0 || host.length > 253) return false;
  // node's own address parser (required here, not imported: this module is serialized into dynamic providers);
  // an IPv6 zone index (%eth0) is never a literal host for an account or a MASTER_HOST.
  const net = require("net") as typeof import("net");
  const family = net.isIP(host);
  if (family === 4 || (family === 6 && !host.includes("%"))) return true;
  if (/^[\d.]+$/.test(host)) return false; // looks like a broken IPv4 address
  return host.split(".").every((l) => HOSTNAME_LABEL.test(l));
}

/** The host part of an account or a MASTER_HOST: a literal IP address or host name, never `%`, `_`, a netmask or a quote. */
export function checkHost(host: string, what = "host"): void {
  if (typeof host !== "string" || host.length === 0) throw new UnsafeValueError(`${what} is empty`);
  if (/['"`\\%_\s/*]/.test(host) || CONTROL.test(host)) {
    throw new UnsafeValueError(
      `${what} ${JSON.stringify(host)} must be a literal IP address or host name: quotes, backslashes, whitespace, %, _ and netmasks are not allowed`,
    );
  }
  if (!isLiteralHost(host)) throw new UnsafeValueError(`${what} ${JSON.stringify(host)} is not a literal IP address or host name`);
}

/**
 * A replication password. It is escaped when formatted, but the replica also keeps it in its connection
 * metadata (master.info, a line-based file on MariaDB), and the CHANGE statement caps its length (MySQL
 * 32, MariaDB 96 characters).
 */
export function checkPassword(password: string, maxLength = 32): void {
  if (typeof password !== "string" || password.length === 0) throw new UnsafeValueError("the replication password is empty");
  if (CONTROL.test(password)) throw new UnsafeValueError("the replication password must not contain control characters or newlines");
  if (password.length > maxLength) {
    throw new UnsafeValueError(`the replication password is ${password.length} characters long; CHANGE MASTER/REPLICATION SOURCE accepts at most ${maxLength}`);
  }
}

/** A distinguished name in OpenSSL's "/K=V/K=V" form: printable, no quotes or backslashes (it is compared as text). */
export function checkDistinguishedName(dn: string, what = "certificate subject"): void {
  if (typeof dn !== "string" || !/^(\/[A-Za-z]+=[A-Za-z0-9 ._:@-]+)+$/.test(dn) || dn.length > 255) {
    throw new UnsafeValueError(`${what} ${JSON.stringify(dn)} is not a distinguished name like /O=mirrorstack/CN=mirror1`);
  }
}

/** An absolute path of a TLS file on the replica (it goes into the replica's connection metadata). */
export function checkTlsPath(p: string, what: string): void {
  if (typeof p !== "string" || !/^\/[A-Za-z0-9._/-]+$/.test(p) || p.includes("..") || p.length > 255) {
    throw new UnsafeValueError(`${what} ${JSON.stringify(p)} is not a plain absolute path`);
  }
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UnsafeValueError(`port ${String(port)} is not an integer from 1 to 65535`);
}

/** A binary log file name as SHOW BINARY LOGS prints it (no directory). */
export function checkBinlogFile(file: string): void {
  if (typeof file !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(file) || file.length > 255) {
    throw new UnsafeValueError(`binary log file name ${JSON.stringify(file)} is not a plain file name like mysql-bin.000042`);
  }
}

function checkBinlogPos(pos: number): void {
  if (!Number.isSafeInteger(pos) || pos < 4) throw new UnsafeValueError(`binary log position ${String(pos)} is not an integer of at least 4`);
}

/** A MariaDB GTID position ("0-1-42,1-2-7") or, for MySQL, a GTID set ("uuid:1-42,uuid:tag:1-3"). */
export function checkGtid(flavour: Flavour, gtid: string): void {
  const ok =
    flavour === "mariadb"
      ? /^(\d+-\d+-\d+(,\s*\d+-\d+-\d+)*)?$/.test(gtid)
      : /^[0-9A-Fa-f-]{36}(:[A-Za-z0-9_]+)*(:\d+(-\d+)?)+(,\s*[0-9A-Fa-f-]{36}(:[A-Za-z0-9_]+)*(:\d+(-\d+)?)+)*$|^$/.test(gtid);
  if (!ok) throw new UnsafeValueError(`GTID ${JSON.stringify(gtid)} is not a valid ${flavour === "mariadb" ? "MariaDB GTID position" : "MySQL GTID set"}`);
}

function checkTimeout(seconds: number): void {
  if (!Number.isFinite(seconds) || seconds < 0) throw new UnsafeValueError(`timeout ${String(seconds)} is not a non-negative number of seconds`);
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering

/** Renders a statement to SQL text (mysql2 `format`), e.g. for logs; `redact` hides secret values. */
export function render(stmt: Stmt, opts: { redact?: boolean } = {}): string {
  const secret = new Set(stmt.secret ?? []);
  const values = stmt.values.map((v, i) => (opts.redact && secret.has(i) ? "<redacted>" : v));
  return format(stmt.sql, values as unknown[]);
}

/** A statement without placeholders. */
export function stmt(sql: string, values: readonly unknown[] = [], secret?: readonly number[]): Stmt {
  return secret ? { sql, values, secret } : { sql, values };
}

// ---------------------------------------------------------------------------------------------------------------
// The dialect

export interface Dialect {
  readonly features: DialectFeatures;

  /**
   * Creates the replication account for one mirror if missing, (re)sets its password and grants
   * REPLICATION SLAVE ON *.* - nothing else. Physical seeding (mariabackup / xtrabackup run on the master
   * as root over the unix socket) needs no privilege on this account.
   */
  createReplicationUser(opts: CreateReplicationUserOptions): Stmt[];
  /** Drops a mirror's replication account (mirror removed), without binlogging it. */
  dropReplicationUser(account: ReplicationAccount & { readonly replicate?: boolean }): Stmt[];
  /** SHOW GRANTS FOR user@host. */
  showGrants(account: ReplicationAccount): Stmt;
  /** The replica's TLS settings only (MASTER_SSL=1, the files, verification; null: TLS off): the replica keeps its position. Run while the replica is stopped. */
  changeSourceTls(tls: ReplicaTls | null): Stmt;
  /** Makes the running server read its TLS certificate, key and CA files again (MariaDB FLUSH SSL, MySQL ALTER INSTANCE RELOAD TLS). */
  reloadServerTls(): Stmt;
  /** The server's certificate file (ssl_cert, '' when none) and, on MariaDB, whether it serves TLS (have_ssl YES). */
  serverTlsFiles(): Stmt;

  /** Points the replica at the source: [SET GLOBAL gtid_slave_pos/gtid_purged,] CHANGE ... in one statement. Run while the replica is stopped. */
  changeSource(opts: ChangeSourceOptions): Stmt[];
  /** CHANGE ... TO MASTER_PASSWORD / SOURCE_PASSWORD only: new credentials, the replica keeps its position. Run while the replica is stopped. */
  changeSourcePassword(password: string): Stmt;
  startReplica(): Stmt;
  stopReplica(): Stmt;
  /** RESET SLAVE ALL / RESET REPLICA ALL (forgets the source and the credentials). Needs the replica stopped. */
  resetReplicaAll(): Stmt;
  /** STOP + RESET ... ALL. */
  fullReset(): Stmt[];
  /** SHOW SLAVE STATUS / SHOW REPLICA STATUS; normalize the row with status.ts. */
  showReplicaStatus(): Stmt;

  /** SHOW MASTER STATUS / SHOW BINARY LOG STATUS (columns File, Position, ...). */
  showSourceStatus(): Stmt;
  /** The source's GTID position: MariaDB gtid_binlog_pos + gtid_current_pos; MySQL gtid_executed. */
  gtidPosition(): Stmt;
  /** MariaDB only: the GTID position matching binlog coordinates (BINLOG_GTID_POS). */
  gtidForCoordinates(file: string, pos: number): Stmt;
  /** Waits on the replica until it has applied `position` or `timeoutSeconds` passed; one row, column `result`. */
  waitForPosition(position: { readonly file: string; readonly pos: number } | { readonly gtid: string }, timeoutSeconds: number): WaitStmt;

  /** SHOW BINARY LOGS (columns Log_name, File_size[, Encrypted]). */
  showBinaryLogs(): Stmt;
  /** PURGE BINARY LOGS TO 'file': deletes every binary log before `file` (`file` itself is kept). */
  purgeBinaryLogsTo(file: string): Stmt;
}

/** `SELECT VERSION()` for engineFromServerVersion. */
export const SELECT_VERSION: Stmt = stmt("SELECT VERSION() AS version");

function withoutBinlog(stmts: Stmt[], replicate: boolean | undefined): Stmt[] {
  if (replicate) return stmts;
  return [stmt("SET SESSION sql_log_bin = 0"), ...stmts, stmt("SET SESSION sql_log_bin = 1")];
}

/** The dialect for a flavour + version; throws UnsupportedVersionError for unsupported versions. */
export function dialect(engine: DbEngine): Dialect {
  const f = features(engine);
  const maria = f.flavour === "mariadb";
  const P = f.optionPrefix;
  const W = f.replicaWord;

  const account = (a: ReplicationAccount) => {
    checkUserName(a.user, f.maxUserLength);
    if (a.requireCertificate) {
      checkDistinguishedName(a.requireCertificate.subject, "required certificate subject");
      checkDistinguishedName(a.requireCertificate.issuer, "required certificate issuer");
    }
    // Any address only where the certificate is the identity; never a partial pattern.
    if (a.host === ANY_HOST && a.requireCertificate) return;
    checkHost(a.host, "replication account host");
  };
  const require = (a: ReplicationAccount): { sql: string; values: unknown[] } =>
    a.requireCertificate
      ? { sql: " REQUIRE SUBJECT ? AND ISSUER ?", values: [a.requireCertificate.subject, a.requireCertificate.issuer] }
      : { sql: " REQUIRE NONE", values: [] };
  const sslOptions = (t: ReplicaTls): { parts: string[]; values: unknown[] } => {
    checkTlsPath(t.caPath, "TLS CA file");
    checkTlsPath(t.certPath, "TLS certificate file");
    checkTlsPath(t.keyPath, "TLS key file");
    return {
      parts: [`${P}SSL = 1`, `${P}SSL_CA = ?`, `${P}SSL_CERT = ?`, `${P}SSL_KEY = ?`, `${P}SSL_VERIFY_SERVER_CERT = ${t.verifyServerCert ? 1 : 0}`],
      values: [t.caPath, t.certPath, t.keyPath],
    };
  };

  return {
    features: f,

    createReplicationUser(o) {
      account(o);
      checkPassword(o.password, f.maxPasswordLength);
      // REQUIRE on ALTER USER (which always runs): an account made before TLS, or after it was turned off, is brought in line.
      const r = require(o);
      return withoutBinlog(
        [
          stmt("CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?", [o.user, o.host, o.password], [2]),
          stmt(`ALTER USER ?@? IDENTIFIED BY ?${r.sql}`, [o.user, o.host, o.password, ...r.values], [2]),
          stmt("GRANT REPLICATION SLAVE ON *.* TO ?@?", [o.user, o.host]),
        ],
        o.replicate,
      );
    },

    dropReplicationUser(a) {
      account(a);
      return withoutBinlog([stmt("DROP USER IF EXISTS ?@?", [a.user, a.host])], a.replicate);
    },

    showGrants(a) {
      account(a);
      return stmt("SHOW GRANTS FOR ?@?", [a.user, a.host]);
    },

    changeSourceTls(t) {
      // Off explicitly: CHANGE keeps what it does not name, and a replica still asking for TLS from a master that
      // no longer offers it stops ("SSL is required, but the server does not support it").
      if (t === null) return stmt(`${f.changeSource} ${P}SSL = 0, ${P}SSL_VERIFY_SERVER_CERT = 0`);
      const o = sslOptions(t);
      return stmt(`${f.changeSource} ${o.parts.join(", ")}`, o.values);
    },

    reloadServerTls: () => stmt(maria ? "FLUSH SSL" : "ALTER INSTANCE RELOAD TLS"),
    serverTlsFiles: () => stmt(maria ? "SELECT IFNULL(@@ssl_cert, '') AS ssl_cert, @@have_ssl AS have_ssl" : "SELECT IFNULL(@@ssl_cert, '') AS ssl_cert"),

    changeSource(o) {
      checkHost(o.host, "source host");
      checkPort(o.port);
      checkUserName(o.user, f.maxUserLength);
      checkPassword(o.password, f.maxPasswordLength);
      const parts: string[] = [`${P}HOST = ?`, `${P}PORT = ?`, `${P}USER = ?`, `${P}PASSWORD = ?`];
      const values: unknown[] = [o.host, o.port, o.user, o.password];
      const secret = [3];
      const pre: Stmt[] = [];
      const pos = o.position;
      if (pos.kind === "file") {
        checkBinlogFile(pos.file);
        checkBinlogPos(pos.pos);
        parts.push(`${P}LOG_FILE = ?`, `${P}LOG_POS = ?`);
        values.push(pos.file, pos.pos);
        // A replica switched from GTID back to coordinates must drop auto-positioning explicitly.
        parts.push(maria ? "MASTER_USE_GTID = no" : "SOURCE_AUTO_POSITION = 0");
      } else if (pos.kind === "gtid") {
        if (pos.gtid !== undefined) {
          checkGtid(f.flavour, pos.gtid);
          pre.push(maria ? stmt("SET GLOBAL gtid_slave_pos = ?", [pos.gtid]) : stmt("SET GLOBAL gtid_purged = ?", [pos.gtid]));
        }
        parts.push(maria ? "MASTER_USE_GTID = slave_pos" : "SOURCE_AUTO_POSITION = 1");
      } else {
        throw new UnsafeValueError(`unknown source position kind ${JSON.stringify((pos as { kind: unknown }).kind)}`);
      }
      if (o.ssl === true && o.tls) {
        const t = sslOptions(o.tls);
        parts.push(...t.parts);
        values.push(...t.values);
      } else if (o.ssl === true) parts.push(`${P}SSL = 1`);
      else if (o.ssl === false) parts.push(`${P}SSL = 0`);
      if (!maria && o.ssl !== true) parts.push("GET_SOURCE_PUBLIC_KEY = 1");
      if (o.connectRetrySeconds !== undefined) {
        if (!Number.isInteger(o.connectRetrySeconds) || o.connectRetrySeconds < 1 || o.connectRetrySeconds > 31536000) {
          throw new UnsafeValueError(`connect retry ${String(o.connectRetrySeconds)} is not a whole number of seconds from 1 to 31536000`);
        }
        parts.push(`${P}CONNECT_RETRY = ?`);
        values.push(o.connectRetrySeconds);
      }
      return [...pre, stmt(`${f.changeSource} ${parts.join(", ")}`, values, secret)];
    },

    changeSourcePassword(password) {
      checkPassword(password, f.maxPasswordLength);
      return stmt(`${f.changeSource} ${P}PASSWORD = ?`, [password], [0]);
    },

    startReplica: () => stmt(`START ${W}`),
    stopReplica: () => stmt(`STOP ${W}`),
    resetReplicaAll: () => stmt(`RESET ${W} ALL`),
    fullReset: () => [stmt(`STOP ${W}`), stmt(`RESET ${W} ALL`)],
    showReplicaStatus: () => stmt(`SHOW ${W} STATUS`),

    showSourceStatus: () => stmt(f.sourceStatus),
    gtidPosition: () =>
      maria
        ? stmt("SELECT @@GLOBAL.gtid_binlog_pos AS gtid_binlog_pos, @@GLOBAL.gtid_current_pos AS gtid_current_pos")
        : stmt("SELECT @@GLOBAL.gtid_executed AS gtid_executed"),
    gtidForCoordinates(file, pos) {
      if (!maria) throw new UnsupportedVersionError("BINLOG_GTID_POS exists only on MariaDB; MySQL replicas use SOURCE_AUTO_POSITION");
      checkBinlogFile(file);
      checkBinlogPos(pos);
      return stmt("SELECT BINLOG_GTID_POS(?, ?) AS gtid", [file, pos]);
    },
    waitForPosition(position, timeoutSeconds) {
      checkTimeout(timeoutSeconds);
      if ("gtid" in position) {
        checkGtid(f.flavour, position.gtid);
        if (maria) {
          // 0 = reached, -1 = timeout.
          return {
            ...stmt("SELECT MASTER_GTID_WAIT(?, ?) AS result", [position.gtid, timeoutSeconds]),
            interpret: (r) => (r === null || r === undefined ? "not-running" : Number(r) === 0 ? "reached" : "timeout"),
          };
        }
        // 0 = reached, 1 = timeout (errors are raised as SQL errors).
        return {
          ...stmt("SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS result", [position.gtid, timeoutSeconds]),
          interpret: (r) => (r === null || r === undefined ? "not-running" : Number(r) === 0 ? "reached" : "timeout"),
        };
      }
      checkBinlogFile(position.file);
      checkBinlogPos(position.pos);
      // >= 0 = events waited for, -1 = timeout, NULL = SQL thread not running / not a replica.
      return {
        ...stmt(`SELECT ${f.posWaitFunction}(?, ?, ?) AS result`, [position.file, position.pos, timeoutSeconds]),
        interpret: (r) => (r === null || r === undefined ? "not-running" : Number(r) === -1 ? "timeout" : "reached"),
      };
    },

    showBinaryLogs: () => stmt("SHOW BINARY LOGS"),
    purgeBinaryLogsTo(file) {
      checkBinlogFile(file);
      return stmt("PURGE BINARY LOGS TO ?", [file]);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Grants

export interface GrantCheck {
  /** REPLICATION SLAVE ON *.* is granted. */
  readonly hasReplicationSlave: boolean;
  /** Privileges beyond USAGE and REPLICATION SLAVE ON *.*, as "PRIV ON scope". */
  readonly extra: readonly string[];
  readonly ok: boolean;
}

/** Reads SHOW GRANTS output (rows of one column, or the lines) and checks it is exactly what the replication account needs. */
export function checkReplicationGrants(rowsOrLines: readonly (string | Record<string, unknown>)[]): GrantCheck {
  const lines = rowsOrLines.map((r) => (typeof r === "string" ? r : String(Object.values(r)[0] ?? "")));
  let hasReplicationSlave = false;
  const extra: string[] = [];
  for (const line of lines) {
    const m = /^GRANT\s+(.+?)\s+ON\s+(\S+)\s+TO\s/i.exec(line.trim());
    if (!m) {
      // Role grants ("GRANT role TO user") and proxies are extra too.
      if (/^GRANT\s/i.test(line.trim())) extra.push(line.trim());
      continue;
    }
    const scope = m[2];
    for (const raw of m[1].split(",")) {
      const priv = raw.trim().toUpperCase();
      if (priv === "USAGE") continue;
      if (priv === "REPLICATION SLAVE" && scope === "*.*") hasReplicationSlave = true;
      else extra.push(`${priv} ON ${scope}`);
    }
    if (/WITH\s+GRANT\s+OPTION/i.test(line)) extra.push(`GRANT OPTION ON ${scope}`);
  }
  return { hasReplicationSlave, extra, ok: hasReplicationSlave && extra.length === 0 };
}

// ---------------------------------------------------------------------------------------------------------------
// Running statements (implemented by connect.ts over mysql2; any runner with this shape will do)

/** A per-query value converter, compatible with mysql2's `typeCast`. */
export type FieldCast = (field: { readonly type: string; string(): string | null }, next: () => unknown) => unknown;

export interface RunOptions {
  readonly typeCast?: FieldCast;
}

/** Runs one statement and returns its rows (an empty array for statements without a result set). */
export interface SqlRunner {
  query(stmt: Stmt, opts?: RunOptions): Promise<Record<string, unknown>[]>;
}

/** Runs statements in order on one session; the first failure stops and is thrown (after any trailing "SET SESSION sql_log_bin = 1" has been attempted). */
export async function runAll(runner: SqlRunner, stmts: readonly Stmt[]): Promise<void> {
  const restore = stmts.length > 0 && /^SET SESSION sql_log_bin = 1$/.test(stmts[stmts.length - 1].sql) ? stmts[stmts.length - 1] : undefined;
  for (const s of stmts) {
    try {
      await runner.query(s);
    } catch (e) {
      if (restore && s !== restore) await runner.query(restore).catch(() => undefined);
      throw e;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Switchover and failover (infra/ops/switchover.ts): fencing a master, promoting a mirror, proving the result.

/** A database's name for the heartbeat table: the configured names are already checked, this is belt and braces. */
function checkDbName(db: string): void {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(db)) throw new UnsafeValueError(`database name ${JSON.stringify(db)} is not letters, digits and _`);
}

/** The table the switchover writes on the new master to prove that its writes reach every mirror. */
export const HEARTBEAT_TABLE = "mirrorstack_heartbeat";

export interface SwitchoverSql {
  /**
   * One row: server_id, read_only, log_bin, log_slave_updates, gtid_strict_mode and the GTID variables
   * (MariaDB: gtid_binlog_state, gtid_binlog_pos, gtid_slave_pos, gtid_current_pos; MySQL: gtid_executed).
   */
  serverState(): Stmt;
  /** read_only on or off (MySQL: super_read_only too; turning it off turns both off). */
  setReadOnly(on: boolean): Stmt[];
  /** MariaDB: gtid_strict_mode on or off (mirrors run without it, a master with it); MySQL: nothing. */
  setStrictMode(on: boolean): Stmt[];
  /** How long this session waits for a metadata lock (read_only and the global read lock wait for running commits). */
  lockWaitTimeout(seconds: number): Stmt;
  /** FLUSH TABLES WITH READ LOCK: no commit from any session, SUPER included, while this session holds it. */
  globalReadLock(): Stmt;
  unlockTables(): Stmt;
  /** Every other session: ID, USER, HOST, COMMAND, STATE, TIME. */
  otherSessions(): Stmt;
  killConnection(id: number): Stmt;
  /** This session's id (column `id`). */
  connectionId(): Stmt;
  /** USE `db`, creates the heartbeat table there if missing and writes one row naming `host`. */
  writeHeartbeat(db: string, host: string, token: string): Stmt[];
  /** The heartbeat row (column `token`), if any. */
  readHeartbeat(db: string): Stmt;
}

/** The switchover/failover statements for a flavour + version. */
export function switchoverSql(engine: DbEngine): SwitchoverSql {
  const f = features(engine);
  const maria = f.flavour === "mariadb";
  const logUpdates = !maria && cmp(f.version, 8, 4, 0) >= 0 ? "log_replica_updates" : "log_slave_updates";
  return {
    serverState: () =>
      maria
        ? stmt(
            "SELECT @@server_id AS server_id, @@read_only AS read_only, @@log_bin AS log_bin, @@log_slave_updates AS log_slave_updates, " +
              "@@gtid_strict_mode AS gtid_strict_mode, @@GLOBAL.gtid_binlog_state AS gtid_binlog_state, @@GLOBAL.gtid_binlog_pos AS gtid_binlog_pos, " +
              "@@GLOBAL.gtid_slave_pos AS gtid_slave_pos, @@GLOBAL.gtid_current_pos AS gtid_current_pos",
          )
        : stmt(
            `SELECT @@server_id AS server_id, @@read_only AS read_only, @@super_read_only AS super_read_only, @@log_bin AS log_bin, @@${logUpdates} AS log_slave_updates, @@GLOBAL.gtid_executed AS gtid_executed`,
          ),
    setReadOnly: (on) =>
      maria
        ? [stmt(`SET GLOBAL read_only = ${on ? 1 : 0}`)]
        : on
          ? [stmt("SET GLOBAL super_read_only = 1")] // implies read_only
          : [stmt("SET GLOBAL super_read_only = 0"), stmt("SET GLOBAL read_only = 0")],
    setStrictMode: (on) => (maria ? [stmt(`SET GLOBAL gtid_strict_mode = ${on ? 1 : 0}`)] : []),
    lockWaitTimeout(seconds) {
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 31536000) throw new UnsafeValueError(`lock wait timeout ${String(seconds)} is not a whole number of seconds`);
      return stmt("SET SESSION lock_wait_timeout = ?", [seconds]);
    },
    globalReadLock: () => stmt("FLUSH TABLES WITH READ LOCK"),
    unlockTables: () => stmt("UNLOCK TABLES"),
    otherSessions: () =>
      stmt("SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command, STATE AS state, TIME AS time FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"),
    killConnection(id) {
      if (!Number.isSafeInteger(id) || id < 1) throw new UnsafeValueError(`connection id ${String(id)} is not a positive integer`);
      return stmt("KILL CONNECTION ?", [id]);
    },
    connectionId: () => stmt("SELECT CONNECTION_ID() AS id"),
    writeHeartbeat(db, host, token) {
      checkDbName(db);
      const t = `\`${db}\`.\`${HEARTBEAT_TABLE}\``;
      // USE first: DDL is binlogged as a statement, and binlog_do_db / replicate_do_db filter statements by the
      // session's default database, not the table's.
      return [
        stmt(`USE \`${db}\``),
        stmt(`CREATE TABLE IF NOT EXISTS ${t} (id TINYINT UNSIGNED NOT NULL PRIMARY KEY, host VARCHAR(255) NOT NULL, token VARCHAR(64) NOT NULL, at TIMESTAMP(6) NOT NULL) ENGINE=InnoDB`),
        stmt(`REPLACE INTO ${t} (id, host, token, at) VALUES (1, ?, ?, CURRENT_TIMESTAMP(6))`, [host, token]),
      ];
    },
    readHeartbeat(db) {
      checkDbName(db);
      return stmt(`SELECT token FROM \`${db}\`.\`${HEARTBEAT_TABLE}\` WHERE id = 1`);
    },
  };
}
