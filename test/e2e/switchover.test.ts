// End-to-end (root + lab): mirrorctl switchover and failover on MariaDB with a master and two mirrors - a preflight
// refused for an errant transaction and a --dry-run, both changing nothing; a switchover under a steady writer
// (measured write gap, every acknowledged write kept, the others and the old master following by GTID); a failover
// with the new master's server stopped (refused when data would be lost); the old master back, fenced and rejoined.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { applyPatch } from "diff";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CtlRun, freshStack, inventory, isRoot, mirrorctl, onHost, pulumi, ROOT, skipReason, sql, startWriter, useLab, writeTestStack } from "./lab";

const STACK = "e2e-switchover";
useLab("switchover", { mirrors: 2, image: "prepared" });
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

const show = (r: CtlRun) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
const addr = (h: string) => inventory().hosts.find((x) => x.name === h)!.address;
const APP_PASSWORD = "app-switchover-pw";

/** What a refused or dry run must leave as it was: read_only, GTID positions, replication sources and threads. */
function snapshot(hosts: readonly string[]): string {
  return hosts
    .map((h) => {
      const vars = sql(h, "SELECT @@read_only, @@gtid_binlog_pos, @@gtid_slave_pos");
      const st = onHost(h, "mariadb -e 'SHOW SLAVE STATUS\\G' | grep -E ' (Master_Host|Slave_IO_Running|Slave_SQL_Running|Using_Gtid|Exec_Master_Log_Pos):'").stdout;
      return `${h}: ${vars}\n${st}`;
    })
    .join("\n");
}

