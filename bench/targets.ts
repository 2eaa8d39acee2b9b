// `npm run bench -- targets [--size-mb 377] [--runs N] [--methods logical[,physical]]`: mirrorstack against the
// baseline an operator would use (an Ansible community.mysql playbook, measured on this lab class with the
// 377 MB sysbench dataset). Our aim is half of each baseline number.
//
// Scenarios, each on fresh hosts whose master holds the dataset with the binary log off (so our first `up`
// includes the master's restart), per seeding method and run:
//   cold-1         master + 1 mirror, no write load; then a no-op `up`
//   cold-1-writer  master + 1 mirror under the writer (reconnecting at once) and a TCP probe: the up, and the
//                  stretch without completed writes around the master's restart (the clients' cut)
//   cold-4         master + 4 mirrors, no write load; then a no-op `up`
// Every scenario ends with a consistency check of each mirror against the master.
import { DATABASE } from "./lib/dataset";
import { acceptedSessions, mirrorNames, waitSshIdle } from "./lib/lab";
import { coldLab, finishWriter, replicationOutputs, timedUp, writerFor, type Options, type TimedUp } from "./lib/scenario";
import { initStack, removeStack, stackName } from "./lib/stack";
import { log, median, MiB, round, table, treeInfo, writeResults } from "./lib/stats";
import { describeChecks, verifyMirrors, type MirrorCheck } from "./lib/verify";

