// Live tests: the dialect's SQL against real MariaDB servers started here (a master and a replica on
// private datadirs, loopback ports and sockets under the temp dir), plus connectViaSsh's stream plumbing
// through a stand-in `ssh` on PATH (no sshd is needed; the real ssh path is tested in the lab).
// Skipped, with the reason printed, when not root or when mariadbd is not installed.

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareTables, SqlNumber } from "../infra/replication/checksum";
import { connectDirect, connectViaSsh, type DbSession } from "../infra/replication/connect";
import { checkReplicationGrants, dialect, engineFromServerVersion, runAll, SELECT_VERSION, stmt } from "../infra/replication/dialect";
import { decidePurge } from "../infra/replication/purge";
import {
  health,
  normalizeBinaryLogs,
  normalizeReplicaStatus,
  normalizeSourceStatus,
  ReplicationNotConfiguredError,
  type SourceStatus,
} from "../infra/replication/status";
import { parseStackConfig } from "../infra/config";
import { renderStack } from "../infra/render";
import { LIVE_OPTIONS, mysqldOptions, planSettings, RESTART_ALTHOUGH_DYNAMIC } from "../infra/render/live-settings";
import { sqlThread, startSqlUntil, waitStoppedAt } from "../infra/ops/verify";
import { hasCommand, liveSkipReason, startMariadb, type TestServer } from "./fixtures/replication/mariadb";

const skip = liveSkipReason();
if (skip) console.log(`[replication live] skipped: ${skip}`);

const d = dialect({ flavour: "mariadb", version: "10.11" });
const REPL = { user: "repl", host: "127.0.0.1" };
const PASSWORD = "Zq8-live-test-password-0123456789"; // 33 characters: fine for MariaDB (limit 96)

