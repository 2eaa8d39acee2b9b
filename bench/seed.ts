// `npm run bench -- seed [--quick] [--size-mb N] [--runs N] [--methods logical,physical]` (issue 5).
//
// Per method and run: fresh lab (master + mirror1 + mirror2), the dataset on the master, a raw copy of the
// master's data directory straight to mirror2 over the seed's SSH path (idle lab), then
//   1. the first `up` with mirror1 only (cold: includes the master's restart that turns the binary log on),
//   then the same raw copy again under the seed's conditions (writer running, mirror1 replicating),
//   2. the measured case: `up` adding a fresh mirror2 while the binary log is already on,
// both under the rate-limited writer. The up returns only once the new mirror has caught up to a master
// position taken after replication started. At the end every mirror is compared with the master.
import { seedScripts } from "../infra/render/scripts";
import { copyFromMaster } from "../infra/replication/seed";
import { DATABASE, datadirBytes, type Dataset } from "./lib/dataset";
import { target } from "./lib/lab";
import { coldLab, finishWriter, replicationOutputs, timedUp, writerFor, type Options, type SeedOutput, type TimedUp } from "./lib/scenario";
import { initStack, removeStack, stackName, writeStack } from "./lib/stack";
import { load, log, median, MiB, round, table, treeInfo, writeResults } from "./lib/stats";
import { describeChecks, verifyMirrors, type MirrorCheck } from "./lib/verify";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RawCopy {
  bytes: number;
  seconds: number;
  mbPerSecond: number;
  load: [number, number, number];
}

/**
 * tar of the master's /var/lib/mysql -> `cat >/dev/null` on a mirror, uncompressed, over the path seeding takes:
 * straight from the master to the mirror (copyFromMaster with the `raw` scripts), not through this machine.
 */
export async function rawCopy(from: string, to: string): Promise<RawCopy> {
  const t0 = performance.now();
  const master = target(from);
  const copy = await copyFromMaster({
    master,
    masterAddress: master.address,
    mirrors: [target(to)],
    scripts: seedScripts({ kind: "raw", flavour: "mariadb", databases: [] }),
  });
  const r = copy.results[0];
  if (!r?.ok) throw r?.error ?? new Error("raw copy: no result");
  // Timed until the key is gone, as a seed is.
  await copy.cleanedUp;
  const seconds = (performance.now() - t0) / 1000;
  return { bytes: r.bytes, seconds: round(seconds, 2), mbPerSecond: round(r.bytes / MiB / seconds), load: load() };
}

interface SeedRun {
  method: "logical" | "physical";
  run: number;
  dataset: Dataset;
  datadirBytes: number;
  raw: RawCopy;
  /** The same raw copy under the seed's own conditions: after the first up (mirror1 replicating, binary log on), with
   * the writer and the TCP probe running, just before the seed. */
  rawLoaded?: RawCopy;
  /** First up (mirror1, master restart included). */
  cold: TimedUp & { seed?: SeedOutput["seed"] };
  /** Up adding mirror2 with the binary log already on: the seeding measurement. */
  seed: TimedUp & { seed?: SeedOutput["seed"]; resourceSeconds?: number; mbPerSecond?: number };
  checks: MirrorCheck[];
}

