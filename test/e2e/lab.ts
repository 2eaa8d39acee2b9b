// Helpers for end-to-end tests against the local lab (root only).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll } from "vitest";

export const ROOT = path.resolve(__dirname, "../..");

/** True when the tests may build the lab (network namespaces and mounts need root). */
export const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** Why lab tests are skipped, printed once per file. */
export function skipReason(): string | undefined {
  return isRoot ? undefined : "lab tests need root (network namespaces, containers, mounts): skipped";
}

export interface LabHost {
  name: string;
  role: "master" | "mirror";
  address: string;
  netns: string;
}

export interface Inventory {
  hosts: LabHost[];
  privateKeyPath: string;
  knownHostsPath: string;
}

/**
 * Every lab test file has a lab instance of its own (MIRRORSTACK_LAB_ID) on a subnet of its own, so no file
 * sees what another left behind and two files could run at once. One line per file.
 */
export const LAB_INSTANCES = {
  apply: { id: "ap", subnet: "10.250.21" },
  replication: { id: "rp", subnet: "10.250.22" },
  files: { id: "fl", subnet: "10.250.23" },
  mirrorctl: { id: "mc", subnet: "10.250.24" },
  backup: { id: "bk", subnet: "10.250.25" },
  backupPush: { id: "bp", subnet: "10.250.26" },
  review: { id: "rv", subnet: "10.250.27" },
  safety: { id: "sf", subnet: "10.250.28" },
  health: { id: "hl", subnet: "10.250.29" },
  example: { id: "ex", subnet: "10.250.30" },
  tls: { id: "tl", subnet: "10.250.31" },
  switchover: { id: "sw", subnet: "10.250.32" },
  web: { id: "wb", subnet: "10.250.33" },
  declarative: { id: "ds", subnet: "10.250.34" },
  seedPhysical: { id: "sp", subnet: "10.250.35" },
} as const;

/** Lab instance of this test file (set by useLab; a live binding, so importers see it). */
export let LAB_ID = process.env.MIRRORSTACK_LAB_ID ?? "";
/** Container hosts (lab/lab.sh) or, for the kernel tier, virtual machines (lab/vm/vm.sh, state in .lab-vm/). */
let kind: "container" | "vm" = "container";
const labDot = (): string => (kind === "vm" ? ".lab-vm" : LAB_ID ? `.lab-${LAB_ID}` : ".lab");
/** The script that runs `exec <host> -- cmd` on the lab in use. */
const execScript = (): string => path.join(ROOT, kind === "vm" ? "lab/vm/vm.sh" : "lab/lab.sh");

/** What a test file asks of its lab. */
export interface LabRequest {
  /** Number of mirrors (hosts mirror1..N besides master). */
  readonly mirrors: number;
  /** `bare`: freshly installed servers, mirrorstack installs everything; `prepared`: its packages already there. */
  readonly image: "bare" | "prepared";
}

/**
 * Gives the calling test file its own lab (files run in any order, also with --sequence.shuffle; within a file
 * each describe is one scenario whose steps build on each other, so it says `{ shuffle: false }`): brought up from nothing before its tests, taken down after them, and
 * checked to leave no namespace, container, mount or process behind. Call it once, at the top of the file.
 */
export function useLab(instance: keyof typeof LAB_INSTANCES, req: LabRequest): void {
  const { id, subnet } = LAB_INSTANCES[instance];
  LAB_ID = id;
  process.env.MIRRORSTACK_LAB_ID = id;
  process.env.MIRRORSTACK_LAB_SUBNET = subnet;
  if (!isRoot) return;
  beforeAll(async () => {
    console.log(`[e2e] lab ${id} (${subnet}.0/24): down, then up --mirrors ${req.mirrors} --image ${req.image}`);
    await script("lab/lab.sh", "down");
    await script("lab/lab.sh", "up", "--mirrors", String(req.mirrors), "--image", req.image);
  }, 900_000);
  afterAll(async () => {
    await script("lab/lab.sh", "down");
    const left = leftovers(id);
    if (left.length > 0) throw new Error(`[e2e] lab ${id} down left behind: ${left.join("; ")}`);
  }, 300_000);
}

/**
 * Runs one of the lab's scripts; throws with its output when it fails. Asynchronous: bringing a lab up takes
 * long enough that a worker blocked on it would miss vitest's RPC deadlines.
 */
function script(file: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [path.join(ROOT, file), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => out.push(d));
    child.on("close", (code) => {
      const text = Buffer.concat(out).toString("utf8");
      if (code === 0) resolve(text);
      else reject(new Error(`${file} ${args.join(" ")} failed (${code}):\n${text}`));
    });
  });
}

