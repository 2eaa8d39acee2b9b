// Test stacks for the benchmark, built like writeTestStack in test/e2e/lab.ts: the committed lab stack's
// secrets and encryption salt, the hosts of the benchmark's lab instance, and the keys a scenario sets.
// Stack names start with `lab-<id>-bench-` so their files fall under the stacks/Pulumi.lab-*.yaml ignore rule.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { inventory, LAB_DOT, LAB_ID, ROOT, run } from "./lab";
import { stackFilePath } from "../../infra/config";

export interface StackSettings {
  /** Mirror host names of the lab to put in the stack (the master is always the lab's master). */
  mirrors: readonly string[];
  /** mirrorstack:database (replaces the lab stack's value). */
  database: Record<string, unknown>;
}

export const stackName = (scenario: string) => `lab-${LAB_ID}-bench-${scenario}`;
const stackFile = (stack: string) => stackFilePath(ROOT, stack);

/** Writes stacks/Pulumi.<stack>.yaml. */
export function writeStack(stack: string, s: StackSettings): void {
  const base = YAML.parse(fs.readFileSync(path.join(ROOT, "stacks/Pulumi.lab.yaml"), "utf8")) as { config: Record<string, unknown>; encryptionsalt: string };
  const inv = inventory();
  const master = inv.hosts.find((h) => h.role === "master")!;
  const config: Record<string, unknown> = {};
  // Only the secrets are taken from the lab stack (they are encrypted with its salt); the rest is ours.
  for (const k of ["mirrorstack:replicationPassword", "mirrorstack:backupPassphrase"]) if (k in base.config) config[k] = base.config[k];
  config["mirrorstack:master"] = { name: master.name, address: master.address };
  config["mirrorstack:mirrors"] = s.mirrors.map((m) => {
    const h = inv.hosts.find((x) => x.name === m);
    if (!h) throw new Error(`lab ${LAB_ID} has no host ${m}`);
    return { name: h.name, address: h.address };
  });
  config["mirrorstack:ssh"] = { user: "root", port: 22, privateKeyPath: `${LAB_DOT}/id_ed25519`, knownHostsPath: `${LAB_DOT}/known_hosts` };
  config["mirrorstack:database"] = s.database;
  fs.writeFileSync(stackFile(stack), YAML.stringify({ config, encryptionsalt: base.encryptionsalt }));
}

export interface PulumiRun {
  code: number;
  out: string;
  seconds: number;
  /** Output lines with the milliseconds (since the start of the run) at which each arrived. */
  lines: { ms: number; text: string }[];
  /**
   * CPU seconds (user + system) of the run's processes: engine, language host, program, provider hosts and any
   * ssh clients, as the kernel counts them for reaped descendants (bash's `times`). Unlike the wall time it does
   * not grow with what else the lab's hosts do on the same cores.
   */
  cpuSeconds: number;
}

/** Children's user + system seconds from the second line of bash's `times` ("0m3.555s 0m0.645s"). */
function childCpuSeconds(times: string): number {
  const line = times.trim().split("\n")[1] ?? "";
  const parts = [...line.matchAll(/(\d+)m([\d.]+)s/g)];
  if (parts.length !== 2) return NaN;
  return parts.reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
}

/** Runs the engine through scripts/pulumi.sh without blocking the event loop; every output line is timestamped. */
export function pulumi(args: string[]): Promise<PulumiRun> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    // `times` after the run reports the CPU of everything it started (fd 3, apart from the engine's output).
    const child = spawn("bash", ["-c", 'bash "$0" "$@"; rc=$?; times >&3; exit $rc', path.join(ROOT, "scripts/pulumi.sh"), ...args], {
      cwd: ROOT,
      env: process.env,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
    });
    let times = "";
    child.stdio[3]!.on("data", (d: Buffer) => (times += d.toString("utf8")));
    const lines: { ms: number; text: string }[] = [];
    let partial = "";
    const onData = (d: Buffer) => {
      const ms = performance.now() - t0;
      const parts = (partial + d.toString("utf8")).split("\n");
      partial = parts.pop() ?? "";
      for (const text of parts) lines.push({ ms, text });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("close", (code) => {
      if (partial) lines.push({ ms: performance.now() - t0, text: partial });
      const seconds = (performance.now() - t0) / 1000;
      resolve({ code: code ?? -1, out: lines.map((l) => l.text).join("\n"), seconds, lines, cpuSeconds: childCpuSeconds(times) });
    });
  });
}

