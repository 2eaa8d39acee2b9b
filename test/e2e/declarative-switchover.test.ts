// End-to-end (root + lab): a switchover by stack-config change. The operator names a mirror as the master and runs
// `up`: the preview says so; a config that would change a running server_id, or a mirror with an errant transaction,
// is refused with nothing changed; under a steady writer `up` fences the old master, promotes the mirror and points
// the others at it by GTID (measured write gap, no copy of any data), restarts no database server, moves file
// mirroring (the new master's sync account, everyone else pulling from it) and the site's writable side; `verify`
// is equal and the next `up` changes nothing. Then the operator applies what `mirrorctl switchover` would have done
// by hand... in reverse: `mirrorctl switchover` back, and `up` with the printed change converges without a copy.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { applyPatch } from "diff";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpGet } from "../../infra/ops/web";
import { freshStack, inventory, isRoot, mirrorctl, onHost, pulumi, ROOT, run, showRun, skipReason, sql, stackExportText, startWriter, useLab, writeTestStack } from "./lab";

const STACK = "e2e-declarative";
useLab("declarative", { mirrors: 2, image: "prepared" });
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

const SITE = "/srv/www/site";
const APP_PASSWORD = "app-declarative-pw";
const PAGE = `<?php
require '/etc/mirrorstack/site.php';
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
$d = $mirrorstackDb;
$db = new mysqli($d['server'], $d['user'], $d['password'], $d['name'], 0, $d['socket']);
echo "role=$mirrorstackRole readonly=" . ($mirrorstackReadOnly ? 'yes' : 'no') . "\\n";
try { $db->query("INSERT INTO site_writes (host) VALUES ('" . gethostname() . "')"); echo "write=ok\\n"; }
catch (mysqli_sql_exception $e) { echo 'write=refused: ' . $e->getMessage() . "\\n"; }
`;