/** What a lab instance left on the machine: namespaces, mounts, containers, state directories. */
export function leftovers(id: string): string[] {
  const out: string[] = [];
  const ns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").filter((l) => l.startsWith(`mslab${id}-`));
  if (ns.length) out.push(`namespaces ${ns.join(", ")}`);
  const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(`mirrorstack-lab-${id}/`));
  if (mounts.length) out.push(`${mounts.length} mounts`);
  const procs = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(`/var/lib/mirrorstack-lab-${id}/`);
    } catch {
      return false;
    }
  });
  if (procs.length) out.push(`processes ${procs.join(", ")}`);
  for (const d of [`/run/mirrorstack-lab-${id}`, `/var/lib/mirrorstack-lab-${id}`]) if (fs.existsSync(d)) out.push(d);
  return out;
}

/** The kernel tier's virtual machines on this subnet, booted before the file's tests and stopped after them. */
export function useVmLab(names: readonly string[], subnet = "10.249.0"): void {
  kind = "vm";
  if (!isRoot) return;
  beforeAll(async () => {
    console.log(`[kernel] virtual machines ${names.join(", ")} on ${subnet}.0/24 (software emulation: about a minute)`);
    await script("lab/vm/vm.sh", "down");
    await script("lab/vm/vm.sh", "up", "--subnet", subnet, "--names", names.join(" "));
  }, 900_000);
  afterAll(async () => {
    await script("lab/vm/vm.sh", "down");
    const left = execFileSync("bash", ["-c", "ip -o link show | grep -c 'msvm' || true; ls /run/mirrorstack-vm 2>/dev/null | wc -l"], { encoding: "utf8" }).trim().split("\n").map(Number);
    if (left.some((n) => n > 0)) throw new Error(`[kernel] vm.sh down left interfaces or state behind: ${left.join(",")}`);
  }, 300_000);
}

export function inventory(): Inventory {
  return JSON.parse(fs.readFileSync(path.join(ROOT, labDot(), "inventory.json"), "utf8")) as Inventory;
}

/** How the provisioner reaches a lab host (what the stack's SshTarget holds for it). */
export function labTarget(name: string): import("../../infra/ssh/exec").SshTarget {
  const inv = inventory();
  const h = inv.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no lab host ${name}`);
  return { host: h.name, address: h.address, user: "root", port: 22, privateKeyPath: inv.privateKeyPath, knownHostsPath: inv.knownHostsPath };
}

/** Runs `lab.sh` with arguments on this file's lab; throws with its output on failure. */
export function lab(...args: string[]): string {
  const r = spawnSync("bash", [path.join(ROOT, "lab/lab.sh"), ...args], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`lab.sh ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** lab.sh's arguments that run `script` inside a lab host. */
const onHostArgs = (host: string, script: string) => [execScript(), "exec", host, "--", "bash", "-c", script];

/** Runs a short shell command inside a lab host (its root fs, hostname, network); long ones: onHostAsync. */
export function onHost(host: string, script: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync("bash", onHostArgs(host, script), {
    cwd: ROOT,
    encoding: "utf8",
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `onHost` without blocking the worker: for anything that can pass a minute (a package install), see `run`. A
 * synchronous apt-get install in a beforeAll is what lost four files' results to vitest's "Timeout calling
 * onTaskUpdate" in one CI run.
 */
export function onHostAsync(host: string, script: string): Promise<CtlRun> {
  return run("bash", onHostArgs(host, script));
}

/** MariaDB installed on a lab host as its admin would (through the lab's package cache): a site's existing server. */
export function installMariadb(host: string): Promise<CtlRun> {
  return onHostAsync(host, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mariadb-server >/dev/null");
}

/** What a child process printed and how it exited. */
export interface CtlRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command and resolves when it exits. Tests run every long child process this way, never with spawnSync: a
 * worker blocked in a synchronous child past vitest's 60 s RPC deadline fails the whole run with "Timeout calling
 * onTaskUpdate" although every test passed, and tests that run a load meanwhile need the event loop.
 */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CtlRun> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
  });
}

/** Runs the engine through the project's wrapper (see `run`); resolves to exit code and combined output. */
export function pulumi(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", [path.join(ROOT, "scripts/pulumi.sh"), ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    const out: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => out.push(d));
    child.on("close", (code) => resolve({ code: code ?? -1, out: Buffer.concat(out).toString("utf8") }));
  });
}

/**
 * `pulumi stack export` of a stack, with each resource's provider code in place of what is stored (a reference to
 * dist/providers/, or compressed code; see infra/providers/dynamic.ts), so a search of the text also searches the code.
 */
export async function stackExportText(stack: string): Promise<string> {
  const exp = await pulumi(["stack", "export", "--stack", stack]);
  if (exp.code !== 0) throw new Error(`stack export ${stack} failed:\n${exp.out}`);
  const { storedProviderCode } = await import("../../infra/providers/dynamic");
  let unpacked = 0;
  const text = exp.out.replace(/"__provider": ("(?:[^"\\]|\\.)*")/g, (_, s: string) => {
    const code = JSON.parse(s) as string;
    const plain = storedProviderCode(code, ROOT);
    if (plain !== code) unpacked++;
    return `"__provider": ${JSON.stringify(plain)}`;
  });
  if (unpacked === 0) throw new Error(`stack export ${stack}: no provider reference or packed provider code found (has the format changed?)`);
  return text;
}

