// Switchover and failover, the pure parts: GTID lists compared, errant transactions, the failover's choice, which
// sessions fencing ends, the stack-config change, the preflight's verdicts, arguments and SQL.
import { describe, expect, it } from "vitest";
import { parseArgs, UsageError } from "../infra/ops/args";
import { masterChange, sessionsToEnd } from "../infra/ops/promote";
import { ownErrant, switchoverProblems, type ServerState } from "../infra/ops/switchover";
import { render, switchoverSql } from "../infra/replication/dialect";
import { chooseCandidate, comparePositions, errantTransactions, formatGtidList, latestPosition, parseGtidList } from "../infra/replication/gtid";
import type { ReplicaStatus } from "../infra/replication/status";

const g = parseGtidList;

describe("GTID lists", () => {
  it("parses and formats positions and states", () => {
    expect(g("0-1-42, 1-2-7")).toEqual([
      { domain: 0, server: 1, seq: 42 },
      { domain: 1, server: 2, seq: 7 },
    ]);
    expect(g("")).toEqual([]);
    expect(g(null)).toEqual([]);
    expect(formatGtidList(g("1-2-7,0-100-3,0-1-42"))).toBe("0-1-42,0-100-3,1-2-7");
    expect(() => g("0-1")).toThrow(/not a MariaDB GTID list/);
    expect(() => g("0-1-x")).toThrow(/not a MariaDB GTID list/);
  });

  it("compares positions domain by domain", () => {
    expect(comparePositions(g("0-1-10"), g("0-1-10")).order).toBe("equal");
    const behind = comparePositions(g("0-1-9"), g("0-1-10"));
    expect(behind.order).toBe("behind");
    expect(formatGtidList(behind.missing)).toBe("0-1-10");
    const ahead = comparePositions(g("0-101-11"), g("0-1-10"));
    expect(ahead.order).toBe("ahead");
    expect(formatGtidList(ahead.extra)).toBe("0-101-11");
    // A domain only one side has.
    expect(comparePositions(g("0-1-10,1-5-3"), g("0-1-10")).order).toBe("ahead");
    expect(comparePositions(g("0-1-10"), g("0-1-10,1-5-3")).order).toBe("behind");
    // The same seq from two servers: the histories split.
    const split = comparePositions(g("0-101-10"), g("0-1-10"));
    expect(split.order).toBe("diverged");
    expect(split.conflicting).toHaveLength(1);
    // Ahead in one domain, behind in another.
    expect(comparePositions(g("0-1-12,1-2-3"), g("0-1-10,1-2-5")).order).toBe("diverged");
  });

  it("names errant transactions: pairs of a state the reference lacks or has fewer of", () => {
    const master = g("0-1-500,0-100-20");
    expect(errantTransactions(g("0-1-480"), master)).toEqual([]); // behind, nothing extra
    expect(errantTransactions(g("0-1-500,0-100-20"), master)).toEqual([]);
    expect(formatGtidList(errantTransactions(g("0-1-500,0-101-501"), master))).toBe("0-101-501"); // a write on the mirror
    expect(formatGtidList(errantTransactions(g("0-100-21"), master))).toBe("0-100-21"); // more than the master has of server 100
    expect(formatGtidList(errantTransactions(g("3-1-1"), master))).toBe("3-1-1"); // a domain the master never had
  });

  it("the latest position over a binlog and a slave position", () => {
    expect(formatGtidList(latestPosition(g("0-100-30"), g("0-1-20,1-1-4")))).toBe("0-100-30,1-1-4");
  });
});