const addr = (h: string) => inventory().hosts.find((x) => x.name === h)!.address;
const uptime = (h: string) => Number(sql(h, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'"));

type Host = { name: string; address: string; serverId?: number; web: boolean };
/** The stack config with `master` and `mirrors` as given (each with the server id it runs with, when `ids`). */
function config(master: string, mirrors: string[], ids: boolean) {
  const RUNNING: Record<string, number> = { master: 1, mirror1: 100, mirror2: 101 };
  const host = (name: string): Host => ({ name, address: addr(name), web: true, ...(ids ? { serverId: RUNNING[name] } : {}) });
  writeTestStack(STACK, {
    tls: { enabled: false },
    master: host(master),
    mirrors: mirrors.map(host),
    files: { method: "rsync-ssh", trees: [SITE] },
    web: { server: "apache", documentRoot: SITE, uploadsPath: `${SITE}/images`, app: "generic", checkPath: "/index.php", checkFile: "/images/logo.png" },
    backups: { enabled: false },
  });
}

/** Replication outputs by mirror (seed, status, joined). */
async function replication(): Promise<Record<string, { seed: unknown; joined?: { how: string; why: string; master: string } }>> {
  const o = await pulumi(["stack", "output", "replication", "--json", "--stack", STACK]);
  expect(o.code, o.out).toBe(0);
  return Object.fromEntries((JSON.parse(o.out) as { mirror: string; seed: unknown }[]).map((r) => [r.mirror, r]));
}

const page = async (h: string) => (await httpGet(addr(h), addr(h), "/index.php")).body.toString();

describe.skipIf(!isRoot)("switchover by stack-config change (lab)", { shuffle: false }, () => {
  const stackFile = path.join(ROOT, `stacks/Pulumi.${STACK}.yaml`);
  let seedsBefore = "";

  beforeAll(async () => {
    sql("master", "CREATE DATABASE IF NOT EXISTS wiki");
    sql("master", "CREATE TABLE wiki.pages (id INT PRIMARY KEY, title VARCHAR(100) NOT NULL) ENGINE=InnoDB");
    sql("master", "INSERT INTO wiki.pages SELECT seq, CONCAT('page ', seq) FROM wiki.seq_1_to_2000");
    sql("master", "CREATE TABLE wiki.writes (n INT PRIMARY KEY, host VARCHAR(20) NOT NULL) ENGINE=InnoDB");
    sql("master", "CREATE TABLE wiki.site_writes (id INT AUTO_INCREMENT PRIMARY KEY, host VARCHAR(64)) ENGINE=InnoDB");
    const site = onHost("master", `install -d ${SITE}/images && cat > ${SITE}/index.php <<'PHP'\n${PAGE}PHP\nhead -c 3000 /dev/urandom > ${SITE}/images/logo.png`);
    expect(site.code, site.stderr).toBe(0);
    config("master", ["mirror1", "mirror2"], false);
    await freshStack(STACK);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    for (const h of ["master", "mirror1", "mirror2"]) {
      sql(h, `SET sql_log_bin = 0; CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '${APP_PASSWORD}'; GRANT SELECT, INSERT, UPDATE, DELETE ON wiki.* TO 'app'@'%'`);
    }
    for (const m of ["mirror1", "mirror2"]) expect(onHost(m, "/usr/local/sbin/mirrorstack-sync").code, m).toBe(0);
    seedsBefore = JSON.stringify(Object.fromEntries(Object.entries(await replication()).map(([k, v]) => [k, v.seed])));
  });

  afterAll(async () => {
    await pulumi(["cancel", "--yes", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
    fs.rmSync(stackFile, { force: true });
  });

  it("before: the master's site writes, the mirrors' refuse", async () => {
    expect(await page("master")).toMatch(/^role=master readonly=no\nwrite=ok$/m);
    expect(await page("mirror1")).toMatch(/^role=mirror readonly=yes\nwrite=refused: .*read-only/m);
  });

  it("a config that would change a running server_id is refused before anything changes", async () => {
    // Roles swapped without serverId: mirror1 would become 1 and the old master 100.
    config("mirror1", ["master", "mirror2"], false);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).not.toBe(0);
    expect(up.out).toMatch(/\[master\.serverId\] mirror1 runs with server_id 100 but the config gives it 1/);
    expect(sql("master", "SELECT @@read_only")).toBe("0");
    expect(sql("mirror1", "SELECT @@read_only")).toBe("1");
    expect(onHost("mirror1", "mariadb -e 'SHOW SLAVE STATUS\\G'").stdout).toContain(`Master_Host: ${addr("master")}`);
  });

  it("an errant transaction on a mirror refuses it, named, and the old master stays writable", async () => {
    sql("mirror2", "INSERT INTO wiki.pages VALUES (900001, 'written on a mirror by hand')");
    const errant = sql("mirror2", "SELECT @@gtid_binlog_pos");
    config("mirror1", ["master", "mirror2"], true);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).not.toBe(0);
    expect(up.out).toContain(`mirror2: errant transactions (in its binary log, not in the master's): ${errant}`);
    expect(up.out).toMatch(/refused or undone: master stays the master/);
    expect(sql("master", "SELECT @@read_only")).toBe("0");
    sql("mirror2", "SET sql_log_bin = 0; DELETE FROM wiki.pages WHERE id = 900001; RESET MASTER");
  });

  it("the preview names the switchover and replaces nothing", async () => {
    const pv = await pulumi(["preview", "--diff", "--stack", STACK]);
    expect(pv.code, pv.out).toBe(0);
    expect(pv.out).toMatch(/~ .*MasterRole: \(update\)[\s\S]*master\s*: "master" => "mirror1"/);
    expect(pv.out).not.toMatch(/\+-|replace/);
    // The database servers' files: settings the server takes at run time (the preview shows old => new).
    expect(pv.out).toMatch(/=> \\?"applied live, no restart: [^"\n]*SET GLOBAL read_only = ON/);
    expect(pv.out).toMatch(/=> \\?"applied live, no restart: [^"\n]*SET GLOBAL read_only = DEFAULT/);
    expect(pv.out).not.toMatch(/=> \\?"restart/);
    // The review a pull request gets says it in words (the trimmed preview is kept as test/fixtures/review/switchover.json
    // when MIRRORSTACK_REVIEW_CAPTURE=1, for test/review.report.test.ts).
    const out = path.join(ROOT, `.lab-ds/review.md`);
    const json = path.join(ROOT, `.lab-ds/review.json`);
    const rv = await run("npm", ["run", "-s", "review", "--", "--stack", STACK, "--out", out, "--json-out", json]);
    const md = fs.existsSync(out) ? fs.readFileSync(out, "utf8") : "";
    expect(rv.code, `${rv.stdout}\n${rv.stderr}\n${md}`).toBe(0);
    console.log(`[e2e] npm run review of the switchover:\n${md}`);
    expect(md).toContain("### Switchover: `master` → `mirror1`");
    expect(md).toMatch(/\*\*follows the new master\*\* `mirror1` \(was `master`\): no copy/);
    expect(md).toMatch(/\*\*old master\*\* `master` becomes a mirror of `mirror1`: no copy/);
    expect(md).toMatch(/\*\*promoted\*\* `mirror1`/);
    expect(md).not.toMatch(/re-seed|restart \(/);
    if (process.env.MIRRORSTACK_REVIEW_CAPTURE === "1") fs.copyFileSync(json, path.join(ROOT, "test/fixtures/review/switchover.json"));
  });

  it("up performs it under a steady writer: a short write gap, no copy, no restart, verify equal", async () => {
    const up0 = { master: uptime("master"), mirror1: uptime("mirror1") };
    const t0 = Date.now();
    const writer = startWriter(["master", "mirror1"], APP_PASSWORD);
    await new Promise((r) => setTimeout(r, 3000));
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    await new Promise((r) => setTimeout(r, 2000));
    const { acked } = await writer.finish();
    expect(up.code, up.out).toBe(0);
    const lastOld = Math.max(...acked.filter((a) => a.host === "master").map((a) => a.t));
    const firstNew = Math.min(...acked.filter((a) => a.host === "mirror1").map((a) => a.t));
    const exp = JSON.parse(await stackExportText(STACK)) as { deployment: { resources: { type: string; outputs?: Record<string, unknown> }[] } };
    const role = exp.deployment.resources.find((r) => r.type.endsWith(":MasterRole"))!.outputs!.switchover as { how: string; writeGapSeconds: number; from: string; to: string };
    console.log(`[e2e] switchover by config change: write gap seen by the writer ${firstNew - lastOld} ms; fence-to-promotion ${role.writeGapSeconds.toFixed(3)} s; up took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(role).toMatchObject({ from: "master", to: "mirror1", how: "switched" });
    expect(acked.filter((a) => a.host === "mirror1").length).toBeGreaterThan(20);
    expect(firstNew - lastOld).toBeGreaterThan(0);
    expect(firstNew - lastOld).toBeLessThan(2000);
    const rows = new Set(sql("mirror1", "SELECT n FROM wiki.writes").split("\n").map(Number));
    expect(acked.filter((a) => !rows.has(a.n))).toEqual([]);
    // No copy: each mirror's seed record is the one from the cold up; both follow mirror1 without one.
    const rep = await replication();
    expect(JSON.stringify({ mirror2: rep.mirror2!.seed })).toBe(JSON.stringify({ mirror2: JSON.parse(seedsBefore).mirror2 }));
    expect(rep.mirror2!.joined).toMatchObject({ how: "already", master: "mirror1" });
    expect(rep.master!.joined).toMatchObject({ how: "already", master: "mirror1" });
    expect(up.out).not.toMatch(/replaced/);
    // Neither database server restarted.
    const elapsed = (Date.now() - t0) / 1000;
    expect(uptime("master")).toBeGreaterThanOrEqual(up0.master + Math.floor(elapsed) - 1);
    expect(uptime("mirror1")).toBeGreaterThanOrEqual(up0.mirror1 + Math.floor(elapsed) - 1);
    expect(sql("master", "SELECT @@read_only, @@gtid_strict_mode")).toBe("1\t0");
    expect(sql("mirror1", "SELECT @@read_only, @@gtid_strict_mode")).toBe("0\t1");
    for (const h of ["master", "mirror2"]) {
      const st = onHost(h, "mariadb -e 'SHOW SLAVE STATUS\\G'").stdout;
      expect(st, h).toContain(`Master_Host: ${addr("mirror1")}`);
      expect(st, h).toMatch(/Slave_SQL_Running: Yes/);
    }
    const v = await mirrorctl("verify", "--stack", STACK, "--json");
    expect(v.code, showRun(v)).toBe(0);
  });

  it("file mirroring and the site follow: mirror1 is the source, the old master pulls, mirror1's site writes", async () => {
    expect(onHost("mirror1", "getent passwd mirrorsync").code).toBe(0);
    expect(onHost("master", "getent passwd mirrorsync").code).not.toBe(0);
    expect(onHost("mirror1", `echo after-switchover > ${SITE}/images/new.txt`).code).toBe(0);
    for (const h of ["master", "mirror2"]) {
      const s = onHost(h, "/usr/local/sbin/mirrorstack-sync");
      expect(s.code, `${h}: ${s.stderr}`).toBe(0);
      expect(onHost(h, `cat ${SITE}/images/new.txt`).stdout.trim(), h).toBe("after-switchover");
    }
    expect(await page("mirror1")).toMatch(/^role=master readonly=no\nwrite=ok$/m);
    expect(await page("master")).toMatch(/^role=mirror readonly=yes\nwrite=refused: .*read-only/m);
    const st = await mirrorctl("status", "--stack", STACK, "--json");
    expect(st.code, showRun(st)).toBe(0);
  });

  it("the next up changes nothing", async () => {
    const again = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).not.toMatch(/\b\d+ (created|updated|replaced|deleted)\b/);
  });

  it("mirrorctl switchover back, then up with the printed change converges without a copy", async () => {
    const r = await mirrorctl("switchover", "--stack", STACK, "--to", "master", "--json");
    expect(r.code, showRun(r)).toBe(0);
    const next = applyPatch(fs.readFileSync(stackFile, "utf8"), JSON.parse(r.stdout).configDiff as string);
    expect(next).not.toBe(false);
    fs.writeFileSync(stackFile, next as string);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    const exp = JSON.parse(await stackExportText(STACK)) as { deployment: { resources: { type: string; outputs?: Record<string, unknown> }[] } };
    expect(exp.deployment.resources.find((x) => x.type.endsWith(":MasterRole"))!.outputs!.switchover).toMatchObject({ from: "mirror1", to: "master", how: "found" });
    const rep = await replication();
    expect(rep.mirror1!.joined).toMatchObject({ how: "already", master: "master" });
    expect(rep.mirror2!.joined).toMatchObject({ how: "already", master: "master" });
    expect(JSON.stringify(rep.mirror2!.seed)).toBe(JSON.stringify(JSON.parse(seedsBefore).mirror2));
    expect(sql("master", "SELECT @@read_only")).toBe("0");
    const again = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).not.toMatch(/\b\d+ (created|updated|replaced|deleted)\b/);
  });

  it("failover with the master cut off: up with the printed change finds the new master; the old master back: up rejoins it by GTID, no copy", async () => {
    // The master host drops off the network (its veth on the lab bridge down): no SSH, no database.
    const veth = `mslvds-master`;
    sql("master", "INSERT INTO wiki.pages VALUES (900010, 'before the master is cut off')");
    const pos = sql("master", "SELECT @@gtid_binlog_pos");
    for (const m of ["mirror1", "mirror2"]) expect(sql(m, `SELECT MASTER_GTID_WAIT('${pos}', 30)`), m).toBe("0");
    expect(spawnSync("ip", ["link", "set", veth, "down"]).status).toBe(0);
    try {
      const f = await mirrorctl("failover", "--stack", STACK, "--json");
      expect(f.code, showRun(f)).toBe(0);
      const j = JSON.parse(f.stdout) as { newMaster: string; configDiff: string };
      expect(j.newMaster).toBe("mirror1");
      const next = applyPatch(fs.readFileSync(stackFile, "utf8"), j.configDiff);
      expect(next).not.toBe(false);
      fs.writeFileSync(stackFile, next as string);
      // While the old master is away, up records mirror1 as the master and fails on the old master's steps, naming
      // it. (Each replication waits for every host, so the mirrors' records follow once the old master is back or
      // removed from the config; mirror2 replicates from mirror1 meanwhile, as the failover left it.)
      const away = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
      expect(away.code, away.out).not.toBe(0);
      expect(away.out).toMatch(/\[master\]/);
      const exp = JSON.parse(await stackExportText(STACK)) as { deployment: { resources: { type: string; outputs?: Record<string, unknown> }[] } };
      expect(exp.deployment.resources.find((x) => x.type.endsWith(":MasterRole"))!.outputs!.switchover).toMatchObject({ from: "master", to: "mirror1", how: "found" });
      expect(onHost("mirror2", "mariadb -e 'SHOW SLAVE STATUS\\G'").stdout).toContain(`Master_Host: ${addr("mirror1")}`);
    } finally {
      spawnSync("ip", ["link", "set", veth, "up"]);
    }
    // It comes back as it went: a master's settings, writable. up fences it (read_only) and joins it by GTID.
    expect(sql("master", "SELECT @@read_only")).toBe("0");
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    const rep = await replication();
    expect(rep.master!.joined).toMatchObject({ how: "gtid", master: "mirror1", why: expect.stringMatching(/an old master.*holds nothing mirror1 lacks/) });
    expect(rep.mirror2!.joined).toMatchObject({ how: "already", master: "mirror1" });
    expect(JSON.stringify(rep.mirror2!.seed)).toBe(JSON.stringify(JSON.parse(seedsBefore).mirror2));
    expect(sql("master", "SELECT @@read_only")).toBe("1");
    sql("mirror1", "INSERT INTO wiki.pages VALUES (900011, 'after the failover')");
    const pos2 = sql("mirror1", "SELECT @@gtid_binlog_pos");
    for (const h of ["master", "mirror2"]) {
      expect(sql(h, `SELECT MASTER_GTID_WAIT('${pos2}', 30)`), h).toBe("0");
      expect(sql(h, "SELECT title FROM wiki.pages WHERE id = 900011"), h).toBe("after the failover");
    }
    const v = await mirrorctl("verify", "--stack", STACK, "--json");
    expect(v.code, showRun(v)).toBe(0);
    const again = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).not.toMatch(/\b\d+ (created|updated|replaced|deleted)\b/);
  });

  it("an old master back with writes of its own: up fences it and stops, naming them; a copy over them waits for a re-seed token", async () => {
    const veth = `mslvds-mirror1`;
    expect(spawnSync("ip", ["link", "set", veth, "down"]).status).toBe(0);
    try {
      const f = await mirrorctl("failover", "--stack", STACK, "--json");
      expect(f.code, showRun(f)).toBe(0);
      const j = JSON.parse(f.stdout) as { newMaster: string; configDiff: string };
      expect(j.newMaster).toBe("master");
      fs.writeFileSync(stackFile, applyPatch(fs.readFileSync(stackFile, "utf8"), j.configDiff) as string);
    } finally {
      spawnSync("ip", ["link", "set", veth, "up"]);
    }
    // Cut off, it kept its master settings and took a write nobody else has.
    expect(sql("mirror1", "SELECT @@read_only")).toBe("0");
    sql("mirror1", "INSERT INTO wiki.pages VALUES (900020, 'written on the cut-off master')");
    const errant = sql("mirror1", "SELECT @@gtid_binlog_pos");
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).not.toBe(0);
    expect(up.out).toContain("mirror1 took writes while master is the master: fenced now");
    expect(up.out).toContain(`It holds transactions master lacks: ${errant}`);
    expect(sql("mirror1", "SELECT @@read_only")).toBe("1");
    // The next up will not copy over them without the operator's word either: it names them again.
    const refused = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(refused.code, refused.out).not.toBe(0);
    expect(refused.out).toMatch(/\[mirrors\[\]\.reseed of mirror1\] mirror1 holds transactions master lacks: [0-9-]+.*nothing changed/);
    expect(sql("mirror1", "SELECT COUNT(*) FROM wiki.pages WHERE id = 900020")).toBe("1");
    // Saved (here: not needed), the operator gives a re-seed token: the copy goes ahead, saying why.
    const cfg = (await import("yaml")).parse(fs.readFileSync(stackFile, "utf8"));
    cfg.config["mirrorstack:mirrors"] = cfg.config["mirrorstack:mirrors"].map((m: { name: string }) => (m.name === "mirror1" ? { ...m, reseed: "after-failover" } : m));
    fs.writeFileSync(stackFile, (await import("yaml")).stringify(cfg));
    const next = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(next.code, next.out).toBe(0);
    const rep = await replication();
    expect(rep.mirror1!.joined).toMatchObject({ how: "copied", master: "master", why: expect.stringMatching(/re-seed token|holds transactions master lacks/) });
    expect(rep.mirror2!.joined).toMatchObject({ how: "already", master: "master" });
    expect(sql("mirror1", "SELECT COUNT(*) FROM wiki.pages WHERE id = 900020")).toBe("0");
    const v = await mirrorctl("verify", "--stack", STACK, "--json");
    expect(v.code, showRun(v)).toBe(0);
    const again = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).not.toMatch(/\b\d+ (created|updated|replaced|deleted)\b/);
  });
});
