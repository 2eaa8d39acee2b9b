// Building blocks the benchmarks share: a cold lab holding the dataset, a timed `up` (optionally under the
// writer), the replication outputs of a stack, and the options every benchmark parses.
import { randomBytes } from "node:crypto";
import { DATABASE, generate, type Dataset } from "./dataset";
import { freshLab, inventory, onHost, sql, target } from "./lab";
import { changeSummary, output, previewNoChanges, resourceDurations, up, type PulumiRun } from "./stack";
import { log, load, machineBusySeconds, round, writerWindow, type WriterWindow } from "./stats";
import { startWriter, viaSsh, viaTcp, type Writer } from "./writer";

export interface Options {
  /** Repetitions of each measurement (medians are reported). */
  runs: number;
  /** Dataset size in MiB. */
  sizeMb: number;
  /** Writer: transactions per second and connections. */
  rate: number;
  connections: number;
  /** Seeding methods to measure. */
  methods: ("logical" | "physical")[];
  /** Mirror counts (apply). */
  mirrors: number[];
  /** targets: which scenarios to run (default all). */
  scenarios?: string[];
  /** database.seedCompression of the seed benchmark's stacks (unset: the schema's default). */
  compression?: "zstd" | "none";
  /** `pulumi up --parallel N` instead of the engine's default (an experiment; unset = default). */
  parallel?: number;
  /** seed: that many small tables beside the sysbench ones, as a CMS's schema has (unset: none). */
  smallTables?: number;
}

/** Fresh lab hosts (master + `mirrors`) with the dataset on the master, binary log still off. */
export async function coldLab(mirrors: number, sizeMb: number, smallTables = 0): Promise<Dataset> {
  log(`fresh lab: master + ${mirrors} mirror(s)`);
  await freshLab(mirrors);
  log(`dataset: ${sizeMb} MiB`);
  const d = await generate("master", sizeMb, log, smallTables);
  log(
    `dataset: ${round(d.bytes / 1048576)} MiB in ${d.tables} tables x ${d.rowsPerTable} rows` +
      (d.smallTables ? ` and ${d.smallTables} small tables` : "") +
      `, made in ${round(d.seconds)} s`,
  );
  await createTcpUser();
  await listenOnLabAddress();
  return d;
}

// A site's database server already listens on the network; the image's MariaDB listens on 127.0.0.1 only, so the
// TCP probe would see nothing until mirrorstack's my.cnf (60-mirrorstack.cnf, read later) sets bind_address, and
// would report that wait as the restart's cut.
async function listenOnLabAddress(): Promise<void> {
  const r = await onHost(
    "master",
    "printf '[mysqld]\\nbind-address = 0.0.0.0\\n' > /etc/mysql/mariadb.conf.d/55-bench-listen.cnf && systemctl restart mariadb",
  );
  if (r.code !== 0) throw new Error(`master: could not make MariaDB listen on the lab address: ${r.stderr}`);
}

// The TCP probe's account on the master: this machine's bridge address only, the dataset's database only,
// never in the binary log (the mirrors do not need it).
const TCP_USER = "mirrorstack_bench";
const TCP_PASSWORD = randomBytes(12).toString("hex");

async function createTcpUser(): Promise<void> {
  const from = inventory().gateway;
  await sql(
    "master",
    `SET SESSION sql_log_bin = 0; CREATE OR REPLACE USER '${TCP_USER}'@'${from}' IDENTIFIED BY '${TCP_PASSWORD}'; ` +
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ${DATABASE}.* TO '${TCP_USER}'@'${from}';`,
  );
}

/**
 * The write load: `ssh` = mysql2 over SSH as the brief's writer (o.rate, o.connections); `tcp` = a light probe
 * (one connection, 50 tx/s) over TCP to the master, which sees the server's own downtime without SSH's reconnect cost.
 */
export function writerFor(d: Dataset, o: Options, via: "ssh" | "tcp" = "ssh"): Writer {
  const master = inventory().hosts.find((h) => h.role === "master")!;
  return startWriter({
    connect: via === "ssh" ? viaSsh(target("master")) : viaTcp(master.address, TCP_USER, TCP_PASSWORD),
    database: DATABASE,
    tables: d.tables,
    rowsPerTable: d.rowsPerTable,
    rate: via === "ssh" ? o.rate : 50,
    connections: via === "ssh" ? o.connections : 1,
    maxSeconds: 3600,
  });
}

export interface TimedUp {
  seconds: number;
  /** CPU seconds of the run's own processes (PulumiRun.cpuSeconds). */
  cpuSeconds: number;
  /** CPU seconds the machine was busy during the run, lab hosts included (machineBusySeconds). */
  machineCpuSeconds: number;
  load: [number, number, number];
  changes: string;
  /** Per-resource durations the engine printed (seconds). */
  resources: { resource: string; op: string; seconds: number; atSeconds: number }[];
  /** The up's start and end on the writer's clock (when a writer ran). */
  window?: [number, number];
  /** What the writer saw from the start of the up to its end (filled in by finishWriter). */
  writer?: WriterWindow;
  /** The same for the TCP probe, when one ran. */
  probe?: WriterWindow;
  probeWindow?: [number, number];
}

/** `pulumi up` on the stack, timed; with a writer, the up's bounds on the writer's clock. */
export async function timedUp(stack: string, writer?: Writer, probe?: Writer): Promise<TimedUp> {
  return timed(() => up(stack), writer, probe);
}

/** A no-op `pulumi preview` of the stack, timed like an up (it fails if the preview shows any change). */
export async function timedPreview(stack: string): Promise<TimedUp> {
  return timed(() => previewNoChanges(stack));
}

async function timed(engine: () => Promise<PulumiRun>, writer?: Writer, probe?: Writer): Promise<TimedUp> {
  const from = writer?.now();
  const pfrom = probe?.now();
  const busy0 = machineBusySeconds();
  const run = await engine();
  const busy = machineBusySeconds() - busy0;
  const to = writer?.now();
  const pto = probe?.now();
  return {
    seconds: round(run.seconds, 2),
    cpuSeconds: round(run.cpuSeconds, 2),
    machineCpuSeconds: round(busy, 2),
    load: load(),
    changes: changeSummary(run),
    resources: resourceDurations(run),
    ...(from !== undefined && to !== undefined ? { window: [from, to] as [number, number] } : {}),
    ...(pfrom !== undefined && pto !== undefined ? { probeWindow: [pfrom, pto] as [number, number] } : {}),
  };
}

/** Stops the writer and fills in what it saw during each timed up that ran under it. */
export async function finishWriter(writer: Writer, ups: TimedUp[], probe?: Writer): Promise<void> {
  const [w, p] = await Promise.all([writer.stop(), probe?.stop()]);
  for (const u of ups) {
    if (u.window) u.writer = writerWindow(w, u.window[0], u.window[1]);
    if (p && u.probeWindow) u.probe = writerWindow(p, u.probeWindow[0], u.probeWindow[1]);
  }
}

export interface SeedOutput {
  mirror: string;
  /** bytes: streamed master -> mirror; controllerBytes: what passed through this machine (scripts, summaries). */
  seed?: { method: string; bytes: number; controllerBytes?: number; sharedWith?: string[]; seconds: number; phases?: Record<string, number> };
  status?: Record<string, unknown>;
}

export async function replicationOutputs(stack: string): Promise<SeedOutput[]> {
  return (await output(stack, "replication")) as SeedOutput[];
}