async function seedRun(method: "logical" | "physical", run: number, o: Options): Promise<SeedRun> {
  const dataset = await coldLab(2, o.sizeMb, o.smallTables);
  const ddBytes = await datadirBytes("master");
  log(`raw copy of the master's data directory (${round(ddBytes / MiB)} MiB) to mirror2`);
  const raw = await rawCopy("master", "mirror2");
  log(`raw copy: ${round(raw.bytes / MiB)} MiB in ${raw.seconds} s = ${raw.mbPerSecond} MiB/s`);

  const stack = stackName(`seed-${method}`);
  const database = { databases: [DATABASE], seedMethod: method, catchUpTimeoutSeconds: 3600, ...(o.compression ? { seedCompression: o.compression } : {}) };
  await initStack(stack, { mirrors: ["mirror1"], database });
  try {
    log(`[${method} ${run}] cold up: master + mirror1 (binary log turned on), writer at ${o.rate}/s`);
    let writer = writerFor(dataset, o);
    let probe = writerFor(dataset, o, "tcp");
    await sleep(2000);
    const cold = await timedUp(stack, writer, probe);
    await finishWriter(writer, [cold], probe);
    const coldSeed = (await replicationOutputs(stack)).find((x) => x.mirror === "mirror1")?.seed;
    log(
      `[${method} ${run}] cold up: ${cold.seconds} s (seed ${coldSeed?.seconds} s), writer p99 ${cold.writer?.latencyP99Ms} ms, ` +
        `restart cut ${cold.writer?.cutMs} ms (TCP probe ${cold.probe?.cutMs} ms), longest gap ${cold.writer?.longestGapMs} ms`,
    );

    // The raw copy again, side by side with the seed: the same writer, mirror1 replicating, the binary log on.
    log(`[${method} ${run}] raw copy to mirror2 under the writer at ${o.rate}/s (the seed's conditions)`);
    writer = writerFor(dataset, o);
    probe = writerFor(dataset, o, "tcp");
    await sleep(2000);
    const rawLoaded = await rawCopy("master", "mirror2");
    await finishWriter(writer, [], probe);
    log(`[${method} ${run}] raw copy under the writer: ${round(rawLoaded.bytes / MiB)} MiB in ${rawLoaded.seconds} s = ${rawLoaded.mbPerSecond} MiB/s`);

    log(`[${method} ${run}] seeding a fresh mirror2, binary log already on, writer at ${o.rate}/s`);
    writeStack(stack, { mirrors: ["mirror1", "mirror2"], database });
    writer = writerFor(dataset, o);
    probe = writerFor(dataset, o, "tcp");
    await sleep(2000);
    const seed = await timedUp(stack, writer, probe);
    await finishWriter(writer, [seed], probe);
    const seedOut = (await replicationOutputs(stack)).find((x) => x.mirror === "mirror2")?.seed;
    const resourceSeconds = seed.resources.find((r) => r.resource.endsWith("mirror2-replication") && r.op === "created")?.seconds;
    const mbPerSecond = seedOut ? round(dataset.bytes / MiB / seedOut.seconds) : undefined;
    log(`[${method} ${run}] seed up: ${seed.seconds} s, seed ${seedOut?.seconds} s = ${mbPerSecond} MiB/s, writer p99 ${seed.writer?.latencyP99Ms} ms max ${seed.writer?.latencyMaxMs} ms`);
    if (seedOut?.phases) log(`[${method} ${run}] seed phases (s): ${Object.entries(seedOut.phases).map(([k, v]) => `${k} ${round(v, 2)}`).join(", ")}`);

    log(`[${method} ${run}] consistency check`);
    const checks = await verifyMirrors(["mirror1", "mirror2"], DATABASE);
    log(`[${method} ${run}] ${describeChecks(checks)}`);
    return {
      method,
      run,
      dataset,
      datadirBytes: ddBytes,
      raw,
      rawLoaded,
      cold: { ...cold, seed: coldSeed },
      seed: { ...seed, seed: seedOut, resourceSeconds, mbPerSecond },
      checks,
    };
  } finally {
    // The hosts go with the next fresh lab: only the stack's state is removed here.
    await removeStack(stack, { destroy: false });
  }
}

const zeroes = (s?: number[]) => (s && s.length ? s.join(",") : "none");

