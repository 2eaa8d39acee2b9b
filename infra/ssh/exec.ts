// Runs one script on one host over OpenSSH. Used inside dynamic providers, so this module must stay
// self-contained: node built-ins are required inside the functions (closure serialization captures
// these functions as source text and nothing else from this file).

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

/** Quotes a string for a POSIX shell. */
export function shq(s: string): string {
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

/**
 * Runs `script` with bash on the target, feeding `stdin`. Connection failures (ssh exit 255 before the
 * script ran) are retried a bounded number of times; the final error names the host and address.
 */
export async function sshRun(target: SshTarget, script: string, stdin?: string): Promise<SshResult> {
  const cp = require("child_process") as typeof import("child_process");
  const fs = require("fs") as typeof import("fs");
  const os = require("os") as typeof import("os");
  const path = require("path") as typeof import("path");
  const crypto = require("crypto") as typeof import("crypto");

  const q = (s: string) => "'" + s.replace(/'/g, "'\\''") + "'";
  let keyPath = target.privateKeyPath;
  let tmpDir: string | undefined;
  if (target.privateKey) {
    // The key never goes on a command line: it lives in a private 0600 file for this call only.
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-key-"));
    keyPath = path.join(tmpDir, "id");
    fs.writeFileSync(keyPath, target.privateKey.endsWith("\n") ? target.privateKey : target.privateKey + "\n", {
      mode: 0o600,
    });
  }
  // One control socket per target+key, shared by every resource of this run: one TCP/SSH handshake per host.
  const tag = crypto
    .createHash("sha256")
    .update(`${target.user}@${target.address}:${target.port}:${target.privateKey ?? keyPath ?? ""}:${target.knownHostsPath ?? ""}`)
    .digest("hex")
    .slice(0, 16);
  const controlPath = path.join(os.tmpdir(), `mirrorstack-ssh-${tag}`);
  const args = [
    "-T",
    "-p", String(target.port),
    "-o", "BatchMode=yes",
    "-o", "ConnectTimeout=10",
    "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=4",
    "-o", "LogLevel=ERROR",
    "-o", "ControlMaster=auto",
    "-o", `ControlPath=${controlPath}`,
    "-o", "ControlPersist=15",
    "-o", "StrictHostKeyChecking=yes",
  ];
  if (target.knownHostsPath) args.push("-o", `UserKnownHostsFile=${target.knownHostsPath}`, "-o", "GlobalKnownHostsFile=/dev/null");
  if (keyPath) args.push("-i", keyPath, "-o", "IdentitiesOnly=yes");
  args.push(`${target.user}@${target.address}`, `bash -c ${q(script)}`);

  const once = () =>
    new Promise<SshResult>((resolve, reject) => {
      const child = cp.spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (b: Buffer) => out.push(b));
      child.stderr.on("data", (b: Buffer) => err.push(b));
      child.on("error", reject);
      child.on("close", (code) =>
        resolve({ code: code ?? 255, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }),
      );
      child.stdin.on("error", () => undefined); // the remote side may exit before reading everything
      child.stdin.end(stdin ?? "");
    });

  try {
    const attempts = 3;
    let last: SshResult | undefined;
    for (let i = 1; i <= attempts; i++) {
      last = await once();
      // 255 is ssh's own failure (connect, auth, host key); the script itself never exits 255 by our convention.
      if (last.code !== 255) return last;
      if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|Permission denied/.test(last.stderr)) break;
      if (i < attempts) await new Promise((r) => setTimeout(r, 1000 * i));
    }
    throw new Error(
      `[${target.host}] cannot reach ${target.user}@${target.address}:${target.port} over SSH: ${(last?.stderr ?? "").trim()}`,
    );
  } finally {
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}