type Scenario = "cold-1" | "cold-1-writer" | "cold-4";
export const SCENARIOS: Scenario[] = ["cold-1", "cold-1-writer", "cold-4"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The baseline (seconds) and what it covers. */
const BASELINE = {
  cold1: 37,
  cold1Writer: 62,
  cold1WriterCatchUp: 22,
  cold4: 76,
  noop1: 5.9,
  noop4: 11.4,
  restartCut: 1.5,
};

interface TargetRun {
  scenario: Scenario;
  method: "logical" | "physical";
  run: number;
  datasetBytes: number;
  first: TimedUp;
  seedSeconds: (number | undefined)[];
  noop?: TimedUp & { sshSessions: number; sshByHost: Record<string, number> };
  checks: MirrorCheck[];
}

async function scenarioRun(scenario: Scenario, method: "logical" | "physical", run: number, o: Options): Promise<TargetRun> {
  const mirrors = scenario === "cold-4" ? 4 : 1;
  const dataset = await coldLab(mirrors, o.sizeMb);
  const names = mirrorNames();
  const stack = stackName(`targets-${scenario}`);
  await initStack(stack, { mirrors: names, database: { databases: [DATABASE], seedMethod: method, catchUpTimeoutSeconds: 3600 } });
  try {
    log(`[${scenario} ${method} ${run}] first up`);
    let first: TimedUp;
    if (scenario === "cold-1-writer") {
      const writer = writerFor(dataset, o);
      const probe = writerFor(dataset, o, "tcp");
      await sleep(2000);
      first = await timedUp(stack, writer, probe);
      await finishWriter(writer, [first], probe);
      log(
        `[${scenario} ${method} ${run}] ${first.seconds} s; restart cut ${first.writer?.cutMs} ms at +${first.writer?.cutAtS} s ` +
          `(TCP probe ${first.probe?.cutMs} ms), longest gap ${first.writer?.longestGapMs} ms at +${first.writer?.longestGapAtS} s, p99 ${first.writer?.latencyP99Ms} ms`,
      );
    } else {
      first = await timedUp(stack);
      log(`[${scenario} ${method} ${run}] ${first.seconds} s`);
    }
    const seedSeconds = (await replicationOutputs(stack)).map((r) => r.seed?.seconds);
    let noop: TargetRun["noop"];
    if (scenario !== "cold-1-writer") {
      const hosts = ["master", ...names];
      await waitSshIdle(); // see apply.ts: leftover control connections would hide sessions from the count
      const before = await acceptedSessions(hosts);
      const u = await timedUp(stack);
      const after = await acceptedSessions(hosts);
      const sshByHost = Object.fromEntries(hosts.map((h) => [h, after[h] - before[h]]));
      noop = { ...u, sshByHost, sshSessions: Object.values(sshByHost).reduce((a, b) => a + b, 0) };
      log(`[${scenario} ${method} ${run}] no-op up ${u.seconds} s (${u.changes}), ${noop.sshSessions} SSH sessions`);
    }
    const checks = await verifyMirrors(names, DATABASE);
    log(`[${scenario} ${method} ${run}] ${describeChecks(checks)}`);
    return { scenario, method, run, datasetBytes: dataset.bytes, first, seedSeconds, noop, checks };
  } finally {
    await removeStack(stack, { destroy: false });
  }
}

function verdict(ours: number, baseline: number): string {
  const half = baseline / 2;
  return ours <= half ? `met (${round(ours, 2)} <= ${round(half, 2)})` : `NOT met (${round(ours, 2)} > ${round(half, 2)})`;
}

function summarize(runs: TargetRun[], o: Options): string {
  const sections: string[] = [];
  for (const method of o.methods) {
    const of = (s: Scenario) => runs.filter((r) => r.method === method && r.scenario === s);
    const med = (rs: TargetRun[], f: (r: TargetRun) => number | undefined) =>
      round(median(rs.map(f).filter((x): x is number => typeof x === "number")), 2);
    const loads = (rs: TargetRun[], noop = false) => rs.map((r) => (noop ? r.noop?.load[0] : r.first.load[0])).join(" / ");
    const consistent = (rs: TargetRun[]) => (rs.length === 0 ? "-" : rs.every((r) => r.checks.every((c) => c.equal)) ? `equal (${rs.length}/${rs.length})` : "DIFFERS");
    const all = (rs: TargetRun[], f: (r: TargetRun) => number | undefined) => rs.map((r) => round(f(r) ?? NaN, 2)).join(", ");
    const c1 = of("cold-1");
    const cw = of("cold-1-writer");
    const c4 = of("cold-4");
    const rows: (string | number)[][] = [];
    const row = (what: string, rs: TargetRun[], baseline: number, f: (r: TargetRun) => number | undefined, note = "", consistency = consistent(rs)) => {
      if (rs.length === 0) return;
      const ours = med(rs, f);
      rows.push([what, baseline, round(baseline / 2, 2), ours, all(rs, f), verdict(ours, baseline) + note, consistency, loads(rs, what.startsWith("no-op"))]);
    };
    row("cold master + 1 mirror, s", c1, BASELINE.cold1, (r) => r.first.seconds);
    row("same under a steady write load, s (ours: until caught up)", cw, BASELINE.cold1Writer, (r) => r.first.seconds);
    row("same, against the baseline's 62 s + 22 s catch-up, s", cw, BASELINE.cold1Writer + BASELINE.cold1WriterCatchUp, (r) => r.first.seconds);
    row("cold master + 4 mirrors, s", c4, BASELINE.cold4, (r) => r.first.seconds);
    row("no-op re-run, 1 mirror, s", c1, BASELINE.noop1, (r) => r.noop?.seconds, ` — SSH sessions ${c1.map((r) => r.noop?.sshSessions).join(", ")}`, "-");
    row("no-op re-run, 4 mirrors, s", c4, BASELINE.noop4, (r) => r.noop?.seconds, ` — SSH sessions ${c4.map((r) => r.noop?.sshSessions).join(", ")}`, "-");
    // The cut is the stretch without completed writes around the first lost session (the restart).
    row("master restart: client cut (writer over SSH), s", cw, BASELINE.restartCut, (r) => (r.first.writer ? r.first.writer.cutMs / 1000 : undefined), "", "-");
    row("master restart: client cut (TCP probe), s", cw, BASELINE.restartCut, (r) => (r.first.probe ? r.first.probe.cutMs / 1000 : undefined), "", "-");
    sections.push(
      `### Targets, ${method} seeding, ${round(median(runs.map((r) => r.datasetBytes)) / MiB)} MiB sysbench-like dataset (medians of ${o.runs})\n\n` +
        table(["measure", "baseline", "target (half)", "ours (median)", "ours (each run)", "half met?", "consistency", "load (1 min) per run"], rows),
    );
    const w = cw.map((r) => r.first.writer).filter((x) => x !== undefined);
    if (w.length > 0) {
      sections.push(
        `Writer during the cold up (${o.rate} tx/s, ${o.connections} connections): p99 ${w.map((x) => x.latencyP99Ms).join(", ")} ms; ` +
          `max ${w.map((x) => x.latencyMaxMs).join(", ")} ms; longest stretch without a completed write ${w.map((x) => x.longestGapMs).join(", ")} ms; seconds with zero completed writes: ${w.map((x) => (x.zeroSeconds.length ? x.zeroSeconds.join("+") : "none")).join(", ")}; ` +
          `failed transactions ${w.map((x) => x.failures).join(", ")}.`,
      );
    }
  }
  return sections.join("\n\n");
}

export async function targetsBenchmark(o: Options): Promise<void> {
  const started = new Date().toISOString();
  const tree = treeInfo();
  const runs: TargetRun[] = [];
  for (let run = 1; run <= o.runs; run++) {
    for (const method of o.methods) {
      for (const s of SCENARIOS.filter((x) => !o.scenarios || o.scenarios.includes(x))) runs.push(await scenarioRun(s, method, run, o));
    }
  }
  const md = summarize(runs, o);
  const file = writeResults(`targets-${o.sizeMb}mb-${o.methods.join("-")}`, { benchmark: "targets", started, options: o, tree, baseline: BASELINE, runs }, md);
  console.log(`\n${md}\n\nresults: ${file}`);
}