function summarize(runs: SeedRun[], o: Options): string {
  const rows: (string | number)[][] = [];
  for (const method of o.methods) {
    const rs = runs.filter((r) => r.method === method);
    if (rs.length === 0) continue;
    const m = (f: (r: SeedRun) => number | undefined) => round(median(rs.map(f).filter((x): x is number => typeof x === "number")));
    rows.push([
      method,
      m((r) => r.dataset.bytes / MiB),
      m((r) => r.seed.seconds),
      m((r) => r.seed.resourceSeconds),
      m((r) => r.seed.seed?.seconds),
      m((r) => r.seed.mbPerSecond),
      m((r) => r.raw.mbPerSecond),
      `${m((r) => (r.seed.mbPerSecond !== undefined ? (100 * r.seed.mbPerSecond) / r.raw.mbPerSecond : undefined))} %`,
      // A physical seed moves the whole data directory, as the raw copy does: over the same bytes the ratio is one
      // of times. (The column before divides the dataset's MiB/s by the data directory's, which puts it lower.)
      method === "physical" ? `${m((r) => (r.seed.seed?.seconds ? (100 * r.raw.seconds) / r.seed.seed.seconds : undefined))} %` : "—",
      // The same, against the raw copy made under the seed's own writer and replication (rawLoaded). That copy also
      // carries the binary logs written since, so the two are compared per byte: the data directory's bytes per
      // second of seed against the raw copy's.
      m((r) => r.rawLoaded?.seconds),
      method === "physical"
        ? `${m((r) => (r.seed.seed?.seconds && r.rawLoaded ? (100 * r.datadirBytes * r.rawLoaded.seconds) / (r.seed.seed.seconds * r.rawLoaded.bytes) : undefined))} %`
        : "—",
      m((r) => (r.seed.seed ? r.seed.seed.bytes / 1e6 : undefined)),
      m((r) => r.seed.seed?.controllerBytes),
      m((r) => r.seed.writer?.latencyP99Ms),
      m((r) => r.seed.writer?.latencyMaxMs),
      `${m((r) => r.seed.probe?.latencyP99Ms)} / ${m((r) => r.seed.probe?.latencyMaxMs)}`,
      rs.map((r) => zeroes(r.seed.writer?.zeroSeconds)).join(" / "),
      rs.every((r) => r.checks.every((c) => c.equal)) ? "equal" : "DIFFERS",
      rs.map((r) => r.seed.load[0]).join(" / "),
      rs.length,
    ]);
  }
  const seedTable = table(
    ["method", "dataset MiB", "up to caught-up s", "replication resource s", "seed s (output)", "seed MiB/s", "raw copy MiB/s (master -> mirror)", "seed / raw", "raw copy s / seed s (physical: the same data directory)", "raw copy under the writer s", "seed / raw copy under the writer, per byte (physical)", "streamed MB (master -> mirror)", "bytes through this machine", "writer p99 ms", "writer max ms", "TCP probe p99 / max ms", "zero-write seconds", "consistency", "load (1 min)", "runs"],
    rows,
  );
  const coldRows = o.methods.flatMap((method) => {
    const rs = runs.filter((r) => r.method === method);
    if (rs.length === 0) return [];
    const m = (f: (r: SeedRun) => number | undefined) => round(median(rs.map(f).filter((x): x is number => typeof x === "number")));
    return [[
      method,
      m((r) => r.cold.seconds),
      m((r) => r.cold.seed?.seconds),
      m((r) => r.cold.writer?.cutMs),
      m((r) => r.cold.probe?.cutMs),
      m((r) => r.cold.writer?.longestGapMs),
      m((r) => r.cold.writer?.latencyP99Ms),
      rs.map((r) => zeroes(r.cold.writer?.zeroSeconds)).join(" / "),
      rs.map((r) => r.cold.load[0]).join(" / "),
    ]];
  });
  const coldTable = table(["method", "first up s (incl. master restart)", "seed s (output)", "restart cut ms (writer)", "restart cut ms (TCP probe)", "longest write gap ms", "writer p99 ms", "zero-write seconds", "load (1 min)"], coldRows);
  return `### Seeding a fresh mirror, binary log already on, writer at ${o.rate} tx/s (medians)\n\n${seedTable}\n\n` +
    `### First up (cold master: binary log turned on, restart included) with mirror1, same writer (medians)\n\n${coldTable}`;
}

export async function seedBenchmark(o: Options): Promise<void> {
  const started = new Date().toISOString();
  const tree = treeInfo();
  const runs: SeedRun[] = [];
  for (let run = 1; run <= o.runs; run++) {
    for (const method of o.methods) runs.push(await seedRun(method, run, o));
  }
  const md = summarize(runs, o);
  const file = writeResults(`seed-${o.sizeMb}mb`, { benchmark: "seed", started, options: o, tree, runs }, md);
  console.log(`\n${md}\n\nresults: ${file}`);
}