describe("failover's choice", () => {
  const m = (name: string, pos: string, notPromotable?: string) => ({ name, position: g(pos), ...(notPromotable ? { notPromotable } : {}) });

  it("takes the mirror with the most transactions", () => {
    const c = chooseCandidate([m("a", "0-1-10"), m("b", "0-1-12"), m("c", "0-1-11")]);
    expect(c).toMatchObject({ ok: true, name: "b", losing: [] });
  });

  it("equal positions are not ambiguous: the first in stack order", () => {
    const c = chooseCandidate([m("a", "0-1-12"), m("b", "0-1-12")]);
    expect(c.ok && c.name).toBe("a");
    expect(c.ok && c.why).toMatch(/equal with b/);
  });

  it("refuses when no mirror holds what every other has (ambiguous)", () => {
    const c = chooseCandidate([m("a", "0-1-12,1-2-3"), m("b", "0-1-10,1-2-5")]);
    expect(c.ok).toBe(false);
    expect(!c.ok && c.reason).toMatch(/^ambiguous: .*a 0-1-12,1-2-3; b 0-1-10,1-2-5/);
    // Same seq from different servers is a split too.
    expect(chooseCandidate([m("a", "0-1-12"), m("b", "0-101-12")]).ok).toBe(false);
  });

  it("a named mirror behind another is refused unless the loss is accepted, naming what is lost", () => {
    const ms = [m("a", "0-1-10"), m("b", "0-1-12")];
    const refused = chooseCandidate(ms, { named: "a" });
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.reason).toMatch(/^a lacks transactions other mirrors have \(b: 0-1-12\).*--accept-loss/);
    const taken = chooseCandidate(ms, { named: "a", acceptLoss: true });
    expect(taken).toMatchObject({ ok: true, name: "a", losing: [{ name: "b", extra: g("0-1-12") }] });
    expect(chooseCandidate(ms, { named: "b" })).toMatchObject({ ok: true, name: "b", losing: [] });
    expect(chooseCandidate(ms, { named: "zz" }).ok).toBe(false);
  });

  it("a mirror that cannot be promoted still counts for the loss, and is never chosen", () => {
    const ms = [m("old", "0-1-12", "no binary log"), m("b", "0-1-10")];
    const c = chooseCandidate(ms);
    expect(c.ok).toBe(false);
    expect(!c.ok && c.reason).toMatch(/^old has the most transactions but cannot be promoted \(old: no binary log\)/);
    expect(chooseCandidate(ms, { named: "old", acceptLoss: true }).ok).toBe(false);
    // Equal: the promotable one is taken.
    expect(chooseCandidate([m("old", "0-1-12", "no binary log"), m("b", "0-1-12")])).toMatchObject({ ok: true, name: "b" });
  });

  it("nothing answered: nothing to promote", () => {
    expect(chooseCandidate([]).ok).toBe(false);
  });
});

describe("fencing ends every client session but replication's and the server's", () => {
  it("keeps binlog dump threads and system threads", () => {
    const rows = [
      { id: 5, user: "mirrorstack_repl", command: "Binlog Dump" },
      { id: 6, user: "mirrorstack_repl", command: "Binlog Dump GTID" },
      { id: 7, user: "system user", command: "Daemon" },
      { id: 8, user: "event_scheduler", command: "Daemon" },
      { id: 9, user: "app", command: "Query" },
      { id: 10, user: "root", command: "Sleep" },
      { id: 11, user: "app", command: "Killed" },
    ];
    expect(sessionsToEnd(rows).map((r) => r.id)).toEqual([9, 10]);
  });
});

describe("the stack-config change", () => {
  const file = `config:
  # the site's database
  mirrorstack:master:
    name: db1
    address: 10.0.0.10
  mirrorstack:mirrors:
    - name: db2
      address: 10.0.0.11
      reseed: "2025-01-01"
      changingAddress: true
    - name: db3
      address: 10.0.0.12
  mirrorstack:database:
    databases: [wiki]
`;
  it("makes the mirror the master (without its mirror-only keys: reseed, changingAddress), puts the old master in its place and pins both server ids", () => {
    const c = masterChange(file, "stacks/Pulumi.prod.yaml", { newMaster: "db2", serverIds: new Map([["db1", 1], ["db2", 100]]) });
    const YAML = require("yaml") as typeof import("yaml");
    const cfg = YAML.parse(c.text).config;
    expect(cfg["mirrorstack:master"]).toEqual({ name: "db2", address: "10.0.0.11", serverId: 100 });
    expect(cfg["mirrorstack:mirrors"]).toEqual([
      { name: "db1", address: "10.0.0.10", serverId: 1 },
      { name: "db3", address: "10.0.0.12" },
    ]);
    expect(cfg["mirrorstack:database"]).toEqual({ databases: ["wiki"] });
    expect(c.text).toContain("# the site's database");
    expect(c.diff).toMatch(/^--- stacks\/Pulumi\.prod\.yaml$/m);
    expect(c.diff).toMatch(/^\+ {4}name: db2$/m);
    expect(c.diff).toMatch(/^- {4}name: db1$/m);
  });

  it("refuses a host that is not a mirror of the file", () => {
    expect(() => masterChange(file, "f", { newMaster: "db9", serverIds: new Map() })).toThrow(/db9 is not in mirrorstack:mirrors/);
    expect(() => masterChange(file, "f", { newMaster: "db3", serverIds: new Map([["db1", 1]]) })).toThrow(/no server_id known for db3/);
  });
});

