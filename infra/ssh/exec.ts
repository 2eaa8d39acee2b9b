// Runs one script on one host over OpenSSH. Used inside dynamic providers: node built-ins are required inside
// the functions (closure serialization captures these functions as source text, and the functions they call
// from other project modules, such as shq, by value).
import { shq } from "../shell";

export { shq };

/** How to reach a host. Plain data: it is stored in Pulumi state (a private key here is a secret input). */
export interface SshTarget {
  /** Host name from the stack config (used in messages). */
  readonly host: string;
  /** IP address or DNS name to connect to. */
  readonly address: string;
  /** Login user. */
  readonly user: string;
  /** TCP port of sshd. */
  readonly port: number;
  /** Path of the private key file on the machine running Pulumi. */
  readonly privateKeyPath?: string;
  /** Private key text (from a secret config value); written to a 0600 temp file while in use. */
  readonly privateKey?: string;
  /** known_hosts file that pins host keys; without it the user's default known_hosts is used. */
  readonly knownHostsPath?: string;
}

/** Result of one remote run. */
export interface SshResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The error for a remote script that exited non-zero, naming the host: the tail of what it printed on both streams.
 * Both, because a tool's own error line often lands on stderr while what led to it is on stdout (apt's
 * `E: Sub-process /usr/bin/dpkg returned an error code (1)` alone says nothing). Only for scripts whose stdout is no
 * secret (it is kept in state anyway); a file read is not one (hostFile).
 */
export function remoteFailure(host: string, what: string, r: SshResult): Error {
  const out = r.stdout.trim();
  const err = r.stderr.trim();
  const text = out && err ? `${out.slice(-2000)}\n--- stderr:\n${err.slice(-2000)}` : (err || out).slice(-4000);
  return new Error(`[${host}] ${what} failed (exit ${r.code}):\n${text}`);
}

/** Where the shared SSH control socket of a target lives: one TCP/SSH handshake per host per run. */
export function controlPathFor(target: SshTarget): string {
  const os = require("os") as typeof import("os");
  const path = require("path") as typeof import("path");
  const crypto = require("crypto") as typeof import("crypto");
  const tag = crypto
    .createHash("sha256")
    .update(`${target.user}@${target.address}:${target.port}:${target.privateKey ?? target.privateKeyPath ?? ""}:${target.knownHostsPath ?? ""}`)
    .digest("hex")
    .slice(0, 16);
  return path.join(os.tmpdir(), `mirrorstack-ssh-${tag}`);
}

/**
 * The ssh options every mirrorstack connection uses (no prompts, pinned host keys, bounded connect time),
 * ending with user@address; the caller appends the remote command. `control.start` lets this connection
 * become the shared master (ControlPersist); otherwise it only reuses one that exists.
 */
export function sshArgs(target: SshTarget, keyPath: string | undefined, control?: { path: string; start: boolean }): string[] {
  const args = [
    "-T",
    "-e", "none",
    "-p", String(target.port),
    "-o", "BatchMode=yes",
    "-o", "ConnectTimeout=10",
    "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=4",
    "-o", "LogLevel=ERROR",
    "-o", "StrictHostKeyChecking=yes",
  ];
  if (control) {
    args.push("-o", `ControlPath=${control.path}`);
    args.push(...(control.start ? ["-o", "ControlMaster=auto", "-o", "ControlPersist=15"] : ["-o", "ControlMaster=no"]));
  }
  if (target.knownHostsPath) args.push("-o", `UserKnownHostsFile=${target.knownHostsPath}`, "-o", "GlobalKnownHostsFile=/dev/null");
  if (keyPath) args.push("-i", keyPath, "-o", "IdentitiesOnly=yes");
  args.push(`${target.user}@${target.address}`);
  return args;
}

