// mysql2 sessions for the replication code: through SSH to a host's local database socket (no TCP port
// is opened anywhere: ssh runs `socat STDIO UNIX-CONNECT:<socket>` on the host and its stdio is the
// MySQL protocol stream), or directly as the stack config says.
//
// Over SSH the session logs in as `root` without a password: on Debian, MariaDB's root@localhost uses
// unix_socket authentication, which accepts a socket peer running as the OS user of the same name, and
// socat runs as root (the SSH user, or through `sudo -n` when the SSH user is someone else).
//
// Like infra/ssh/exec.ts, node built-ins and mysql2 are required inside the functions so the functions
// survive Pulumi's closure serialization inside dynamic providers.

import { classifySshFailure, controlPathFor, keyFileFor, sharedOpening, sshArgs, type SshTarget } from "../ssh/exec";
import { render, type RunOptions, type SqlRunner, type Stmt } from "./dialect";

/** An open session: runs statements, exposes the mysql2 connection, and closes cleanly. */
export interface DbSession extends SqlRunner {
  /** The mysql2 promise connection (for anything SqlRunner does not cover). */
  readonly connection: import("mysql2/promise").Connection;
  /** "db01 (ssh root@10.0.0.5:22, /run/mysqld/mysqld.sock)" - used in error messages. */
  readonly label: string;
  /** Ends the session (COM_QUIT), then waits for the ssh child to exit (killing it if it lingers). Safe to call twice. */
  close(): Promise<void>;
}

export interface SshConnectOptions {
  /** Database socket on the host. Default /run/mysqld/mysqld.sock (Debian/Ubuntu); RHEL uses /var/lib/mysql/mysql.sock. */
  readonly socketPath?: string;
  /** Database user. Default root (unix_socket auth, no password). */
  readonly user?: string;
  /** Database password, for servers whose root does not use unix_socket auth (MySQL on RHEL). */
  readonly password?: string;
  readonly database?: string;
  /** Relay program on the host: socat (default) or nc -U (OpenBSD netcat). */
  readonly relay?: "socat" | "nc";
  /** Run the relay through `sudo -n` (default: when the SSH user is not root). */
  readonly sudo?: boolean;
  /** Milliseconds to wait for the server's greeting. Default 30000. */
  readonly connectTimeoutMs?: number;
}

export interface DirectConnectOptions {
  /** Host name or IP (ignored when socketPath is set). */
  readonly host?: string;
  readonly port?: number;
  /** Local unix socket instead of TCP. */
  readonly socketPath?: string;
  readonly user: string;
  readonly password?: string;
  readonly database?: string;
  readonly connectTimeoutMs?: number;
}

const SOCKET_PATH = /^\/[A-Za-z0-9_./-]+$/;

/** The remote command that relays the database socket to stdio. */
export function relayCommand(socketPath: string, relay: "socat" | "nc", sudo: boolean): string {
  if (!SOCKET_PATH.test(socketPath)) throw new Error(`socket path ${JSON.stringify(socketPath)} must be an absolute path of letters, digits, '_', '.', '/' and '-'`);
  const prog = relay === "socat" ? `socat STDIO UNIX-CONNECT:${socketPath}` : `nc -U ${socketPath}`;
  return `exec ${sudo ? "sudo -n " : ""}${prog}`;
}

function makeSession(
  conn: import("mysql2/promise").Connection,
  label: string,
  closeExtra: () => Promise<void>,
): DbSession {
  let closed: Promise<void> | undefined;
  return {
    connection: conn,
    label,
    async query(s: Stmt, opts?: RunOptions) {
      try {
        const [rows] = await conn.query({ sql: s.sql, values: [...s.values], ...(opts?.typeCast ? { typeCast: opts.typeCast } : {}) });
        return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
      } catch (e) {
        const err = e as Error & { code?: string; errno?: number; sqlState?: string };
        const wrapped = new Error(`[${label}] ${scrubSecrets(err.message, s)} (while running: ${render(s, { redact: true }).slice(0, 500)})`) as Error & {
          code?: string;
          errno?: number;
          sqlState?: string;
        };
        wrapped.code = err.code;
        wrapped.errno = err.errno;
        wrapped.sqlState = err.sqlState;
        throw wrapped;
      }
    },
    close() {
      closed ??= (async () => {
        try {
          await Promise.race([conn.end(), new Promise((r) => setTimeout(r, 5000).unref())]);
        } catch {
          // already closed or the stream died: destroy below
        }
        try {
          conn.destroy();
        } catch {
          // ignore
        }
        await closeExtra();
      })();
      return closed;
    },
  };
}

/**
 * Servers quote offending values in error messages (MariaDB: "String 'abc...' is too long for
 * MASTER_PASSWORD"): any quoted text that is part of a secret value of the statement is replaced.
 */
export function scrubSecrets(message: string, s: Stmt): string {
  const secrets = (s.secret ?? []).map((i) => String(s.values[i] ?? "")).filter((x) => x.length > 0);
  if (secrets.length === 0) return message;
  let out = message.replace(/'([^']*)'/g, (m, inner: string) => {
    const core = inner.replace(/\.\.\.$/, "");
    return core.length >= 3 && secrets.some((x) => x.includes(core)) ? "'<redacted>'" : m;
  });
  for (const x of secrets) if (x.length >= 3) out = out.split(x).join("<redacted>");
  return out;
}