describe("switchover preflight", () => {
  const replica = (over: Partial<ReplicaStatus> = {}): ReplicaStatus =>
    ({
      flavour: "mariadb",
      ioRunning: true,
      ioConnecting: false,
      sqlRunning: true,
      secondsBehind: 0,
      sqlDelay: 0,
      lastIoErrno: 0,
      lastIoError: null,
      lastSqlErrno: 0,
      lastSqlError: null,
      sourceHost: "10.0.0.10",
      sourcePort: 3306,
      sourceUser: "repl",
      readFile: "mysql-bin.000001",
      readPos: 400,
      execFile: "mysql-bin.000001",
      execPos: 400,
      usingGtid: false,
      gtidReceived: null,
      gtidExecuted: null,
      gtid: null,
      sqlState: null,
      ioState: null,
      ...over,
    }) as ReplicaStatus;
  const server = (name: string, over: Partial<ServerState> = {}): ServerState => ({
    name,
    serverId: 1,
    readOnly: true,
    logBin: true,
    logSlaveUpdates: true,
    strict: true,
    binlogState: g("0-1-50"),
    binlogPos: g("0-1-50"),
    slavePos: g("0-1-50"),
    replica: replica(),
    ...over,
  });
  const master = server("db1", { readOnly: false, replica: null });
  const opts = { masterAddress: "10.0.0.10", maxLagSeconds: 5, candidateApplied: g("0-1-50") };

  it("passes a healthy setup", () => {
    expect(switchoverProblems(master, [server("db2"), server("db3")], "db2", opts)).toEqual([]);
  });

  it("names each reason to refuse", () => {
    const p = switchoverProblems(
      { ...master, readOnly: true },
      [
        server("db2", { logSlaveUpdates: false }),
        server("db3", { replica: replica({ secondsBehind: 30, sqlRunning: false, lastSqlError: "Duplicate entry", lastSqlErrno: 1062 }), binlogState: g("0-1-50,0-101-51") }),
        server("db4", { replica: replica({ sourceHost: "10.0.0.99" }) }),
      ],
      "db2",
      opts,
    );
    expect(p).toEqual([
      "db1 (master) is read_only: it is not taking writes (fenced already? a failed switchover?)",
      "db3: replication is not running (IO Yes, SQL No)",
      "db3: SQL error 1062: Duplicate entry",
      "db3: 30 s behind, more than database.switchoverMaxLagSeconds (5)",
      expect.stringMatching(/^db3: errant transactions \(in its binary log, not in the master's\): 0-101-51; /),
      "db4: replicates from 10.0.0.99, not from db1 (10.0.0.10)",
      expect.stringMatching(/^db2: no binary log with the replicated changes \(log_bin ON, log_slave_updates OFF\)/),
    ]);
  });

  it("a candidate whose applied position is beside the master's is refused", () => {
    const p = switchoverProblems(master, [server("db2")], "db2", { ...opts, candidateApplied: g("0-101-50") });
    expect(p).toEqual([expect.stringMatching(/^db2: its applied position 0-101-50 is not within the master's 0-1-50/)]);
    // Behind is lag, not a refusal: the switchover waits for it.
    expect(switchoverProblems(master, [server("db2")], "db2", { ...opts, candidateApplied: g("0-1-40") })).toEqual([]);
  });
});

describe("arguments", () => {
  it("switchover needs --to (a host); failover takes --to, --accept-loss, --dry-run and --deadline", () => {
    expect(() => parseArgs(["switchover", "--stack", "prod"])).toThrow(/switchover needs --to <mirror>/);
    expect(() => parseArgs(["switchover", "--stack", "prod", "--to", "Bad_Name"])).toThrow(UsageError);
    expect(() => parseArgs(["switchover", "--stack", "prod", "--to", "db2", "--accept-loss"])).toThrow(/switchover does not take --accept-loss/);
    expect(parseArgs(["switchover", "--stack", "prod", "--to", "db2", "--dry-run", "--deadline", "12"])).toMatchObject({ command: "switchover", to: "db2", dryRun: true, deadlineSeconds: 12, acceptLoss: false });
    expect(parseArgs(["failover", "--stack", "prod"])).toMatchObject({ command: "failover", acceptLoss: false });
    expect(parseArgs(["failover", "--stack", "prod", "--to", "db-3", "--accept-loss"])).toMatchObject({ to: "db-3", acceptLoss: true });
    expect(() => parseArgs(["failover", "--stack", "prod", "--deadline", "0"])).toThrow(/--deadline must be a whole number/);
    // restore's --to is still a scratch database name.
    expect(parseArgs(["restore", "--stack", "prod", "--host", "db2", "--to", "wiki_check"])).toMatchObject({ to: "wiki_check" });
  });
});

describe("switchover SQL", () => {
  it("MariaDB: read_only only; MySQL: super_read_only too", () => {
    const maria = switchoverSql({ flavour: "mariadb", version: "10.11" });
    expect(maria.setReadOnly(true).map((s) => render(s))).toEqual(["SET GLOBAL read_only = 1"]);
    expect(maria.serverState().sql).toContain("@@GLOBAL.gtid_binlog_state");
    const mysql = switchoverSql({ flavour: "mysql", version: "8.4" });
    expect(mysql.setReadOnly(true).map((s) => render(s))).toEqual(["SET GLOBAL super_read_only = 1"]);
    expect(mysql.setReadOnly(false).map((s) => render(s))).toEqual(["SET GLOBAL super_read_only = 0", "SET GLOBAL read_only = 0"]);
    expect(mysql.serverState().sql).toContain("@@log_replica_updates");
  });

  it("kills by number only; the heartbeat is written with the database selected (DDL filters use it)", () => {
    const s = switchoverSql({ flavour: "mariadb", version: "10.11" });
    expect(render(s.killConnection(42))).toBe("KILL CONNECTION 42");
    expect(() => s.killConnection(-1)).toThrow(/not a positive integer/);
    expect(() => s.killConnection(1.5)).toThrow(/not a positive integer/);
    const hb = s.writeHeartbeat("wiki", "db2", "abc").map((x) => render(x));
    expect(hb[0]).toBe("USE `wiki`");
    expect(hb[1]).toMatch(/^CREATE TABLE IF NOT EXISTS `wiki`\.`mirrorstack_heartbeat`/);
    expect(hb[2]).toBe("REPLACE INTO `wiki`.`mirrorstack_heartbeat` (id, host, token, at) VALUES (1, 'db2', 'abc', CURRENT_TIMESTAMP(6))");
    expect(() => s.writeHeartbeat("wiki`; DROP", "x", "y")).toThrow(/not letters, digits and _/);
    expect(render(s.lockWaitTimeout(5))).toBe("SET SESSION lock_wait_timeout = 5");
  });
});

describe("ownErrant (failover candidate)", () => {
  const st = (name: string, serverId: number, state: string): ServerState => ({
    name, serverId, readOnly: true, logBin: true, logSlaveUpdates: true, strict: false,
    binlogState: parseGtidList(state), binlogPos: [], slavePos: [], replica: null,
  });
  it("names its own writes no other mirror has, not those it wrote as the master before (the others logged them)", () => {
    expect(ownErrant(st("m1", 100, "0-1-50,0-100-40"), [st("m2", 101, "0-1-50,0-100-40")])).toEqual([]);
    expect(formatGtidList(ownErrant(st("m1", 100, "0-1-50,0-100-52"), [st("m2", 101, "0-1-50,0-100-40")]))).toBe("0-100-52");
    expect(formatGtidList(ownErrant(st("m1", 100, "0-1-50,0-100-40"), []))).toBe("0-100-40");
  });
});
