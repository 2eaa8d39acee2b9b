// `npm run bench -- <benchmark> [options]`: seed | targets | apply. Results go to bench-results/ (JSON + Markdown)
// and the Markdown table to stdout. Runs on the lab instance MIRRORSTACK_LAB_ID (default "b"), never the default lab.
import { applyBenchmark } from "./apply";
import { LAB_ID, labDown } from "./lib/lab";
import { log } from "./lib/stats";
import type { Options } from "./lib/scenario";
import { seedBenchmark } from "./seed";
import { setUpFlags } from "./lib/stack";
import { SCENARIOS, targetsBenchmark } from "./targets";

const USAGE = `usage: npm run bench -- <benchmark> [options]
  seed     [--quick | --size-mb N] [--small-tables N] [--runs N] [--methods logical,physical] [--compression zstd|none] [--rate TX/S] [--connections N]
  targets  [--size-mb N] [--runs N] [--methods logical[,physical]] [--scenarios cold-1,cold-1-writer,cold-4] [--rate TX/S] [--connections N]
  apply    [--runs N] [--mirrors 1,4,8] [--methods logical[,physical]]
  every benchmark: [--parallel N] passes --parallel N to each \`pulumi up\` (default: the engine's own);
                  [--keep-lab] leaves the lab up at the end (default: taken down)
Lab instance: MIRRORSTACK_LAB_ID (default b).`;

function parse(argv: string[]): { name: string; o: Options; keepLab: boolean } {
  if (argv.includes("--help") || argv.includes("-h")) {
    // Asked for: usage on stdout, success.
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const [name, ...rest] = argv;
  const defaults: Record<string, Options> = {
    seed: { runs: 1, sizeMb: 1024, rate: 150, connections: 3, methods: ["logical", "physical"], mirrors: [] },
    targets: { runs: 3, sizeMb: 377, rate: 150, connections: 3, methods: ["logical"], mirrors: [1, 4] },
    apply: { runs: 3, sizeMb: 1, rate: 0, connections: 0, methods: ["logical"], mirrors: [1, 4, 8] },
  };
  if (!name || !(name in defaults)) throw new Error(USAGE);
  const o = { ...defaults[name] };
  let keepLab = false;
  const int = (v: string | undefined, flag: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} expects an integer from ${min} to ${max}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const next = () => rest[++i];
    switch (flag) {
      case "--quick":
        o.sizeMb = 100;
        break;
      case "--size-mb":
        o.sizeMb = int(next(), flag, 1, 4096);
        break;
      case "--small-tables":
        o.smallTables = int(next(), flag, 1, 5000);
        break;
      case "--runs":
        o.runs = int(next(), flag, 1, 20);
        break;
      case "--rate":
        o.rate = int(next(), flag, 1, 2000);
        break;
      case "--connections":
        o.connections = int(next(), flag, 1, 32);
        break;
      case "--methods": {
        const ms = (next() ?? "").split(",");
        if (ms.length === 0 || ms.some((m) => m !== "logical" && m !== "physical")) throw new Error(`--methods expects logical and/or physical\n${USAGE}`);
        o.methods = ms as Options["methods"];
        break;
      }
      case "--compression": {
        const c = next();
        if (c !== "zstd" && c !== "none") throw new Error(`--compression expects zstd or none\n${USAGE}`);
        o.compression = c;
        break;
      }
      case "--keep-lab":
        keepLab = true;
        break;
      case "--parallel":
        o.parallel = int(next(), flag, 1, 256);
        break;
      case "--scenarios": {
        const ss = (next() ?? "").split(",");
        if (ss.some((x) => !SCENARIOS.includes(x as (typeof SCENARIOS)[number]))) throw new Error(`--scenarios expects some of ${SCENARIOS.join(",")}\n${USAGE}`);
        o.scenarios = ss;
        break;
      }
      case "--mirrors":
        o.mirrors = (next() ?? "").split(",").map((x) => int(x, flag, 1, 50));
        break;
      default:
        throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return { name, o, keepLab };
}

async function main(): Promise<void> {
  if (typeof process.getuid === "function" && process.getuid() !== 0) throw new Error("the benchmarks build a lab: run as root");
  const { name, o, keepLab } = parse(process.argv.slice(2));
  log(`${name} on lab ${LAB_ID}: ${JSON.stringify(o)}`);
  if (o.parallel) setUpFlags(["--parallel", String(o.parallel)]);
  try {
    if (name === "seed") await seedBenchmark(o);
    else if (name === "targets") await targetsBenchmark(o);
    else await applyBenchmark(o);
  } finally {
    if (!keepLab) {
      log(`taking lab ${LAB_ID} down`);
      await labDown();
    }
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e.message);
    process.exit(1);
  },
);