/** Count of SSH logins accepted so far by a host's sshd (from its own log). */
export function acceptedSessions(host: string): number {
  const r = onHost(host, "grep -c 'Accepted publickey' /var/log/sshd.log || true");
  return parseInt(r.stdout.trim() || "0", 10);
}

/** Keys of stacks/Pulumi.lab.yaml that only the demo uses (its site); see writeTestStack. */
const DEMO_ONLY_KEYS = ["files", "web"] as const;

/**
 * Makes a stack config for tests: the committed lab stack's settings and secrets (same passphrase salt),
 * the hosts of the lab instance in use, and `extra` top-level keys replaced. Returns the stack name.
 * The lab stack's demo site (`files`, `web`, and `web: true` on its hosts) is left out unless a test passes those
 * keys: stacks/Pulumi.lab.yaml is the demo's stack, and a new user reads how the demo's site is set up there,
 * while every test states the file trees and site it wants (none unless it says so), as before the demo had one.
 */
export function writeTestStack(stack: string, extra: Record<string, unknown> = {}): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const YAML = require("yaml") as typeof import("yaml");
  const lab = YAML.parse(fs.readFileSync(path.join(ROOT, "stacks/Pulumi.lab.yaml"), "utf8"));
  const inv = inventory();
  const [master, ...mirrors] = [...inv.hosts].sort((a, b) => (a.role === "master" ? -1 : b.role === "master" ? 1 : a.name.localeCompare(b.name, "en", { numeric: true })));
  lab.config["mirrorstack:master"] = { name: master.name, address: master.address };
  lab.config["mirrorstack:mirrors"] = mirrors.map((m) => ({ name: m.name, address: m.address }));
  lab.config["mirrorstack:ssh"] = { user: "root", port: 22, privateKeyPath: `${labDot()}/id_ed25519`, knownHostsPath: `${labDot()}/known_hosts` };
  for (const demoOnly of DEMO_ONLY_KEYS) delete lab.config[`mirrorstack:${demoOnly}`];
  for (const [k, v] of Object.entries(extra)) lab.config[`mirrorstack:${k}`] = v;
  fs.writeFileSync(path.join(ROOT, `stacks/Pulumi.${stack}.yaml`), YAML.stringify(lab));
  return stack;
}

/** Starts a test stack from nothing: releases a lock a killed run left, removes old state, inits it. */
export async function freshStack(stack: string): Promise<void> {
  await pulumi(["cancel", "--yes", "--stack", stack]);
  await pulumi(["stack", "rm", "--yes", "--force", "--preserve-config", stack]);
  const init = await pulumi(["stack", "init", stack]);
  if (init.code !== 0) throw new Error(`stack init ${stack}: ${init.out}`);
}

/** Runs SQL inside a host with the local root account; returns tab-separated rows. */
export function sql(host: string, query: string): string {
  const r = spawnSync("bash", [execScript(), "exec", host, "--", "mariadb", "-N", "-B", "-e", query], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`[${host}] ${query}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Runs mirrorctl as an operator would (from the project directory); see `run`. */
export function mirrorctl(...args: string[]): Promise<CtlRun> {
  return run("node", ["--import", "tsx", path.join(ROOT, "infra/cli/mirrorctl.ts"), ...args]);
}

/** A run as text for an assertion's message. */
export const showRun = (r: CtlRun): string => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

/**
 * The site's writer in the switchover tests: a non-SUPER account over TCP (`app` with `password`, database `wiki`),
 * one insert into wiki.writes at a time on whichever of `hosts` accepts it (it tries the other one after a
 * refusal, as a site behind a switched address would). Records when each write was acknowledged and where, and
 * each refusal.
 */
export function startWriter(hosts: readonly string[], password: string) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mysql = require("mysql2/promise") as typeof import("mysql2/promise");
  const addr = (h: string) => inventory().hosts.find((x) => x.name === h)!.address;
  const acked: { n: number; host: string; t: number }[] = [];
  const errors: string[] = [];
  let stop = false;
  const done = (async () => {
    let cur = 0;
    let n = 0;
    let conn: import("mysql2/promise").Connection | undefined;
    while (!stop) {
      try {
        conn ??= await mysql.createConnection({ host: addr(hosts[cur]!), user: "app", password, database: "wiki", connectTimeout: 2000 });
        n++;
        await conn.query("INSERT INTO wiki.writes (n, host) VALUES (?, ?)", [n, hosts[cur]]);
        acked.push({ n, host: hosts[cur]!, t: Date.now() });
      } catch (e) {
        errors.push(`${hosts[cur]}: ${(e as Error).message}`);
        conn?.destroy();
        conn = undefined;
        cur = 1 - cur;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    conn?.destroy();
  })();
  return {
    async finish() {
      stop = true;
      await done;
      return { acked, errors };
    },
  };
}
