// Helpers for end-to-end tests against the local lab (root only).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const ROOT = path.resolve(__dirname, "../..");

/** True when the tests may build the lab (network namespaces and mounts need root). */
export const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** Why lab tests are skipped, printed once per file. */
export function skipReason(): string | undefined {
  return isRoot ? undefined : "lab tests need root (network namespaces, overlay mounts): skipped";
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

/** Lab instance the tests use (MIRRORSTACK_LAB_ID; empty = the default lab). */
export const LAB_ID = process.env.MIRRORSTACK_LAB_ID ?? "";
const LAB_DOT = LAB_ID ? `.lab-${LAB_ID}` : ".lab";

export function inventory(): Inventory {
  return JSON.parse(fs.readFileSync(path.join(ROOT, LAB_DOT, "inventory.json"), "utf8")) as Inventory;
}

/** How the provisioner reaches a lab host (what the stack's SshTarget holds for it). */
export function labTarget(name: string): import("../../infra/ssh/exec").SshTarget {
  const inv = inventory();
  const h = inv.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no lab host ${name}`);
  return { host: h.name, address: h.address, user: "root", port: 22, privateKeyPath: inv.privateKeyPath, knownHostsPath: inv.knownHostsPath };
}

/** Runs `lab.sh` with arguments; throws with its output on failure. */
export function lab(...args: string[]): string {
  return execFileSync("bash", [path.join(ROOT, "lab/lab.sh"), ...args], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Runs a shell command inside a lab host (its root fs, hostname, network). */
export function onHost(host: string, script: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync("bash", [path.join(ROOT, "lab/lab.sh"), "exec", host, "--", "bash", "-c", script], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs the engine through the project's wrapper; resolves to exit code and combined output. Asynchronous on
 * purpose: a test worker blocked in a long synchronous child process misses vitest's RPC deadlines, and
 * tests that run a load meanwhile need the event loop.
 */
export function pulumi(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", [path.join(ROOT, "scripts/pulumi.sh"), ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    const out: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => out.push(d));
    child.on("close", (code) => resolve({ code: code ?? -1, out: Buffer.concat(out).toString("utf8") }));
  });
}

/** Count of SSH logins accepted so far by a host's sshd (from its own log). */
export function acceptedSessions(host: string): number {
  const r = onHost(host, "grep -c 'Accepted publickey' /var/log/sshd.log || true");
  return parseInt(r.stdout.trim() || "0", 10);
}

/**
 * Makes a stack config for tests: the committed lab stack's settings and secrets (same passphrase salt),
 * the hosts of the lab instance in use, and `extra` top-level keys replaced. Returns the stack name.
 */
export function writeTestStack(stack: string, extra: Record<string, unknown> = {}): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const YAML = require("yaml") as typeof import("yaml");
  const lab = YAML.parse(fs.readFileSync(path.join(ROOT, "stacks/Pulumi.lab.yaml"), "utf8"));
  const inv = inventory();
  const [master, ...mirrors] = [...inv.hosts].sort((a, b) => (a.role === "master" ? -1 : b.role === "master" ? 1 : a.name.localeCompare(b.name, "en", { numeric: true })));
  lab.config["mirrorstack:master"] = { name: master.name, address: master.address };
  lab.config["mirrorstack:mirrors"] = mirrors.map((m) => ({ name: m.name, address: m.address }));
  lab.config["mirrorstack:ssh"] = { user: "root", port: 22, privateKeyPath: `${LAB_DOT}/id_ed25519`, knownHostsPath: `${LAB_DOT}/known_hosts` };
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
  const r = spawnSync("bash", [path.join(ROOT, "lab/lab.sh"), "exec", host, "--", "mariadb", "-N", "-B", "-e", query], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`[${host}] ${query}: ${r.stderr}`);
  return r.stdout.trim();
}