describe.skipIf(!isRoot)("switchover and failover (lab)", { shuffle: false }, () => {
  const hosts = ["master", "mirror1", "mirror2"];
  const stackFile = path.join(ROOT, `stacks/Pulumi.${STACK}.yaml`);

  beforeAll(async () => {
    sql("master", "CREATE DATABASE IF NOT EXISTS wiki");
    sql("master", "CREATE TABLE wiki.pages (id INT PRIMARY KEY, title VARCHAR(100) NOT NULL) ENGINE=InnoDB");
    sql("master", "INSERT INTO wiki.pages SELECT seq, CONCAT('page ', seq) FROM wiki.seq_1_to_2000");
    sql("master", "CREATE TABLE wiki.writes (n INT PRIMARY KEY, host VARCHAR(20) NOT NULL, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB");
    // TLS off: under TLS only the master has a server certificate, and switchover refuses (tls.test.ts).
    writeTestStack(STACK, { tls: { enabled: false } });
    await freshStack(STACK);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    // The site's account on every host (not replicated: account statements are not in the binary log here).
    for (const h of hosts) {
      sql(h, `SET sql_log_bin = 0; CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '${APP_PASSWORD}'; GRANT SELECT, INSERT, UPDATE, DELETE ON wiki.* TO 'app'@'%'`);
    }
  });

  afterAll(async () => {
    await pulumi(["cancel", "--yes", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
    fs.rmSync(stackFile, { force: true });
  });

  it("mirrors are promotable: binary log with the replicated changes, read-only, gtid_strict_mode off", () => {
    for (const m of ["mirror1", "mirror2"]) {
      expect(sql(m, "SELECT @@log_bin, @@log_slave_updates, @@gtid_strict_mode, @@read_only"), m).toBe("1\t1\t0\t1");
    }
    // The seed's load was not binary-logged on the mirror: no transaction of the mirror's own server_id.
    const own = sql("mirror1", "SELECT @@server_id");
    expect(sql("mirror1", "SELECT @@gtid_binlog_state")).not.toMatch(new RegExp(`\\d+-${own}-\\d+`));
    // Seeded by coordinates (MASTER_USE_GTID=no), a mirror still keeps its GTID position (failover compares them)
    // and logs the replicated transaction under the master's GTID.
    sql("master", "INSERT INTO wiki.pages VALUES (900000, 'one write')");
    const pos = sql("master", "SELECT @@gtid_binlog_pos");
    for (const m of ["mirror1", "mirror2"]) {
      expect(sql(m, `SELECT MASTER_GTID_WAIT('${pos}', 30)`), m).toBe("0");
      expect(sql(m, "SELECT @@gtid_slave_pos, @@gtid_binlog_pos"), m).toBe(`${pos}\t${pos}`);
    }
  });

  it("an errant transaction on a mirror refuses the switchover, named, and nothing changes", async () => {
    sql("mirror2", "INSERT INTO wiki.pages VALUES (900001, 'written on a mirror by hand')");
    const errant = sql("mirror2", "SELECT @@gtid_binlog_pos");
    expect(errant).toMatch(/^0-\d+-\d+$/);
    const before = snapshot(hosts);
    const r = await mirrorctl("switchover", "--stack", STACK, "--to", "mirror1");
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toContain("REFUSED: nothing changed");
    expect(r.stdout).toContain(`mirror2: errant transactions (in its binary log, not in the master's): ${errant}`);
    expect(snapshot(hosts)).toBe(before);
    expect(sql("master", "SELECT @@read_only")).toBe("0");
    // The operator removes it: the row without binary-logging it, then the mirror's binary log.
    sql("mirror2", "SET sql_log_bin = 0; DELETE FROM wiki.pages WHERE id = 900001; RESET MASTER");
  });

  it("--dry-run runs every check, prints the config change and changes nothing", async () => {
    const before = snapshot(hosts);
    const r = await mirrorctl("switchover", "--stack", STACK, "--to", "mirror1", "--dry-run");
    console.log(`[e2e] switchover --dry-run:\n${r.stdout}`);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^ok +[\d.]+s +preflight: 3 hosts answer/m);
    expect(r.stdout).toContain("dry run: every check passed and nothing was changed");
    expect(r.stdout).toMatch(/^\+ {4}name: mirror1$/m);
    expect(snapshot(hosts)).toBe(before);
  });

  it("a candidate that cannot catch up before the deadline: the fence is undone, the master takes writes again", async () => {
    // mirror1's replication cannot commit while a session there holds the global read lock (for 12 s).
    const lock = spawn("bash", [path.join(ROOT, "lab/lab.sh"), "exec", "mirror1", "--", "mariadb", "-e", "FLUSH TABLES WITH READ LOCK; DO SLEEP(12)"], { cwd: ROOT, stdio: "ignore" });
    const lockDone = new Promise((res) => lock.on("close", res));
    await new Promise((r) => setTimeout(r, 1000));
    sql("master", "INSERT INTO wiki.pages VALUES (900003, 'mirror1 cannot apply this yet')");
    const r = await mirrorctl("switchover", "--stack", STACK, "--to", "mirror1", "--deadline", "5", "--json");
    const j = JSON.parse(r.stdout);
    expect(r.code, show(r)).toBe(1);
    expect(j.steps.map((s: { step: string; ok: boolean }) => `${s.step}:${s.ok}`)).toEqual(["preflight:true", "fence:true", "catch up:false", "undo:true"]);
    expect(j.changed).toBe(false);
    expect(r.stderr).toMatch(/mirror1 did not apply mysql-bin\.\d+:\d+ \(timeout\)/);
    // Writable again, and nothing else changed: every mirror still replicates from the master.
    expect(sql("master", "SELECT @@read_only")).toBe("0");
    sql("master", "INSERT INTO wiki.pages VALUES (900004, 'after the undo')");
    await lockDone;
    const pos = sql("master", "SELECT @@gtid_binlog_pos");
    for (const m of ["mirror1", "mirror2"]) {
      expect(sql(m, `SELECT MASTER_GTID_WAIT('${pos}', 30)`), m).toBe("0");
      expect(onHost(m, "mariadb -e 'SHOW SLAVE STATUS\\G'").stdout, m).toContain(`Master_Host: ${addr("master")}`);
      expect(sql(m, "SELECT @@read_only"), m).toBe("1");
    }
  });

  it("switchover under a steady writer: a short write gap, no acknowledged write lost, everyone follows the new master by GTID", async () => {
    const writer = startWriter(["master", "mirror1"], APP_PASSWORD);
    await new Promise((r) => setTimeout(r, 3000));
    const r = await mirrorctl("switchover", "--stack", STACK, "--to", "mirror1", "--json");
    await new Promise((r) => setTimeout(r, 2000));
    const w = await writer.finish();
    expect(r.code, show(r)).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.steps.map((s: { step: string; ok: boolean }) => `${s.step}:${s.ok}`)).toEqual([
      "preflight:true",
      "fence:true",
      "catch up:true",
      "promote:true",
      "repoint:true",
      "repoint:true",
      "prove:true",
      "verify:true",
    ]);
    // The gap seen by the writer: last acknowledged write on the old master to the first one on the new master.
    const lastOld = Math.max(...w.acked.filter((a) => a.host === "master").map((a) => a.t));
    const firstNew = Math.min(...w.acked.filter((a) => a.host === "mirror1").map((a) => a.t));
    const gapMs = firstNew - lastOld;
    console.log(`[e2e] switchover: ${w.acked.length} writes acknowledged; write gap seen by the writer ${gapMs} ms; mirrorctl's fence-to-promotion ${j.writeGapSeconds.toFixed(3)} s`);
    expect(w.acked.filter((a) => a.host === "master").length).toBeGreaterThan(20);
    expect(w.acked.filter((a) => a.host === "mirror1").length).toBeGreaterThan(20);
    expect(gapMs).toBeGreaterThan(0);
    expect(gapMs).toBeLessThan(2000);
    // Refusals the writer saw were the read-only ones or its session being ended, never anything else.
    for (const e of w.errors) expect(e).toMatch(/read-only|--read-only|Connection was killed|closed state|ECONNRESET|server has gone away|Lost connection|Connection lost|server closed/i);
    // Every acknowledged write is on the new master, and the old master wrote nothing after the fence.
    const rows = new Set(sql("mirror1", "SELECT n FROM wiki.writes").split("\n").map(Number));
    expect(w.acked.filter((a) => !rows.has(a.n))).toEqual([]);
    expect(sql("master", "SELECT @@read_only")).toBe("1");
    for (const h of ["master", "mirror2"]) {
      const st = onHost(h, "mariadb -e 'SHOW SLAVE STATUS\\G'").stdout;
      expect(st, h).toContain(`Master_Host: ${addr("mirror1")}`);
      expect(st, h).toMatch(/Slave_IO_Running: Yes/);
      expect(st, h).toMatch(/Slave_SQL_Running: Yes/);
      expect(st, h).toMatch(/Using_Gtid: Slave_Pos/);
      expect(sql(h, "SELECT COUNT(*) FROM wiki.writes")).toBe(sql("mirror1", "SELECT COUNT(*) FROM wiki.writes"));
    }
    expect(sql("mirror1", "SELECT @@read_only, @@gtid_strict_mode")).toBe("0\t1");
    expect(onHost("mirror1", "mariadb -e 'SHOW SLAVE STATUS\\G'").stdout.trim()).toBe("");
    // The printed change applies to the stack file and names mirror1 as the master with the ids in use.
    const next = applyPatch(fs.readFileSync(stackFile, "utf8"), j.configDiff as string);
    expect(next).not.toBe(false);
    fs.writeFileSync(stackFile, next as string);
    const cfg = (await import("yaml")).parse(next as string).config;
    expect(cfg["mirrorstack:master"]).toMatchObject({ name: "mirror1", serverId: Number(sql("mirror1", "SELECT @@server_id")) });
    expect(cfg["mirrorstack:mirrors"].map((m: { name: string }) => m.name)).toEqual(["master", "mirror2"]);
    expect(cfg["mirrorstack:mirrors"][0].serverId).toBe(1);
  });

  it("failover with the master's server stopped: refused when data would be lost, then promotes the mirror that holds everything", async () => {
    // mirror2 receives but does not apply the last writes; the old master (a mirror now, whose my.cnf already keeps a
    // binary log with the replicated changes) applies them.
    sql("mirror2", "STOP SLAVE SQL_THREAD");
    sql("mirror1", "INSERT INTO wiki.pages SELECT seq, 'late' FROM wiki.seq_800001_to_800050");
    const pos = sql("mirror1", "SELECT @@gtid_binlog_pos");
    expect(sql("master", `SELECT MASTER_GTID_WAIT('${pos}', 30)`)).toBe("0");
    expect(onHost("mirror1", "systemctl stop mariadb").code).toBe(0);
    const before = snapshot(["master", "mirror2"]);

    const named = await mirrorctl("failover", "--stack", STACK, "--to", "mirror2");
    expect(named.code, show(named)).toBe(1);
    expect(named.stdout).toMatch(/REFUSED: nothing changed: mirror2 lacks transactions other mirrors have \(master: 0-\d+-\d+\)/);
    // Left to choose, it takes the mirror with the most transactions; a dry run changes nothing.
    const auto = await mirrorctl("failover", "--stack", STACK, "--dry-run");
    expect(auto.code, show(auto)).toBe(0);
    expect(auto.stdout).toMatch(/choose: master: the most transactions/);
    expect(auto.stdout).toContain("dry run: nothing was changed. A failover would promote master and point mirror2 at it by GTID.");
    expect(snapshot(["master", "mirror2"])).toBe(before);

    // Its relay log applied, mirror2 holds everything: named, it is promoted without loss.
    sql("mirror2", "START SLAVE SQL_THREAD");
    expect(sql("mirror2", `SELECT MASTER_GTID_WAIT('${pos}', 30)`)).toBe("0");
    const r = await mirrorctl("failover", "--stack", STACK, "--to", "mirror2");
    console.log(`[e2e] failover:\n${r.stdout}`);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/choose: mirror2: named; no mirror is ahead of it/);
    expect(r.stdout).toContain("failover done: mirror2 is the master");
    expect(r.stdout).toMatch(/^\+ {4}name: mirror2$/m);
    expect(sql("mirror2", "SELECT @@read_only, COUNT(*) FROM wiki.pages WHERE title = 'late'")).toBe("0\t50");
    const st = onHost("master", "mariadb -e 'SHOW SLAVE STATUS\\G'").stdout;
    expect(st).toContain(`Master_Host: ${addr("mirror2")}`);
    expect(st).toMatch(/Slave_SQL_Running: Yes/);
    // Running it again changes nothing: mirror2 is the master already.
    const again = await mirrorctl("failover", "--stack", STACK);
    expect(again.code, show(again)).toBe(0);
    expect(again.stdout).toContain("nothing to do: mirror2 is the master already");
  });

  it("the old master comes back writable: failover fences it and rejoins it as a mirror by GTID", async () => {
    expect(onHost("mirror1", "systemctl start mariadb").code).toBe(0);
    // As if it came back with a master's settings: writable.
    sql("mirror1", "SET GLOBAL read_only = 0");
    const r = await mirrorctl("failover", "--stack", STACK);
    console.log(`[e2e] failover, old master back:\n${r.stdout}`);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/second master: mirror1 replicates from nobody and TAKES WRITES while the mirrors replicate from mirror2/);
    expect(r.stdout).toMatch(/rejoin: mirror1 replicates from mirror2 by GTID: its binary log holds nothing mirror2 lacks/);
    expect(sql("mirror1", "SELECT @@read_only")).toBe("1");
    const st = onHost("mirror1", "mariadb -e 'SHOW SLAVE STATUS\\G'").stdout;
    expect(st).toContain(`Master_Host: ${addr("mirror2")}`);
    expect(st).toMatch(/Slave_IO_Running: Yes/);
    sql("mirror2", "INSERT INTO wiki.pages VALUES (900002, 'after the rejoin')");
    const pos = sql("mirror2", "SELECT @@gtid_binlog_pos");
    for (const h of ["master", "mirror1"]) {
      expect(sql(h, `SELECT MASTER_GTID_WAIT('${pos}', 30)`), h).toBe("0");
      expect(sql(h, "SELECT title FROM wiki.pages WHERE id = 900002"), h).toBe("after the rejoin");
    }
  });
});