/** A key file for the target: its path, or a private 0600 copy of an inline key, with what removes that copy. */
export function keyFileFor(target: SshTarget): { readonly path: string | undefined; readonly remove: () => void } {
  if (!target.privateKey) return { path: target.privateKeyPath, remove: () => undefined };
  const fs = require("fs") as typeof import("fs");
  const os = require("os") as typeof import("os");
  const path = require("path") as typeof import("path");
  // The key never goes on a command line: it lives in a private 0600 file while it is in use.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-key-"));
  const keyPath = path.join(dir, "id");
  fs.writeFileSync(keyPath, target.privateKey.endsWith("\n") ? target.privateKey : target.privateKey + "\n", { mode: 0o600 });
  return { path: keyPath, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `fn` with a key file for the target (keyFileFor), removed after. */
export async function withKeyFile<T>(target: SshTarget, fn: (keyPath: string | undefined) => Promise<T>): Promise<T> {
  const key = keyFileFor(target);
  try {
    return await fn(key.path);
  } finally {
    key.remove();
  }
}

/** The shared connections being opened now by this process (spawnShared), by control path: on globalThis, as each
 * dynamic provider's copy of this module shares the one process. */
function sshOpenings(): Map<string, Promise<void>> {
  const g = globalThis as { __mirrorstackSshOpening?: Map<string, Promise<void>> };
  return (g.__mirrorstackSshOpening ??= new Map<string, Promise<void>>());
}

/**
 * The opening of the target's shared connection under way in this process whose control socket is not there yet,
 * if any. A session about to start waits for it (in a loop: another may follow) and then multiplexes over the
 * connection instead of logging in on its own. Synchronous, so that sessions started in one tick see each other.
 */
export function sharedOpening(target: SshTarget): Promise<void> | undefined {
  const fs = require("fs") as typeof import("fs");
  const path = controlPathFor(target);
  return fs.existsSync(path) ? undefined : sshOpenings().get(path);
}

/**
 * Starts ssh for a session over the target's shared connection (sshRun's control master), which this session may
 * open. Sessions started at once towards a host with no shared connection yet would each log in (only one of them
 * can become the master): the first opens it and the others wait until its control socket appears, or it ends
 * (sharedOpening). `wire` gets the ssh process to handle; its promise is the result.
 */
async function spawnShared<R>(
  target: SshTarget,
  keyPath: string | undefined,
  command: string,
  stdio: import("child_process").StdioOptions,
  wire: (child: import("child_process").ChildProcess) => Promise<R>,
): Promise<R> {
  const cp = require("child_process") as typeof import("child_process");
  const fs = require("fs") as typeof import("fs");
  const path = controlPathFor(target);
  for (let o = sharedOpening(target); o; o = sharedOpening(target)) await o;
  const opening = sshOpenings();
  const child = cp.spawn("ssh", [...sshArgs(target, keyPath, { path, start: true }), command], { stdio });
  // The caller's handlers go on at once: a failed spawn reports its error on the next tick.
  const result = wire(child);
  if (!fs.existsSync(path)) {
    // Declared before use: Pulumi's closure serialization cannot carry a closure that names a later const.
    let poll: ReturnType<typeof setInterval> | undefined;
    let opened: Promise<void> | undefined;
    opened = new Promise<void>((resolve) => {
      poll = setInterval(() => fs.existsSync(path) && resolve(), 20);
      child.on("close", () => resolve());
      child.on("error", () => resolve());
    }).finally(() => {
      clearInterval(poll);
      if (opening.get(path) === opened) opening.delete(path);
    });
    opening.set(path, opened);
  }
  return result;
}

/**
 * Keeps the target's shared connection (sshRun's control master) open while this machine waits on other hosts: a
 * session that only waits for its stdin to close. Without it a mirror's connection expires during a host-to-host copy
 * longer than ControlPersist, and the next session pays a full login (about 0.3 s and an sshd start per mirror).
 * Best effort: a hold that fails costs only that login. Returns the release, which waits for the session to end.
 */
export function holdConnection(target: SshTarget): () => Promise<void> {
  let released = false;
  let release = () => undefined as void;
  const ended = withKeyFile(target, async (keyPath) => {
    if (released) return;
    await spawnShared(target, keyPath, "exec cat >/dev/null", ["pipe", "ignore", "ignore"], (child) =>
      new Promise<void>((resolve) => {
        child.on("error", () => resolve());
        child.on("close", () => resolve());
        child.stdin!.on("error", () => undefined);
        release = () => void child.stdin!.end();
        if (released) release();
      }),
    );
  }).catch(() => undefined);
  return async () => {
    released = true;
    release();
    await ended;
  };
}

/** Why an ssh run failed, as far as mirrorstack cares. */
export type SshFailure = "host-key" | "auth" | "unreachable" | "command-missing" | "sudo-password" | "other";

/**
 * Classifies a failed ssh run (or a command run through it) from its exit status and stderr. The codes say
 * what they can: 255 is ssh's own failure, 127 the remote shell's "command not found". Neither ssh nor sudo
 * gives a finer code (a bad host key and a refused login are both 255; sudo exits 1 for a missing program and
 * for a password prompt), so their message text is matched here and nowhere else.
 */
export function classifySshFailure(code: number | null, stderr: string): SshFailure {
  if (code === 255) {
    if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr)) return "host-key";
    if (/Permission denied/.test(stderr)) return "auth";
    return "unreachable";
  }
  if (code === 127 || /command not found/.test(stderr)) return "command-missing";
  if (/sudo: .*password is required|a terminal is required/.test(stderr)) return "sudo-password";
  return "other";
}

/**
 * Runs `script` with bash on the target, feeding `stdin`. Connection failures (ssh exit 255 before the
 * script ran) are retried a bounded number of times; the final error names the host and address.
 */
export async function sshRun(target: SshTarget, script: string, stdin?: string): Promise<SshResult> {
  return withKeyFile(target, async (keyPath) => {
    const once = () =>
      spawnShared(target, keyPath, `bash -c ${shq(script)}`, ["pipe", "pipe", "pipe"], (child) =>
        new Promise<SshResult>((resolve, reject) => {
          const out: Buffer[] = [];
          const err: Buffer[] = [];
          child.stdout!.on("data", (b: Buffer) => out.push(b));
          child.stderr!.on("data", (b: Buffer) => err.push(b));
          child.on("error", reject);
          child.on("close", (code) =>
            resolve({ code: code ?? 255, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }),
          );
          child.stdin!.on("error", () => undefined); // the remote side may exit before reading everything
          child.stdin!.end(stdin ?? "");
        }),
      );
    const attempts = 3;
    let last: SshResult | undefined;
    for (let i = 1; i <= attempts; i++) {
      last = await once();
      // 255 is ssh's own failure (connect, auth, host key); the script itself never exits 255 by our convention.
      if (last.code !== 255) return last;
      // A wrong host key or a refused login fails the same way every time: not retried.
      const kind = classifySshFailure(last.code, last.stderr);
      if (kind === "host-key" || kind === "auth") break;
      if (i < attempts) await new Promise((r) => setTimeout(r, 1000 * i));
    }
    throw new Error(`[${target.host}] cannot reach ${target.user}@${target.address}:${target.port} over SSH: ${(last?.stderr ?? "").trim()}`);
  });
}