/** Leaves sql_mode without NO_BACKSLASH_ESCAPES: mysql2's client-side escaping relies on backslash escapes. */
async function prepareSession(conn: import("mysql2/promise").Connection): Promise<void> {
  const [rows] = await conn.query("SELECT @@SESSION.sql_mode AS m");
  const mode = String((rows as { m: unknown }[])[0]?.m ?? "");
  const items = mode.split(",").filter((x) => x !== "");
  if (items.includes("NO_BACKSLASH_ESCAPES")) {
    await conn.query("SET SESSION sql_mode = ?", [items.filter((x) => x !== "NO_BACKSLASH_ESCAPES").join(",")]);
  }
}

/**
 * Opens a database session on `target` through SSH: `ssh ... user@host socat STDIO UNIX-CONNECT:<socket>`,
 * the child's stdio is mysql2's `stream`. Needs socat (or nc with -U) on the host.
 */
export async function connectViaSsh(target: SshTarget, opts: SshConnectOptions = {}): Promise<DbSession> {
  const cp = require("child_process") as typeof import("child_process");
  const stream = require("stream") as typeof import("stream");
  const mysql = require("mysql2/promise") as typeof import("mysql2/promise");

  const socketPath = opts.socketPath ?? "/run/mysqld/mysqld.sock";
  const relay = opts.relay ?? "socat";
  const sudo = opts.sudo ?? target.user !== "root";
  const remote = relayCommand(socketPath, relay, sudo);
  const label = `${target.host} (ssh ${target.user}@${target.address}:${target.port}, ${socketPath})`;

  // Reuse the master connection sshRun may have left (ControlPersist), or is opening right now, but never start a
  // background one here.
  const controlPath = controlPathFor(target);
  for (let o = sharedOpening(target); o; o = sharedOpening(target)) await o;
  // The key file stays until the session ends (cleanup below).
  const key = keyFileFor(target);
  const keyPath = key.path;
  const child = cp.spawn("ssh", [...sshArgs(target, keyPath, { path: controlPath, start: false }), remote], { stdio: ["pipe", "pipe", "pipe"] });
  const stderr: Buffer[] = [];
  child.stderr.on("data", (b: Buffer) => {
    if (stderr.reduce((n, x) => n + x.length, 0) < 16384) stderr.push(b);
  });
  child.stdin.on("error", () => undefined);
  let exited = false;
  let exitCode: number | null = null;
  const exitedP = new Promise<void>((resolve) => {
    child.on("exit", (code) => {
      exited = true;
      exitCode = code;
      resolve();
    });
    child.on("error", () => {
      exited = true;
      resolve();
    });
  });
  let spawnError: Error | undefined;
  child.on("error", (e) => (spawnError = e));

  const cleanup = async () => {
    if (!exited) {
      child.stdin.end();
      await Promise.race([exitedP, new Promise((r) => setTimeout(r, 5000).unref())]);
    }
    if (!exited) {
      child.kill("SIGTERM");
      await Promise.race([exitedP, new Promise((r) => setTimeout(r, 3000).unref())]);
    }
    if (!exited) {
      child.kill("SIGKILL");
      await exitedP;
    }
    key.remove();
  };

  const duplex = stream.Duplex.from({ readable: child.stdout, writable: child.stdin });
  duplex.on("error", () => undefined);

  let conn: import("mysql2/promise").Connection;
  try {
    conn = await mysql.createConnection({
      stream: duplex,
      user: opts.user ?? "root",
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      ...(opts.database ? { database: opts.database } : {}),
      connectTimeout: opts.connectTimeoutMs ?? 30000,
      flags: ["-LOCAL_FILES", "-MULTI_STATEMENTS"],
    });
    conn.on("error", () => undefined); // fatal errors surface on the next query
    await prepareSession(conn);
  } catch (e) {
    await cleanup();
    const err = (Buffer.concat(stderr).toString("utf8").trim() || "").slice(-2000);
    let hint = "";
    const kind = classifySshFailure(exitCode, err);
    if (kind === "command-missing") {
      hint = ` (is ${relay} installed on the host? apt-get install ${relay === "socat" ? "socat" : "netcat-openbsd"})`;
    } else if (kind === "sudo-password") {
      hint = ` (${target.user} needs passwordless sudo for ${relay}, or connect as root)`;
    }
    throw new Error(
      `[${target.host}] cannot open a database session through ssh ${target.user}@${target.address}:${target.port} (${socketPath}): ` +
        `${spawnError ? spawnError.message : (e as Error).message}${err ? `; ssh said: ${err}` : ""}${hint}`,
    );
  }
  return makeSession(conn, label, cleanup);
}

/** Opens a session directly (TCP or a local unix socket), e.g. with the credentials from the stack config. */
export async function connectDirect(opts: DirectConnectOptions): Promise<DbSession> {
  const mysql = require("mysql2/promise") as typeof import("mysql2/promise");
  const where = opts.socketPath ?? `${opts.host ?? "localhost"}:${opts.port ?? 3306}`;
  const label = `${opts.user}@${where}`;
  let conn: import("mysql2/promise").Connection;
  try {
    conn = await mysql.createConnection({
      ...(opts.socketPath ? { socketPath: opts.socketPath } : { host: opts.host ?? "localhost", port: opts.port ?? 3306 }),
      user: opts.user,
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      ...(opts.database ? { database: opts.database } : {}),
      connectTimeout: opts.connectTimeoutMs ?? 30000,
      flags: ["-LOCAL_FILES", "-MULTI_STATEMENTS"],
    });
  } catch (e) {
    throw new Error(`cannot connect to the database as ${label}: ${(e as Error).message}`);
  }
  conn.on("error", () => undefined);
  try {
    await prepareSession(conn);
  } catch (e) {
    conn.destroy();
    throw e;
  }
  return makeSession(conn, label, async () => undefined);
}
