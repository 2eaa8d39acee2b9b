// The binlog purge job's position reports (infra/ops/positions.ts): `mirrorctl purge-binlogs` is their only writer
// (`--record-only` records without purging; `--dry-run` writes nothing), and `mirrorctl status` writes nothing on any
// host, it only reads the reports' age. The commands run against stand-in hosts: every script they send runs here
// with bash, with the reports directory moved into a temporary directory, and the database sessions answer from
// fixtures and record every statement.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseArgs } from "../infra/ops/args";
import type { OpsContext } from "../infra/ops/context";
import { describeReports, parseReportAges, POSITIONS_DIR, readReportsScript, REPORT_OLD_SECONDS, writeReportsScript } from "../infra/ops/positions";
import { purgeCommand } from "../infra/ops/purge";
import { statusCommand } from "../infra/ops/status";
import { mariadbRunning } from "./fixtures/replication/rows";
import { loadStack } from "./render-stacks";

const sandbox = vi.hoisted(() => ({ dir: "", scripts: [] as { host: string; script: string }[], statements: [] as { host: string; sql: string }[], stopped: new Set<string>() }));

/** Runs a script here with bash, the reports directory moved into the sandbox. */
function bash(script: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync("bash", ["-c", script.split(POSITIONS_DIR).join(path.join(sandbox.dir, "positions"))], { encoding: "utf8" });
  return { code: r.status ?? 255, stdout: r.stdout, stderr: r.stderr };
}

vi.mock("../infra/ops/hosts", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../infra/ops/hosts")>();
  return {
    ...actual,
    run: async (target: { host: string }, script: string) => {
      sandbox.scripts.push({ host: target.host, script });
      return { ...bash(script), unreachable: false };
    },
    withDb: async (target: { host: string }, cfg: { master: { address: string } }, fn: (db: unknown) => Promise<unknown>) => {
      const query = async (s: { sql: string }) => {
        sandbox.statements.push({ host: target.host, sql: s.sql });
        if (s.sql.startsWith("SELECT @@datadir")) return [{ datadir: sandbox.dir }];
        if (s.sql === "SHOW SLAVE STATUS") {
          const stopped = sandbox.stopped.has(target.host);
          return [{ ...mariadbRunning, Master_Host: cfg.master.address, Relay_Master_Log_File: "mysql-bin.000002", Exec_Master_Log_Pos: 500, Slave_SQL_Running: stopped ? "No" : "Yes" }];
        }
        if (s.sql === "SHOW MASTER STATUS") return [{ File: "mysql-bin.000003", Position: 400 }];
        if (s.sql === "SHOW BINARY LOGS") return ["000001", "000002", "000003"].map((n) => ({ Log_name: `mysql-bin.${n}`, File_size: 1000 }));
        return [];
      };
      return fn({ query });
    },
  };
});

const cfg = loadStack("lab");
const ctx = {
  stack: "lab",
  cfg,
  engine: { flavour: cfg.database.flavour, version: cfg.database.version },
  target: (name: string) => ({ host: name, address: cfg.hosts.find((h) => h.name === name)!.address, user: "root", port: 22 }),
} as unknown as OpsContext;
const mirrors = cfg.mirrors.map((m) => m.name);
const reportsDir = () => path.join(sandbox.dir, "positions");

