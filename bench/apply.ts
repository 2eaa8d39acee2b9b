// `npm run bench -- apply [--runs N] [--mirrors 1,4,8] [--methods logical,physical]` (issues 4, 15): on fresh lab
// hosts with 1 master + N mirrors and a small database, seeded by each method: the wall time of the first `up`,
// of a no-op `up`, of a no-op `preview` (what every pull request's review runs), and of an `up` after changing one
// value (database.binlogRetentionDays: only the master's my.cnf changes), median of --runs runs; plus the SSH
// sessions each of them opened, counted from every host's sshd log (the no-op and the preview must open none).
// Before each run the benchmark waits until mirrorstack's SSH control connections (ControlPersist=15) have closed,
// so a session multiplexed over a leftover connection cannot hide from the count.
import * as os from "node:os";
import { DATABASE } from "./lib/dataset";
import { acceptedSessions, mirrorNames, waitSshIdle } from "./lib/lab";
import { coldLab, timedPreview, timedUp, type Options, type TimedUp } from "./lib/scenario";
import { initStack, removeStack, stackName, writeStack } from "./lib/stack";
import { log, median, round, table, treeInfo, waitMachineQuiet, writeResults } from "./lib/stats";

interface Counted extends TimedUp {
  sshSessions: number;
  sshByHost: Record<string, number>;
  /** Seconds waited before the up for the previous up's SSH control connections to close. */
  sshIdleWaitSeconds: number;
  /** Then, the wait for the machine to be quiet (the hosts done with the previous up) and its busy cores then. */
  quiet: { seconds: number; busyCores: number };
}

interface ApplyRun {
  method: "logical" | "physical";
  mirrors: number;
  run: number;
  first: Counted;
  noop: Counted;
  /** A no-op `preview` after the no-op up. */
  preview: Counted;
  change: Counted;
}

async function counted(stack: string, hosts: string[], engine: (stack: string) => Promise<TimedUp> = timedUp): Promise<Counted> {
  // A session over a control connection left open by the previous up would log no login: let those expire.
  const sshIdleWaitSeconds = round(await waitSshIdle(), 1);
  const quiet = await waitMachineQuiet();
  const before = await acceptedSessions(hosts);
  const u = await engine(stack);
  const after = await acceptedSessions(hosts);
  const sshByHost = Object.fromEntries(hosts.map((h) => [h, after[h] - before[h]]));
  return { ...u, sshByHost, sshSessions: Object.values(sshByHost).reduce((a, b) => a + b, 0), sshIdleWaitSeconds, quiet };
}

async function applyRun(method: ApplyRun["method"], mirrors: number, run: number, o: Options): Promise<ApplyRun> {
  await coldLab(mirrors, o.sizeMb);
  const names = mirrorNames();
  const hosts = ["master", ...names];
  const stack = stackName(`apply-${mirrors}`);
  const database = (days: number) => ({ databases: [DATABASE], binlogRetentionDays: days, seedMethod: method });
  await initStack(stack, { mirrors: names, database: database(7) });
  try {
    const first = await counted(stack, hosts);
    log(`[${method}, ${mirrors} mirrors, run ${run}] first up ${first.seconds} s (${first.changes})`);
    const noop = await counted(stack, hosts);
    log(`[${method}, ${mirrors} mirrors, run ${run}] no-op up ${noop.seconds} s (${noop.changes}), ${noop.sshSessions} SSH sessions (after waiting ${noop.sshIdleWaitSeconds} s for open SSH connections to close, then ${noop.quiet.seconds} s for a quiet machine: ${noop.quiet.busyCores} cores busy)`);
    const preview = await counted(stack, hosts, timedPreview);
    log(`[${method}, ${mirrors} mirrors, run ${run}] no-op preview ${preview.seconds} s, ${preview.sshSessions} SSH sessions`);
    writeStack(stack, { mirrors: names, database: database(8) });
    const change = await counted(stack, hosts);
    log(`[${method}, ${mirrors} mirrors, run ${run}] binlogRetentionDays 7 -> 8: ${change.seconds} s (${change.changes}), SSH sessions ${JSON.stringify(change.sshByHost)}`);
    return { method, mirrors, run, first, noop, preview, change };
  } finally {
    await removeStack(stack, { destroy: false });
  }
}