// One pair of servers through the whole file: the describes build on each other's data, so none is shuffled.
describe.skipIf(!!skip)("live MariaDB 10.11", { shuffle: false }, () => {
  let master: TestServer;
  let replica: TestServer;
  let mc: DbSession;
  let rc: DbSession;
  let start: SourceStatus;
  const q = (s: DbSession, sql: string, values: unknown[] = []) => s.query(stmt(sql, values));

  beforeAll(async () => {
    [master, replica] = await Promise.all([startMariadb({ serverId: 1, name: "master" }), startMariadb({ serverId: 2, name: "replica" })]);
    mc = await connectDirect({ socketPath: master.socket, user: "root" });
    rc = await connectDirect({ socketPath: replica.socket, user: "root" });
    start = normalizeSourceStatus(await mc.query(d.showSourceStatus()), "master");
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled([mc?.close(), rc?.close()]);
    await Promise.allSettled([master?.stop(), replica?.stop()]);
  }, 120_000);

  it("reports a version the dialect accepts", async () => {
    const [row] = await mc.query(SELECT_VERSION);
    const engine = engineFromServerVersion(String(row.version));
    expect(engine.flavour).toBe("mariadb");
    expect(() => dialect(engine)).not.toThrow();
  });

  it("the live-settings table names only options this server can change at run time, and the rendered files' others need a restart", async () => {
    const rows = await mc.query(stmt("SELECT LOWER(VARIABLE_NAME) AS name, READ_ONLY AS ro FROM information_schema.SYSTEM_VARIABLES"));
    const readOnly = new Map(rows.map((r) => [String(r.name), String(r.ro)]));
    // Every live option is a server variable that is not read-only (expire_logs_days included: 10.11 has both).
    for (const o of LIVE_OPTIONS.filter((x) => x !== "super_read_only")) expect([o, readOnly.get(o)]).toEqual([o, "NO"]);
    // super_read_only is MySQL's; MariaDB 10.11 has none, and the table keeps it for MySQL mirrors.
    expect(readOnly.has("super_read_only")).toBe(false);
    // Every other option of the rendered my.cnf files (master and mirror) restarts the server: it is read-only
    // here, not a server variable at all (binlog_do_db), or in the list of dynamic ones restarted on purpose.
    const cfg = parseStackConfig(
      { master: { name: "m", address: "10.0.0.10" }, mirrors: [{ name: "r", address: "10.0.0.11" }], database: { databases: ["wiki"] }, replicationPassword: PASSWORD.slice(0, 30), backups: { enabled: false } },
      { stack: "t", secretKeys: new Set(["replicationPassword"]) },
    );
    const files = renderStack(cfg, { stack: "t", secrets: { replicationPassword: "x", backupPassphrase: "" } }).flatMap((h) => h.files);
    const options = new Set(files.filter((f) => f.onChange.some((a) => a.action === "settings")).flatMap((f) => [...mysqldOptions(f.content).keys()]));
    expect(options.size).toBeGreaterThan(10);
    for (const o of options) {
      if (LIVE_OPTIONS.includes(o) || o in RESTART_ALTHOUGH_DYNAMIC) continue;
      expect([o, readOnly.get(o) ?? "not a variable"]).not.toEqual([o, "NO"]);
    }
    // Each statement a plan makes runs on this server.
    const plan = planSettings("[mysqld]\nsync_binlog = 1\nbinlog_expire_logs_seconds = 604800\n", "[mysqld]\nsync_binlog = 0\nbinlog_expire_logs_seconds = 691200\n");
    expect(plan.kind).toBe("live");
    if (plan.kind !== "live") return;
    for (const sql of plan.statements) await q(mc, sql);
    const [v] = await q(mc, "SELECT @@GLOBAL.sync_binlog AS s, @@GLOBAL.binlog_expire_logs_seconds AS e");
    expect([Number(v.s), Number(v.e)]).toEqual([0, 691200]);
    await q(mc, "SET GLOBAL sync_binlog = 1");
  });

  it("creates the replication user for one address with exactly REPLICATION SLAVE, unlogged, idempotently", async () => {
    await runAll(mc, d.createReplicationUser({ ...REPL, password: "first-password" }));
    await runAll(mc, d.createReplicationUser({ ...REPL, password: PASSWORD })); // exists: password changes
    const grants = await mc.query(d.showGrants(REPL));
    expect(grants).toHaveLength(1);
    expect(String(Object.values(grants[0])[0])).toMatch(/^GRANT REPLICATION SLAVE ON \*\.\* TO `repl`@`127\.0\.0\.1`/);
    expect(checkReplicationGrants(grants)).toEqual({ hasReplicationSlave: true, extra: [], ok: true });
    // Only that host: no wildcard account was created.
    const accounts = await q(mc, "SELECT Host AS host FROM mysql.user WHERE User = 'repl'");
    expect(accounts.map((a) => String(a.host))).toEqual(["127.0.0.1"]);
    // Not written to the binary log (mirrors seeded without mysql.* would break on it).
    const events = await q(mc, `SHOW BINLOG EVENTS IN '${start.file}'`);
    expect(events.map((e) => String(e.Info)).join("\n")).not.toMatch(/repl/);
    // The new password logs in over TCP from that address; the old one does not.
    const login = await connectDirect({ host: "127.0.0.1", port: master.port, user: "repl", password: PASSWORD });
    expect((await login.query(stmt("SELECT CURRENT_USER() AS u")))[0].u).toBe("repl@127.0.0.1");
    await login.close();
    await expect(connectDirect({ host: "127.0.0.1", port: master.port, user: "repl", password: "first-password" })).rejects.toThrow(/Access denied/);
  });

  it("drops and re-creates the account", async () => {
    await runAll(mc, d.dropReplicationUser(REPL));
    expect(await q(mc, "SELECT 1 FROM mysql.user WHERE User = 'repl'")).toEqual([]);
    await runAll(mc, d.createReplicationUser({ ...REPL, password: PASSWORD }));
    expect(checkReplicationGrants(await mc.query(d.showGrants(REPL))).ok).toBe(true);
  });

  it("reads the master position, GTID position and binary logs", async () => {
    const s = normalizeSourceStatus(await mc.query(d.showSourceStatus()));
    expect(s.file).toMatch(/^bin\.\d{6}$/);
    expect(s.pos).toBeGreaterThanOrEqual(4);
    const [g] = await mc.query(d.gtidPosition());
    expect(Object.keys(g).sort()).toEqual(["gtid_binlog_pos", "gtid_current_pos"]);
    const logs = normalizeBinaryLogs(await mc.query(d.showBinaryLogs()));
    expect(logs.map((l) => l.name)).toContain(s.file);
    const [c] = await mc.query(d.gtidForCoordinates(s.file, s.pos));
    expect(typeof c.gtid).toBe("string");
  });

  describe("checksums (two copies on the master)", () => {
    beforeAll(async () => {
      await q(mc, "CREATE DATABASE shop");
      await q(
        mc,
        "CREATE TABLE shop.orders (id BIGINT UNSIGNED PRIMARY KEY, customer VARCHAR(40) NULL, note TEXT NULL, total DECIMAL(10,2) NOT NULL," +
          " created TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), flags BIT(3) NULL, doc JSON NULL)",
      );
      const rows: unknown[][] = [];
      for (let i = 1; i <= 250; i++) {
        rows.push([
          i,
          i % 7 === 0 ? null : i % 5 === 0 ? "" : `cust#${i}`,
          i % 3 === 0 ? null : `note ${i} with 'quotes' and # hashes`,
          (i * 1.25).toFixed(2),
          `2024-01-0${(i % 9) + 1} 10:00:00.${String(i).padStart(6, "0")}`,
          i % 8,
          i % 4 === 0 ? null : JSON.stringify({ i }),
        ]);
      }
      rows.push([new SqlNumber("9007199254740993"), "big", null, "1.00", "2024-02-01 00:00:00", null, null]);
      rows.push([new SqlNumber("9007199254740994"), "bigger", null, "2.00", "2024-02-01 00:00:00", null, null]);
      await q(mc, "INSERT INTO shop.orders (id, customer, note, total, created, flags, doc) VALUES ?", [rows]);
      await q(mc, "CREATE TABLE shop.`order``lines` (order_id INT NOT NULL, line SMALLINT NOT NULL, sku CHAR(8) NOT NULL, PRIMARY KEY (order_id, line))");
      const lines: unknown[][] = [];
      for (let o = 1; o <= 40; o++) for (let l = 1; l <= 3; l++) lines.push([o, l, `SKU${o}-${l}`]);
      await q(mc, "INSERT INTO shop.`order``lines` VALUES ?", [lines]);
      await q(mc, "CREATE TABLE shop.log (msg VARCHAR(20) NULL)");
      await q(mc, "INSERT INTO shop.log VALUES ('a'), ('a'), ('b'), (NULL)");
      await q(mc, "CREATE DATABASE shop_copy");
      for (const t of ["orders", "order`lines", "log"]) {
        const id = "`" + t.replace(/`/g, "``") + "`";
        await q(mc, `CREATE TABLE shop_copy.${id} LIKE shop.${id}`);
        await q(mc, `INSERT INTO shop_copy.${id} SELECT * FROM shop.${id}`);
      }
    }, 60_000);

    const cmp = (table: string, chunkSize = 50) => compareTables(mc, mc, "shop", table, { chunkSize, mirrorDb: "shop_copy" });

    it("finds identical copies equal, in the expected number of chunks", async () => {
      const r = await cmp("orders");
      expect(r).toMatchObject({ equal: true, noPrimaryKey: false, chunks: 6, differing: [] });
      expect((await cmp("order`lines", 25)).equal).toBe(true);
      expect(await cmp("log")).toMatchObject({ equal: true, noPrimaryKey: true, chunks: 1 });
      expect((await compareTables(mc, mc, "shop", "orders", { chunkSize: 50, mirrorDb: "shop_copy", algorithm: "crc32" })).equal).toBe(true);
    });

    it("finds one changed row in its chunk", async () => {
      await q(mc, "UPDATE shop_copy.orders SET total = total + 0.01 WHERE id = 120");
      const r = await cmp("orders");
      expect(r.equal).toBe(false);
      expect(r.differing).toHaveLength(1);
      expect(r.differing[0]).toMatchObject({ index: 2, master: { count: 50 }, mirror: { count: 50 } });
      expect(r.differing[0].lower?.map(String)).toEqual(["101"]);
      expect(r.differing[0].upper?.map(String)).toEqual(["151"]);
      expect(r.differing[0].master.checksum).not.toBe(r.differing[0].mirror.checksum);
      await q(mc, "UPDATE shop_copy.orders SET total = total - 0.01 WHERE id = 120");
      expect((await cmp("orders")).equal).toBe(true);
    });

    it("tells NULL from '' (and which column is NULL)", async () => {
      // Row 35: customer NULL (35 % 7), note 'note 35 ...'. Make a row with customer '' and note NULL, and swap them on the copy.
      await q(mc, "UPDATE shop.orders SET customer = '', note = NULL WHERE id = 30");
      await q(mc, "UPDATE shop_copy.orders SET customer = NULL, note = '' WHERE id = 30");
      const r = await cmp("orders");
      expect(r.differing.map((c) => c.index)).toEqual([0]);
      await q(mc, "UPDATE shop_copy.orders SET customer = NULL, note = NULL WHERE id = 30");
      expect((await cmp("orders")).differing.map((c) => c.index)).toEqual([0]);
      await q(mc, "UPDATE shop_copy.orders SET customer = '', note = NULL WHERE id = 30");
      expect((await cmp("orders")).equal).toBe(true);
    });

    it("reads BIGINT keys beyond 2^53 exactly", async () => {
      await q(mc, "UPDATE shop_copy.orders SET customer = 'changed' WHERE id = 9007199254740994");
      const r = await cmp("orders");
      expect(r.differing.map((c) => [c.index, c.lower?.map(String)])).toEqual([[5, ["9007199254740993"]]]);
      await q(mc, "UPDATE shop_copy.orders SET customer = 'bigger' WHERE id = 9007199254740994");
    });

    it("finds rows only the mirror has, and deleted rows", async () => {
      await q(mc, "INSERT INTO shop_copy.orders (id, total) VALUES (0, 1.00)");
      await q(mc, "DELETE FROM shop_copy.orders WHERE id = 250");
      const r = await cmp("orders");
      expect(r.differing.map((c) => [c.index, c.master.count, c.mirror.count])).toEqual([
        [0, 50, 51],
        [4, 50, 49],
      ]);
      await q(mc, "DELETE FROM shop_copy.orders WHERE id = 0");
      await q(mc, "INSERT INTO shop_copy.orders SELECT * FROM shop.orders WHERE id = 250");
    });

    it("composite keys and tables without a key", async () => {
      await q(mc, "UPDATE shop_copy.`order``lines` SET sku = 'X' WHERE order_id = 20 AND line = 2");
      const r = await cmp("order`lines", 25);
      expect(r.chunks).toBe(5);
      expect(r.differing.map((c) => [c.index, c.lower, c.upper].map((x) => JSON.stringify(x)))).toEqual([["2", '["17","3"]', '["26","1"]']]);
      await q(mc, "UPDATE shop_copy.`order``lines` SET sku = 'SKU20-2' WHERE order_id = 20 AND line = 2");
      // Duplicate rows swapped for other duplicates: same count, and SUM does not cancel pairs the way XOR would.
      await q(mc, "DELETE FROM shop_copy.log WHERE msg = 'a'");
      await q(mc, "INSERT INTO shop_copy.log VALUES ('b'), ('b')");
      expect(await cmp("log")).toMatchObject({ equal: false, noPrimaryKey: true });
    });

    it("reports a schema difference", async () => {
      await q(mc, "ALTER TABLE shop_copy.log ADD COLUMN extra INT NULL");
      const r = await cmp("log");
      expect(r.equal).toBe(false);
      expect(r.schemaDiffers).toMatch(/extra/);
    });
  });

  // One scenario, step after step (each test starts where the previous left the pair): never shuffled.
  describe("a replication pair", { shuffle: false }, () => {
    const startAt = async () => {
      await runAll(rc, d.changeSource({ host: "127.0.0.1", port: master.port, user: REPL.user, password: PASSWORD, position: { kind: "file", file: start.file, pos: start.pos }, connectRetrySeconds: 1 }));
      await rc.query(d.startReplica());
    };
    const catchUp = async () => {
      const pos = normalizeSourceStatus(await mc.query(d.showSourceStatus()));
      const w = d.waitForPosition(pos, 30);
      const [row] = await rc.query(w);
      return { pos, outcome: w.interpret(row.result) };
    };

    it("CHANGE MASTER + START SLAVE, write, wait for the position, status shows both threads running", async () => {
      await startAt();
      await q(mc, "INSERT INTO shop.orders (id, customer, total) VALUES (5000, 'replicated', 9.99)");
      const { pos, outcome } = await catchUp();
      expect(outcome).toBe("reached");
      const s = normalizeReplicaStatus(await rc.query(d.showReplicaStatus()), "replica");
      expect(s).toMatchObject({ flavour: "mariadb", ioRunning: true, sqlRunning: true, sourceHost: "127.0.0.1", sourcePort: master.port, sourceUser: "repl", execFile: pos.file, usingGtid: false });
      expect(s.execPos).toBe(pos.pos);
      expect(health(s, { expectedSourceHost: "127.0.0.1" })).toEqual({ level: "OK", reasons: [] });
      expect((await q(rc, "SELECT customer FROM shop.orders WHERE id = 5000"))[0].customer).toBe("replicated");
    });

    it("master and replica checksums are equal; a change on the replica is found", async () => {
      for (const t of ["orders", "order`lines", "log"]) expect((await compareTables(mc, rc, "shop", t, { chunkSize: 40 })).equal, t).toBe(true);
      const [orig] = await q(mc, "SELECT note FROM shop.orders WHERE id = 77");
      await q(rc, "UPDATE shop.orders SET note = 'drift' WHERE id = 77");
      const r = await compareTables(mc, rc, "shop", "orders", { chunkSize: 40 });
      expect(r.differing.map((c) => c.index)).toEqual([1]);
      await q(rc, "UPDATE shop.orders SET note = ? WHERE id = 77", [orig.note]);
      expect((await compareTables(mc, rc, "shop", "orders", { chunkSize: 40 })).equal).toBe(true);
    });

    it("purges the master's binary logs up to what the replica still needs", async () => {
      await q(mc, "FLUSH BINARY LOGS");
      await q(mc, "FLUSH BINARY LOGS");
      await q(mc, "INSERT INTO shop.orders (id, total) VALUES (5001, 1.00)");
      expect((await catchUp()).outcome).toBe("reached");
      const binlogs = normalizeBinaryLogs(await mc.query(d.showBinaryLogs()));
      expect(binlogs.length).toBeGreaterThanOrEqual(3);
      const status = normalizeReplicaStatus(await rc.query(d.showReplicaStatus()));
      const decision = decidePurge({ binlogs, mirrors: [{ name: "replica", status }], expectedSourceHost: "127.0.0.1" });
      expect(decision).toMatchObject({ ok: true, purgeTo: binlogs[binlogs.length - 1].name, neededBy: ["replica"] });
      if (!decision.ok || !decision.purgeTo) throw new Error(decision.message);
      await mc.query(d.purgeBinaryLogsTo(decision.purgeTo));
      expect(normalizeBinaryLogs(await mc.query(d.showBinaryLogs())).map((b) => b.name)).toEqual([decision.purgeTo]);
      await q(mc, "INSERT INTO shop.orders (id, total) VALUES (5002, 1.00)");
      expect((await catchUp()).outcome).toBe("reached");
      expect(health(normalizeReplicaStatus(await rc.query(d.showReplicaStatus()))).level).toBe("OK");
    });

    it("switches to GTID positioning and waits with MASTER_GTID_WAIT", async () => {
      await rc.query(d.stopReplica());
      await runAll(rc, d.changeSource({ host: "127.0.0.1", port: master.port, user: REPL.user, password: PASSWORD, position: { kind: "gtid" } }));
      await rc.query(d.startReplica());
      await q(mc, "INSERT INTO shop.orders (id, total) VALUES (5003, 1.00)");
      const [g] = await mc.query(d.gtidPosition());
      const w = d.waitForPosition({ gtid: String(g.gtid_binlog_pos) }, 30);
      expect(w.interpret((await rc.query(w))[0].result)).toBe("reached");
      const s = normalizeReplicaStatus(await rc.query(d.showReplicaStatus()));
      expect(s).toMatchObject({ ioRunning: true, sqlRunning: true, usingGtid: true });
      expect(s.gtid).toBe(String(g.gtid_binlog_pos));
      expect((await compareTables(mc, rc, "shop", "orders")).equal).toBe(true);
    });

    it("verify's stop at a master position holds with a parallel applier, also at the end of what the master wrote", async () => {
      // MariaDB's parallel applier does not stop by itself at an UNTIL position nothing follows (it waits for the
      // next event): waitStoppedAt stops it there.
      await rc.query(d.stopReplica());
      await q(rc, "SET GLOBAL slave_parallel_threads = 4");
      await rc.query(d.startReplica());
      try {
        await q(mc, "INSERT INTO shop.orders (id, total) VALUES (5004, 1.00)");
        expect((await catchUp()).outcome).toBe("reached");
        await rc.query(sqlThread(d, "STOP"));
        const at = normalizeSourceStatus(await mc.query(d.showSourceStatus()));
        await rc.query(startSqlUntil(d, at.file, at.pos));
        const s = await waitStoppedAt(rc, d, at, 10, "replica");
        expect(s.sqlRunning).toBe(false);
        expect([s.execFile, s.execPos]).toEqual([at.file, at.pos]);
        // With a write after the position, the thread stops there as well, before the write.
        await rc.query(sqlThread(d, "START"));
        expect((await catchUp()).outcome).toBe("reached");
        await rc.query(sqlThread(d, "STOP"));
        const at2 = normalizeSourceStatus(await mc.query(d.showSourceStatus()));
        await q(mc, "INSERT INTO shop.orders (id, total) VALUES (5005, 1.00)");
        await rc.query(startSqlUntil(d, at2.file, at2.pos));
        const s2 = await waitStoppedAt(rc, d, at2, 10, "replica");
        expect([s2.sqlRunning, s2.execFile, s2.execPos]).toEqual([false, at2.file, at2.pos]);
        expect(await q(rc, "SELECT id FROM shop.orders WHERE id = 5005")).toEqual([]);
      } finally {
        await rc.query(d.stopReplica());
        await q(rc, "SET GLOBAL slave_parallel_threads = 0");
        await rc.query(d.startReplica());
      }
      expect((await catchUp()).outcome).toBe("reached");
    });

    it("refuses to purge while the replica is stopped; full reset leaves no replication configured", async () => {
      await rc.query(d.stopReplica());
      const s = normalizeReplicaStatus(await rc.query(d.showReplicaStatus()));
      expect(health(s).level).toBe("CRITICAL");
      const binlogs = normalizeBinaryLogs(await mc.query(d.showBinaryLogs()));
      const decision = decidePurge({ binlogs, mirrors: [{ name: "replica", status: s }] });
      expect(decision.ok).toBe(false);
      expect(decision.message).toMatch(/replication on mirror replica is stopped: IO thread not running; SQL thread not running/);
      const w = d.waitForPosition({ file: binlogs[0].name, pos: 4 }, 1);
      expect(w.interpret((await rc.query(w))[0].result)).toBe("not-running");
      await runAll(rc, d.fullReset());
      expect(() => normalizeReplicaStatus([])).toThrow(ReplicationNotConfiguredError);
      await expect(rc.query(d.showReplicaStatus()).then((rows) => normalizeReplicaStatus(rows, "replica"))).rejects.toThrow(ReplicationNotConfiguredError);
    });

    it("keeps server error messages free of the password", async () => {
      const long = "x".repeat(100);
      const s = { ...d.changeSource({ host: "127.0.0.1", port: master.port, user: "repl", password: "p", position: { kind: "gtid" } })[0] };
      const bad = { ...s, values: s.values.map((v, i) => (i === 3 ? long : v)) };
      const err = await rc.query(bad).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/too long for MASTER_PASSWORD/);
      expect(err?.message).not.toMatch(/xxxx/);
    });
  });

  // Each test rewrites the stand-in ssh for the next: a sequence, never shuffled.
  describe.skipIf(!hasCommand("socat"))("connectViaSsh through a stand-in ssh", { shuffle: false }, () => {
    let bin: string;
    const savedPath = process.env.PATH;
    beforeAll(() => {
      bin = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-fake-ssh-"));
      // Runs the remote command (the last argument) locally, as ssh would on the host.
      fs.writeFileSync(path.join(bin, "ssh"), '#!/bin/sh\nfor a in "$@"; do last=$a; done\nprintf "%s\\n" "$*" > "$(dirname "$0")/args"\nexec sh -c "$last"\n', { mode: 0o755 });
      process.env.PATH = `${bin}:${savedPath}`;
    });
    afterAll(() => {
      process.env.PATH = savedPath;
      fs.rmSync(bin, { recursive: true, force: true });
    });
    const target = { host: "db1", address: "127.0.0.1", user: "root", port: 2222, knownHostsPath: "/nonexistent/known_hosts" };

    const children = () =>
      spawnSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" })
        .stdout.split("\n")
        .filter((l) => /ssh|socat|sh$/.test(l.trim()));

    it("logs in as root over the relayed unix socket and closes without leaving processes", async () => {
      const s = await connectViaSsh(target, { socketPath: master.socket });
      const [row] = await s.query(stmt("SELECT CURRENT_USER() AS u, @@port AS port"));
      expect(row).toEqual({ u: "root@localhost", port: master.port });
      expect(normalizeSourceStatus(await s.query(d.showSourceStatus())).file).toMatch(/^bin\./);
      const args = fs.readFileSync(path.join(bin, "args"), "utf8");
      expect(args).toContain("-o StrictHostKeyChecking=yes");
      expect(args).toContain("-o BatchMode=yes");
      expect(args).toContain("-o UserKnownHostsFile=/nonexistent/known_hosts");
      expect(args).toContain("-p 2222");
      expect(args).toContain(`root@127.0.0.1 exec socat STDIO UNIX-CONNECT:${master.socket}`);
      expect(children().length).toBeGreaterThan(0);
      await s.close();
      await s.close();
      expect(children()).toEqual([]);
    });

    it("says what is missing when the relay cannot start", async () => {
      await expect(connectViaSsh(target, { socketPath: master.socket, relay: "socat", sudo: false, connectTimeoutMs: 5000, user: "root" }).then((s) => s.close())).resolves.toBeUndefined();
      fs.writeFileSync(path.join(bin, "ssh"), '#!/bin/sh\necho "bash: line 1: socat: command not found" >&2\nexit 127\n', { mode: 0o755 });
      await expect(connectViaSsh(target, { socketPath: master.socket, connectTimeoutMs: 5000 })).rejects.toThrow(
        /\[db1\] cannot open a database session through ssh root@127.0.0.1:2222 .*socat: command not found.*is socat installed on the host\? apt-get install socat/,
      );
      expect(children()).toEqual([]);
    });

    it("uses sudo -n for a non-root SSH user", async () => {
      fs.writeFileSync(path.join(bin, "ssh"), '#!/bin/sh\nfor a in "$@"; do last=$a; done\nprintf "%s\\n" "$last" > "$(dirname "$0")/args"\necho "sudo: a password is required" >&2\nexit 1\n', { mode: 0o755 });
      await expect(connectViaSsh({ ...target, user: "deploy" }, { socketPath: master.socket, connectTimeoutMs: 5000 })).rejects.toThrow(/deploy needs passwordless sudo/);
      expect(fs.readFileSync(path.join(bin, "args"), "utf8").trim()).toBe(`exec sudo -n socat STDIO UNIX-CONNECT:${master.socket}`);
    });
  });
});