/** Every file under the sandbox with its size and modification time: what "nothing was written" compares. */
function listing(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.statSync(p);
      out.push(`${p} ${st.size} ${st.mtimeMs}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(sandbox.dir);
  return out.sort();
}

beforeEach(() => {
  sandbox.dir = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-positions-"));
  sandbox.scripts.length = 0;
  sandbox.statements.length = 0;
  sandbox.stopped.clear();
});
afterEach(() => fs.rmSync(sandbox.dir, { recursive: true, force: true }));

describe("position reports", () => {
  it("round trip: the reports writeReportsScript leaves are the ones readReportsScript finds, with their age", () => {
    const status = { flavour: "mariadb", ioRunning: true, sqlRunning: true, execFile: "mysql-bin.000002", execPos: 500, sourceHost: "10.250.0.10" } as never;
    const now = Math.floor(Date.now() / 1000);
    expect(bash(writeReportsScript([{ host: "mirror1", replication: status }], now - 7200)).code).toBe(0);
    expect(fs.readFileSync(path.join(reportsDir(), "mirror1"), "utf8")).toContain("exec_file=mysql-bin.000002\nexec_pos=500\n");
    const ages = parseReportAges(bash(readReportsScript(["mirror1", "mirror2"])).stdout, ["mirror1", "mirror2"]);
    expect(ages[0]!.mirror).toBe("mirror1");
    expect(ages[0]!.ageSeconds).toBeGreaterThanOrEqual(7200);
    expect(ages[0]!.ageSeconds).toBeLessThan(7260);
    expect(ages[1]).toEqual({ mirror: "mirror2", ageSeconds: null });
  });

  it("status says where the reports come from, and what to run when one is missing or old", () => {
    const fresh = describeReports("prod", "db1", [{ mirror: "db2", ageSeconds: 300 }]);
    expect(fresh).toBe("binlog purge job on db1: mirror positions as recorded by mirrorctl purge-binlogs: db2 5m 0s ago");
    const missing = describeReports("prod", "db1", [{ mirror: "db2", ageSeconds: 300 }, { mirror: "db3", ageSeconds: null }])!;
    expect(missing).toContain("db3 none");
    expect(missing).toMatch(/note: the job refuses to purge without a report for every mirror; record the positions with `mirrorctl purge-binlogs --record-only --stack prod`/);
    const old = describeReports("prod", "db1", [{ mirror: "db2", ageSeconds: REPORT_OLD_SECONDS + 3600 }])!;
    expect(old).toContain("db2 1d 1h ago (old)");
    expect(old).toMatch(/note: the job purges only up to the oldest report; record the positions with/);
  });
});

describe("who writes the reports", () => {
  it("status writes nothing on any host: no file changes, only reads reach the databases; it reads the reports' age", async () => {
    fs.mkdirSync(reportsDir());
    fs.writeFileSync(path.join(reportsDir(), "mirror1"), `reported=${Math.floor(Date.now() / 1000) - 60}\nio_running=Yes\n`);
    const before = listing();
    const r = await statusCommand(ctx, parseArgs(["status", "--stack", "lab"]));
    expect(listing()).toEqual(before);
    expect(new Set(sandbox.scripts.map((s) => s.host))).toEqual(new Set(cfg.hosts.map((h) => h.name)));
    expect(sandbox.statements.length).toBeGreaterThan(0);
    for (const s of sandbox.statements) expect(s.sql).toMatch(/^(SELECT|SHOW) /);
    expect(r.text).toMatch(/binlog purge job on master: mirror positions as recorded by mirrorctl purge-binlogs: mirror1 1m \d+s ago, mirror2 none, mirror3 none/);
    expect(r.text).toContain("mirrorctl purge-binlogs --record-only --stack lab");
    const master = (r.json as { hosts: { host: string; positionReports?: unknown }[] }).hosts.find((h) => h.host === "master")!;
    expect(master.positionReports).toEqual([
      { mirror: "mirror1", ageSeconds: expect.any(Number) },
      { mirror: "mirror2", ageSeconds: null },
      { mirror: "mirror3", ageSeconds: null },
    ]);
  });

  it("purge-binlogs --record-only writes one report per mirror on the master and purges nothing", async () => {
    sandbox.stopped.add("mirror2");
    const r = await purgeCommand(ctx, parseArgs(["purge-binlogs", "--stack", "lab", "--record-only"]));
    expect(r.exitCode).toBe(0);
    expect(fs.readdirSync(reportsDir()).sort()).toEqual(mirrors);
    expect(fs.readFileSync(path.join(reportsDir(), "mirror1"), "utf8")).toMatch(/^reported=\d+\nmirror=mirror1\nio_running=Yes\nsql_running=Yes\nexec_file=mysql-bin\.000002\nexec_pos=500\n/);
    expect(fs.readFileSync(path.join(reportsDir(), "mirror2"), "utf8")).toContain("sql_running=No\n");
    expect(sandbox.scripts.map((s) => s.host)).toEqual(["master"]);
    expect(sandbox.statements.filter((s) => s.host === "master")).toEqual([]);
    expect(r.text).toMatch(/^recorded on master for the binlog purge job: mirror1 mysql-bin\.000002:500, mirror2 mysql-bin\.000002:500 \(replication stopped: the job will refuse\), mirror3/);
    expect(r.text).toMatch(/nothing purged \(--record-only\)$/);
  });

  it("purge-binlogs writes the reports and purges; --dry-run writes nothing and purges nothing", async () => {
    const dry = await purgeCommand(ctx, parseArgs(["purge-binlogs", "--stack", "lab", "--dry-run"]));
    expect(dry.text).toMatch(/dry run: would run PURGE BINARY LOGS TO 'mysql-bin\.000002'/);
    expect(fs.existsSync(reportsDir())).toBe(false);
    expect(sandbox.scripts).toEqual([]);
    expect(sandbox.statements.map((s) => s.sql)).not.toContain("PURGE BINARY LOGS TO ?");

    const r = await purgeCommand(ctx, parseArgs(["purge-binlogs", "--stack", "lab"]));
    expect(r.exitCode).toBe(0);
    expect(fs.readdirSync(reportsDir()).sort()).toEqual(mirrors);
    expect(sandbox.statements.filter((s) => s.sql === "PURGE BINARY LOGS TO ?").map((s) => s.host)).toEqual(["master"]);
  });

  it("--record-only fails (exit 1) naming what it could not record", async () => {
    fs.writeFileSync(reportsDir(), "a file where the directory should be");
    const r = await purgeCommand(ctx, parseArgs(["purge-binlogs", "--stack", "lab", "--record-only"]));
    expect(r.exitCode).toBe(1);
    expect(r.text).toMatch(/^FAILED: could not record the mirrors' positions on master for the binlog purge job: /);
  });
});