function summarize(runs: ApplyRun[], o: Options): string {
  const rows = o.methods.flatMap((method) => o.mirrors.map((n) => ({ method, n }))).map(({ method, n }) => {
    const rs = runs.filter((r) => r.mirrors === n && r.method === method);
    const m = (f: (r: ApplyRun) => number) => round(median(rs.map(f)), 2);
    const each = (f: (r: ApplyRun) => number) => rs.map((r) => round(f(r), 1)).join(", ");
    const changedHosts = [...new Set(rs.flatMap((r) => Object.entries(r.change.sshByHost).filter(([, v]) => v > 0).map(([h]) => h)))].join(", ") || "none";
    return [
      `1 + ${n}`,
      method,
      `${m((r) => r.first.seconds)} (${each((r) => r.first.seconds)})`,
      `${m((r) => r.first.machineCpuSeconds)} (${m((r) => r.first.machineCpuSeconds / os.cpus().length)})`,
      `${m((r) => r.noop.seconds)} (${each((r) => r.noop.seconds)})`,
      rs.map((r) => r.noop.sshSessions).join(", "),
      `${m((r) => r.preview.seconds)} (${each((r) => r.preview.seconds)})`,
      rs.map((r) => r.preview.sshSessions).join(", "),
      `${m((r) => r.change.seconds)} (${each((r) => r.change.seconds)})`,
      `${rs.map((r) => r.change.sshSessions).join(", ")} (${changedHosts})`,
      `${m((r) => r.noop.cpuSeconds)} / ${m((r) => r.change.cpuSeconds)}`,
      rs.map((r) => `${r.first.load[0]}/${r.noop.load[0]}/${r.change.load[0]}`).join("; "),
      rs.map((r) => `${r.noop.quiet.busyCores}/${r.change.quiet.busyCores}`).join("; "),
    ];
  });
  // Flat cost (issue 15): each size against the smallest, for the same method, in wall time and in CPU.
  const flat = o.methods.flatMap((method) => {
    const med = (n: number, f: (r: ApplyRun) => number) => median(runs.filter((r) => r.mirrors === n && r.method === method).map(f));
    const [base, ...rest] = [...o.mirrors].sort((a, b) => a - b);
    return rest.map((n) => {
      const ratio = (f: (r: ApplyRun) => number) => round(med(n, f) / med(base, f), 2);
      return `- ${method}, 1 + ${n} against 1 + ${base}: first up ${ratio((r) => r.first.seconds)}× wall, ${ratio((r) => r.first.machineCpuSeconds)}× machine CPU; no-op ${ratio((r) => r.noop.seconds)}× wall, ${ratio((r) => r.noop.cpuSeconds)}× CPU; no-op preview ${ratio((r) => r.preview.seconds)}× wall; one value ${ratio((r) => r.change.seconds)}× wall, ${ratio((r) => r.change.cpuSeconds)}× CPU`;
    });
  });
  return (
    `### Apply: wall time of \`pulumi up${o.parallel ? ` --parallel ${o.parallel}` : ""}\`, seconds, median (each run) of ${o.runs}\n\n` +
    table(["hosts", "seeding", "first up", `first up: machine CPU s (÷ ${os.cpus().length} cores)`, "no-op up", "no-op SSH sessions", "no-op preview", "its SSH sessions", "one value changed (binlogRetentionDays)", "its SSH sessions (hosts)", "CPU s no-op / change", "load (1 min) first/no-op/change", "busy cores just before no-op/change"], rows) +
    (flat.length ? `\n\nFlat cost (median against median):\n${flat.join("\n")}` : "")
  );
}

export async function applyBenchmark(o: Options): Promise<void> {
  const started = new Date().toISOString();
  const tree = treeInfo();
  const runs: ApplyRun[] = [];
  for (const method of o.methods) for (const n of o.mirrors) for (let run = 1; run <= o.runs; run++) runs.push(await applyRun(method, n, run, o));
  const md = summarize(runs, o);
  const file = writeResults(`apply${o.parallel ? `-parallel${o.parallel}` : ""}`, { benchmark: "apply", started, options: o, tree, runs }, md);
  console.log(`\n${md}\n\nresults: ${file}`);
}