function must(r: PulumiRun, what: string): PulumiRun {
  if (r.code !== 0) throw new Error(`pulumi ${what} failed (exit ${r.code}):\n${r.out.slice(-6000)}`);
  return r;
}

/** A new, empty stack (any earlier one of that name is removed with its state). */
export async function initStack(stack: string, s: StackSettings): Promise<void> {
  writeStack(stack, s);
  await pulumi(["stack", "rm", "--yes", "--force", "--preserve-config", stack]);
  must(await pulumi(["stack", "init", stack]), `stack init ${stack}`);
}

/** Extra `pulumi up` flags for every up of this process (e.g. --parallel for an experiment). */
const upFlags: string[] = [];
export function setUpFlags(flags: string[]): void {
  upFlags.splice(0, upFlags.length, ...flags);
}

/** `pulumi up` (no preview), timed from the spawn to the engine's exit. */
export async function up(stack: string): Promise<PulumiRun> {
  return must(await pulumi(["up", "--yes", "--skip-preview", ...upFlags, "--stack", stack]), `up --stack ${stack}`);
}

/** `pulumi preview` of the stack: what a pull request's review runs; fails if it would change anything. */
export async function previewNoChanges(stack: string): Promise<PulumiRun> {
  return must(await pulumi(["preview", "--expect-no-changes", ...upFlags, "--stack", stack]), `preview --stack ${stack}`);
}

/** A stack output (JSON), secrets shown (the lab passphrase is in the environment). */
export async function output(stack: string, name: string): Promise<unknown> {
  const r = must(await pulumi(["stack", "output", name, "--json", "--show-secrets", "--stack", stack]), `stack output ${name}`);
  const start = r.out.search(/[[{]/);
  return JSON.parse(r.out.slice(start));
}

/** Destroys the stack's resources (when its hosts still exist) and removes the stack and its file. */
export async function removeStack(stack: string, opts: { destroy: boolean }): Promise<void> {
  if (opts.destroy) must(await pulumi(["destroy", "--yes", "--skip-preview", "--stack", stack]), `destroy --stack ${stack}`);
  await pulumi(["stack", "rm", "--yes", "--force", stack]);
  fs.rmSync(stackFile(stack), { force: true });
}

/** Per-resource lines the engine printed with a duration ("... created (12s)"), for the breakdown. */
export function resourceDurations(r: PulumiRun): { resource: string; op: string; seconds: number; atSeconds: number }[] {
  const out: { resource: string; op: string; seconds: number; atSeconds: number }[] = [];
  for (const l of r.lines) {
    const m = /\s(\S+)\s+(created|updated|deleted|replaced|creating replacement|deleted original)\s+\((\d+(?:\.\d+)?)s\)/.exec(l.text);
    if (m) out.push({ resource: m[1], op: m[2], seconds: Number(m[3]), atSeconds: l.ms / 1000 });
  }
  return out;
}

/** "Resources: N unchanged" etc. from the engine's summary. */
export function changeSummary(r: PulumiRun): string {
  const i = r.lines.findIndex((l) => /^Resources:/.test(l.text.trim()));
  if (i < 0) return "";
  const parts: string[] = [];
  for (const l of r.lines.slice(i + 1, i + 8)) {
    const t = l.text.trim();
    if (!t || /^Duration:/.test(t)) break;
    parts.push(t);
  }
  return parts.join(", ");
}

export { run };
