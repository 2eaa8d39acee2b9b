// The benchmark's own lab instance (MIRRORSTACK_LAB_ID, default "b"): bring it up and down, run commands
// inside its hosts (nsenter, no SSH: these do not show in the hosts' sshd logs), and describe its hosts.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { SshTarget } from "../../infra/ssh/exec";

export const ROOT = path.resolve(__dirname, "../..");

/** Never the default lab: the benchmark only ever runs on an instance of its own. */
export const LAB_ID = process.env.MIRRORSTACK_LAB_ID || "b";
if (!/^[a-z0-9]{1,3}$/.test(LAB_ID)) throw new Error(`MIRRORSTACK_LAB_ID must be 1-3 of a-z, 0-9 (got ${JSON.stringify(LAB_ID)})`);
export const LAB_DOT = `.lab-${LAB_ID}`;
const LAB_ENV = { ...process.env, MIRRORSTACK_LAB_ID: LAB_ID };

export interface LabHost {
  name: string;
  role: "master" | "mirror";
  address: string;
}

export interface Inventory {
  /** This machine's address on the lab bridge. */
  gateway: string;
  hosts: LabHost[];
  privateKeyPath: string;
  knownHostsPath: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs a program without blocking the event loop (a writer may be running at the same time). */
export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: opts.env ?? LAB_ENV, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
    child.on("close", (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        seconds: (performance.now() - t0) / 1000,
      }),
    );
  });
}

async function labSh(...args: string[]): Promise<RunResult> {
  const r = await run("bash", [path.join(ROOT, "lab/lab.sh"), ...args]);
  if (r.code !== 0) throw new Error(`lab.sh ${args.join(" ")} (lab ${LAB_ID}) failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/**
 * Makes (or repairs / resizes) the lab with master + `mirrors` mirrors. `prepared` hosts: the benchmarks load
 * datasets into the master before mirrorstack runs and time provisioning, not apt downloads.
 */
export const labUp = (mirrors: number) => labSh("up", "--mirrors", String(mirrors), "--image", "prepared");
/** Removes the whole lab instance. */
export const labDown = () => labSh("down");

/** Fresh hosts: the lab is taken down and made again. */
export async function freshLab(mirrors: number): Promise<void> {
  await labDown();
  await labUp(mirrors);
}

export function inventory(): Inventory {
  return JSON.parse(fs.readFileSync(path.join(ROOT, LAB_DOT, "inventory.json"), "utf8")) as Inventory;
}

export function mirrorNames(): string[] {
  return inventory()
    .hosts.filter((h) => h.role === "mirror")
    .map((h) => h.name)
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

/** How the provisioner (this machine) reaches a lab host over SSH. */
export function target(name: string): SshTarget {
  const inv = inventory();
  const h = inv.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`lab ${LAB_ID} has no host ${name}`);
  return { host: h.name, address: h.address, user: "root", port: 22, privateKeyPath: inv.privateKeyPath, knownHostsPath: inv.knownHostsPath };
}

/** Runs a bash script inside a lab host (nsenter: no SSH login). */
export async function onHost(host: string, script: string, input?: string): Promise<RunResult> {
  return run("bash", [path.join(ROOT, "lab/lab.sh"), "exec", host, "--", "bash", "-c", script], { input });
}

/** Runs SQL with the host's local root account (statements on stdin); returns tab-separated rows. */
export async function sql(host: string, statements: string): Promise<string> {
  const r = await onHost(host, "mariadb -N -B", statements);
  if (r.code !== 0) throw new Error(`[${host}] SQL failed: ${r.stderr.trim()}\n${statements.slice(0, 500)}`);
  return r.stdout.trim();
}

/** SSH logins each host's sshd accepted so far (from its own log). */
export async function acceptedSessions(hosts: readonly string[]): Promise<Record<string, number>> {
  const counts = await Promise.all(
    hosts.map(async (h) => {
      const r = await onHost(h, "grep -c 'Accepted publickey' /var/log/sshd.log || true");
      return [h, parseInt(r.stdout.trim() || "0", 10)] as const;
    }),
  );
  return Object.fromEntries(counts);
}

/**
 * The OpenSSH control sockets mirrorstack keeps per host (infra/ssh/exec.ts: ControlPersist=15, one per
 * user@address:port + key + known_hosts). A session multiplexed over a connection still open from an earlier
 * `up` logs no new login in sshd.log, so counting logins is only meaningful once these have expired.
 */
function controlSockets(): string[] {
  const inv = inventory();
  return inv.hosts.map((h) => {
    const tag = createHash("sha256").update(`root@${h.address}:22:${inv.privateKeyPath}:${inv.knownHostsPath}`).digest("hex").slice(0, 16);
    return path.join(os.tmpdir(), `mirrorstack-ssh-${tag}`);
  });
}

/** Waits (at most `maxSeconds`) until no control connection to a lab host is left open; returns seconds waited. */
export async function waitSshIdle(maxSeconds = 30): Promise<number> {
  const t0 = performance.now();
  while (controlSockets().some((s) => fs.existsSync(s)) && performance.now() - t0 < maxSeconds * 1000) {
    await new Promise((r) => setTimeout(r, 500));
  }
  const left = controlSockets().filter((s) => fs.existsSync(s));
  if (left.length > 0) throw new Error(`SSH control connections still open after ${maxSeconds} s: ${left.join(", ")}`);
  return (performance.now() - t0) / 1000;
}
