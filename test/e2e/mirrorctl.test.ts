// End-to-end (root + lab): mirrorctl against a stack applied with the real engine - status as a monitoring check,
// a replication conflict and skip-event, verify under writes and after a hand edit, exec, keys, purge-binlogs
// (command and cron job, and who writes the job's position reports), drift and its repair by `up --refresh`, repair,
// reseed, refusals that change nothing, and read-only commands that write nothing.
import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceptedSessions, inventory, freshStack, isRoot, onHost, pulumi, ROOT, skipReason, sql, writeTestStack, useLab, mirrorctl as ctl, showRun as show } from "./lab";
import { dsaKeyLine } from "../fixtures/ssh-keys";
import { toolPath } from "../tools";

const STACK = "e2e-mirrorctl";
useLab("mirrorctl", { mirrors: 1, image: "prepared" });
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** promtool's verdict on a text in the Prometheus format ("" when it finds nothing wrong). */
function promtoolCheck(text: string): string {
  const r = spawnSync(toolPath("promtool"), ["check", "metrics"], { input: text, encoding: "utf8" });
  return `${r.stdout}${r.stderr}${r.status === 0 ? "" : `promtool exit ${r.status}`}`;
}

const REPORTS = "/var/lib/mirrorstack/replica-positions";
/** The master's position reports, each with its size and modification time ("" when there are none). */
const reportsOn = (master: string) => onHost(master, `find ${REPORTS} -printf '%p %s %T@\\n' 2>/dev/null | sort`).stdout;
/**
 * Files a mirrorctl command could leave on a host: what changed since MARKER under the state directory, the
 * managed scripts and the cron files. The cron jobs' own status files (health check, file sync) are left out.
 */
const MARKER = "/tmp/mirrorctl-e2e-marker";
const changedSince = (host: string) =>
  onHost(host, `find /var/lib/mirrorstack /usr/local /etc/cron.d -xdev ! -type d -newer ${MARKER} ! -name 'health-status*' ! -name 'sync-status*' 2>/dev/null | sort`).stdout;

describe.skipIf(!isRoot)("mirrorctl (lab)", { shuffle: false }, () => {
  let master = "master";
  let mirror = "mirror1";

  beforeAll(async () => {
    const inv = inventory();
    master = inv.hosts.find((h) => h.role === "master")!.name;
    mirror = inv.hosts.find((h) => h.role === "mirror")!.name;
    // A small table the seed copies (2 500 rows: three chunks of 1 000).
    sql(master, "CREATE DATABASE IF NOT EXISTS wiki");
    sql(master, "DROP TABLE IF EXISTS wiki.pages");
    sql(master, "CREATE TABLE wiki.pages (id INT PRIMARY KEY, title VARCHAR(100) NOT NULL, body TEXT, touched TIMESTAMP NULL)");
    sql(master, "INSERT INTO wiki.pages SELECT seq, CONCAT('page ', seq), REPEAT('x', seq % 50), NULL FROM wiki.seq_1_to_2500");
    writeTestStack(STACK, { backups: { retention: 2 } });
    await freshStack(STACK);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
  });

  afterAll(async () => {
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
  });

  it("status: healthy after up (exit 0), as a table and as JSON; it and the other read-only commands write nothing on any host", async () => {
    const hosts = [master, mirror];
    for (const h of hosts) onHost(h, `touch ${MARKER}; sleep 1`);
    const r = await ctl("status", "--stack", STACK);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/^MIRRORSTACK OK - stack /);
    expect(r.stdout).toMatch(new RegExp(`${mirror} +mirror +OK +Yes +Yes +\\d+s +mysql-bin\\.\\d+:\\d+ +not configured`));
    // No report yet (status never writes one): status says so and names the command that records them.
    expect(r.stdout).toContain(`binlog purge job on ${master}: mirror positions as recorded by mirrorctl purge-binlogs: ${mirror} none`);
    expect(r.stdout).toContain(`mirrorctl purge-binlogs --record-only --stack ${STACK}`);
    const j = JSON.parse((await ctl("status", "--stack", STACK, "--json")).stdout);
    expect(j.level).toBe("OK");
    expect(j.hosts.find((h: { host: string }) => h.host === mirror).replication).toMatchObject({ ioRunning: true, sqlRunning: true });
    expect(j.hosts.find((h: { host: string }) => h.host === master).positionReports).toEqual([{ mirror, ageSeconds: null }]);
    const prom = await ctl("status", "--stack", STACK, "--format", "prometheus");
    expect(prom.code, show(prom)).toBe(0);
    expect(promtoolCheck(prom.stdout)).toBe("");
    expect(prom.stdout).toContain(`mirrorstack_replication_sql_running{stack="${STACK}",host="${mirror}"} 1\n`);
    expect(prom.stdout).toContain(`mirrorstack_health_ok{stack="${STACK}",host="${master}"} 1\n`);
    expect(prom.stdout).toMatch(new RegExp(`^mirrorstack_filesystem_avail_bytes\\{stack="${STACK}",host="${master}",purpose="datadir",path="/var/lib/mysql/?"\\} [1-9]\\d*$`, "m"));
    expect((await ctl("keys", "--stack", STACK)).code).toBe(0);
    expect((await ctl("drift", "--stack", STACK)).code).toBe(0);
    for (const h of hosts) expect(changedSince(h), `${h}: written by a read-only command`).toBe("");
    expect(reportsOn(master)).toBe("");
  });

  it("bad arguments get a clear error, exit 2 and change nothing (no SSH session, no write)", async () => {
    const hosts = inventory().hosts.map((h) => h.name);
    const sessions = hosts.map(acceptedSessions);
    const pos = sql(master, "SHOW MASTER STATUS");
    const cases: [string[], RegExp][] = [
      [["repair", "--stack", STACK, "--host", "nosuchhost"], /unknown host "nosuchhost"/],
      [["exec", "--stack", STACK], /exec needs a command after --/],
      [["exec", "--stack", STACK, "--", "touch", "/tmp/mirrorctl-should-not-exist"], /also run on the master .*add --yes/],
      [["repair", "--stack", STACK, "--host", master], /is the master.*add --yes/],
      [["reseed", "--stack", STACK, "--host", mirror], /add --yes to confirm/],
      [["reseed", "--stack", STACK, "--host", master, "--yes"], /is the master/],
      [["skip-event", "--stack", STACK, "--host", master, "--yes"], /is the master/],
      [["frobnicate", "--stack", STACK], /unknown command "frobnicate"/],
      [["status", "--stack", "no-such-stack"], /no stack file/],
      [["restore", "--stack", STACK, "--host", mirror, "--to", "wiki"], /replicated database/],
      [["sync-now", "--stack", STACK], /file mirroring is not configured \(files.trees is empty\)/],
    ];
    for (const [args, msg] of cases) {
      const r = await ctl(...args);
      expect(r.code, `${args.join(" ")}: ${show(r)}`).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(msg);
    }
    expect(hosts.map(acceptedSessions)).toEqual(sessions);
    expect(sql(master, "SHOW MASTER STATUS")).toBe(pos);
    for (const h of hosts) expect(onHost(h, "ls /tmp/mirrorctl-should-not-exist 2>/dev/null").stdout).toBe("");
  });

  it("verify: no difference while the master takes writes; after a hand edit on the mirror it names the table and chunk", async () => {
    // A writer updates and inserts on the master for a few seconds, across the comparison.
    const writer = spawn(
      "bash",
      [path.join(ROOT, "lab/lab.sh"), "exec", master, "--", "bash", "-c",
        "n=0; end=$((SECONDS+6)); while [ $SECONDS -lt $end ]; do n=$((n+1)); mariadb wiki -e \"UPDATE pages SET body=CONCAT(body,'w'), touched=NOW() WHERE id=$((n % 2500 + 1)); INSERT INTO pages VALUES ($((10000+n)), 'writer', 'w', NOW())\" || exit 1; done; echo $n"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let written = "";
    writer.stdout.on("data", (d: Buffer) => (written += d.toString()));
    const done = new Promise<number>((res) => writer.on("close", (c) => res(c ?? -1)));
    await new Promise((r) => setTimeout(r, 1000));
    const r = await ctl("verify", "--stack", STACK);
    const code = await done;
    expect(code, "the writer never failed").toBe(0);
    expect(Number(written.trim())).toBeGreaterThan(5);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/equal/);
    expect(r.stdout).toMatch(/all \d+ mirror\(s\) match the master/);

    // Hand edit on the mirror (root may write despite read_only), in the second chunk (ids 1001..2000).
    const title = sql(master, "SELECT title FROM wiki.pages WHERE id = 1500");
    sql(mirror, "UPDATE wiki.pages SET title = 'edited by hand' WHERE id = 1500");
    const bad = await ctl("verify", "--stack", STACK);
    expect(bad.code, show(bad)).toBe(1);
    expect(bad.stdout).toContain(`${mirror}: wiki.pages chunk 1 (key >= (1001) and < (2001)): master 1000 rows, mirror 1000 rows, checksums differ`);
    const j = JSON.parse((await ctl("verify", "--stack", STACK, "--json")).stdout);
    expect(j.equal).toBe(false);
    sql(mirror, `UPDATE wiki.pages SET title = '${title}' WHERE id = 1500`);
    expect((await ctl("verify", "--stack", STACK)).code).toBe(0);
    // Replication keeps running after verify paused and resumed the SQL thread.
    expect((await ctl("status", "--stack", STACK)).code).toBe(0);
  });

  it("status goes CRITICAL naming the SQL error after a conflicting row; skip-event --yes makes it healthy again", async () => {
    const next = Number(sql(master, "SELECT MAX(id) + 1 FROM wiki.pages"));
    sql(mirror, `SET GLOBAL read_only = 0; INSERT INTO wiki.pages VALUES (${next}, 'mirror row', 'conflict', NULL); SET GLOBAL read_only = 1`);
    sql(master, `INSERT INTO wiki.pages VALUES (${next}, 'master row', 'conflict', NULL)`);
    let r: Run = await ctl("status", "--stack", STACK);
    for (let i = 0; i < 20 && r.code === 0; i++) {
      spawnSync("sleep", ["0.5"]);
      r = await ctl("status", "--stack", STACK);
    }
    expect(r.code, show(r)).toBe(2);
    expect(r.stdout.split("\n")[0]).toMatch(/^MIRRORSTACK CRITICAL - .*SQL thread is not running: error 1062: .*Duplicate entry/);
    expect(r.stdout).toMatch(new RegExp(`${mirror}: last SQL error 1062: .*Duplicate entry '${next}' for key 'PRIMARY'`));
    const prom = await ctl("status", "--stack", STACK, "--format", "prometheus");
    expect(prom.code, show(prom)).toBe(2);
    expect(promtoolCheck(prom.stdout)).toBe("");
    expect(prom.stdout).toContain(`mirrorstack_replication_sql_running{stack="${STACK}",host="${mirror}"} 0\n`);
    expect(prom.stdout).toContain(`mirrorstack_health_ok{stack="${STACK}",host="${mirror}"} 0\n`);

    const look = await ctl("skip-event", "--stack", STACK, "--host", mirror);
    expect(look.code, show(look)).toBe(2);
    expect(look.stdout).toMatch(/Write_rows/);
    expect(look.stdout).toMatch(/not skipped: re-run with --yes/);
    expect((await ctl("status", "--stack", STACK)).code, "looking changed nothing").toBe(2);

    const skip = await ctl("skip-event", "--stack", STACK, "--host", mirror, "--yes");
    expect(skip.code, show(skip)).toBe(0);
    expect(skip.stdout).toMatch(/skipped 1 event group/);
    expect(skip.stdout).toMatch(/SQL thread running again/);
    const after = await ctl("status", "--stack", STACK);
    expect(after.code, show(after)).toBe(0);
    // The mirror kept its own row: make it match the master again for the tests after this one.
    sql(mirror, `UPDATE wiki.pages SET title = 'master row' WHERE id = ${next}`);
    expect((await ctl("verify", "--stack", STACK)).code).toBe(0);
  });

  it("exec: each host's output, grouped, and a failing host's exit code", async () => {
    const r = await ctl("exec", "--stack", STACK, "--yes", "--json", "--", `hostname; [ "$(hostname)" != ${mirror} ] || exit 7`);
    expect(r.code, show(r)).toBe(1);
    const j = JSON.parse(r.stdout);
    const by = Object.fromEntries(j.hosts.map((h: { host: string }) => [h.host, h]));
    expect(by[master]).toMatchObject({ exitCode: 0, stdout: `${master}\n` });
    expect(by[mirror]).toMatchObject({ exitCode: 7, stdout: `${mirror}\n` });
    const text = await ctl("exec", "--stack", STACK, "--hosts", mirror, "--", "uname", "-s");
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`=== ${mirror} \\(mirror\\): exit 0 .*\\n  Linux\\nok on all 1 host\\(s\\)`));
  });

  it("keys: lists every authorized key and flags a planted DSA key", async () => {
    const dsa = dsaKeyLine("planted@old-laptop");
    onHost(mirror, `cp /root/.ssh/authorized_keys /root/.ssh/authorized_keys.mirrorctl-test && echo '${dsa}' >> /root/.ssh/authorized_keys`);
    try {
      const r = await ctl("keys", "--stack", STACK);
      expect(r.code, show(r)).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`${mirror} +root +ssh-dss +1024 +planted@old-laptop +- +FLAG: weak: DSA key`));
      expect(r.stdout).toMatch(new RegExp(`${master} +root +ssh-ed25519 +256 .* ok`));
      expect(r.stdout).toMatch(/1 of \d+ key\(s\) flagged/);
    } finally {
      onHost(mirror, "mv -f /root/.ssh/authorized_keys.mirrorctl-test /root/.ssh/authorized_keys");
    }
    expect((await ctl("keys", "--stack", STACK)).code).toBe(0);
  });

  it("purge-binlogs: dry run, safe purge, refusal when a mirror is stopped; the cron job does the same from the reports purge-binlogs (or --record-only) writes", async () => {
    sql(master, "FLUSH BINARY LOGS");
    sql(master, "INSERT INTO wiki.pages VALUES (20001, 'p', 'b', NULL)");
    sql(master, "FLUSH BINARY LOGS");
    const logs = () => sql(master, "SHOW BINARY LOGS").split("\n").map((l) => l.split("\t")[0]);
    // Let the mirror apply up to the newest log.
    for (let i = 0; i < 20 && sql(mirror, "SELECT COUNT(*) FROM wiki.pages WHERE id = 20001") !== "1"; i++) spawnSync("sleep", ["0.3"]);
    const before = logs();
    expect(before.length).toBeGreaterThan(2);

    const reportsBefore = reportsOn(master);
    const dry = await ctl("purge-binlogs", "--stack", STACK, "--dry-run");
    expect(dry.code, show(dry)).toBe(0);
    expect(dry.stdout).toMatch(/dry run: would run PURGE BINARY LOGS TO 'mysql-bin\.\d+'/);
    expect(logs()).toEqual(before);
    expect(reportsOn(master), "a dry run writes no report").toBe(reportsBefore);

    // A stopped mirror: refused, nothing purged.
    sql(mirror, "STOP SLAVE");
    try {
      const refused = await ctl("purge-binlogs", "--stack", STACK);
      expect(refused.code, show(refused)).toBe(1);
      expect(refused.stdout).toMatch(/REFUSED: nothing purged\n {2}replication on mirror .* is stopped/);
      expect(logs()).toEqual(before);
      // The cron job reads the position that purge-binlogs just recorded: stopped, so it refuses too.
      const cron = onHost(master, "/usr/local/sbin/mirrorstack-binlog-purge; echo rc=$?; tail -n 1 /var/log/mirrorstack/binlog-purge.log");
      expect(cron.stdout).toMatch(/rc=1/);
      expect(cron.stdout).toMatch(/REFUSED, nothing purged: mirror .*: replication was stopped at its last report/);
    } finally {
      sql(mirror, "START SLAVE");
    }
    const running = () => sql(mirror, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_RUNNING'");
    for (let i = 0; i < 30 && running() !== "ON"; i++) spawnSync("sleep", ["0.3"]);

    const purged = await ctl("purge-binlogs", "--stack", STACK);
    expect(purged.code, show(purged)).toBe(0);
    expect(purged.stdout).toMatch(/purged: PURGE BINARY LOGS TO 'mysql-bin\.\d+' done/);
    const after = logs();
    expect(after.length).toBeLessThan(before.length);
    expect(after[after.length - 1]).toBe(before[before.length - 1]);

    // purge-binlogs recorded the positions it read (one report per mirror).
    expect(reportsOn(master)).toMatch(new RegExp(`^${REPORTS}/${mirror} \\d+ `, "m"));

    // Cron job without reports: refuses, naming the command that records them. `status` writes none (the job still
    // refuses); `purge-binlogs --record-only` records them and purges nothing; then the job runs (nothing is past
    // the retention).
    onHost(master, `rm -rf ${REPORTS}`);
    const none = onHost(master, "/usr/local/sbin/mirrorstack-binlog-purge; echo rc=$?; tail -n 1 /var/log/mirrorstack/binlog-purge.log");
    expect(none.stdout).toMatch(/rc=1/);
    expect(none.stdout).toMatch(/no position report for mirror .*; record one with: mirrorctl purge-binlogs --record-only --stack /);
    const st = await ctl("status", "--stack", STACK);
    expect(st.code, show(st)).toBe(0);
    expect(st.stdout).toContain(`${mirror} none`);
    expect(reportsOn(master)).toBe("");
    const still = onHost(master, "/usr/local/sbin/mirrorstack-binlog-purge; echo rc=$?");
    expect(still.stdout).toMatch(/rc=1/);
    const logsBeforeRecord = logs();
    const rec = await ctl("purge-binlogs", "--stack", STACK, "--record-only");
    expect(rec.code, show(rec)).toBe(0);
    expect(rec.stdout).toMatch(new RegExp(`^recorded on ${master} for the binlog purge job: ${mirror} mysql-bin\\.\\d+:\\d+$`, "m"));
    expect(rec.stdout).toMatch(/nothing purged \(--record-only\)/);
    expect(logs()).toEqual(logsBeforeRecord);
    expect(onHost(master, `cat ${REPORTS}/${mirror}`).stdout).toMatch(/^reported=\d+\nmirror=\S+\nio_running=Yes\nsql_running=Yes\nexec_file=mysql-bin\.\d+\n/);
    expect((await ctl("status", "--stack", STACK)).stdout).toMatch(new RegExp(`${mirror} \\d+s ago`));
    const ok = onHost(master, "/usr/local/sbin/mirrorstack-binlog-purge; echo rc=$?; tail -n 2 /var/log/mirrorstack/binlog-purge.log");
    expect(ok.stdout, ok.stdout).toMatch(/rc=0/);
    expect(ok.stdout).toMatch(/binary log rotated|nothing to purge|purged/);
    expect((await ctl("status", "--stack", STACK)).code).toBe(0);
  });

  it("drift: reports a hand-edited managed file; `up --refresh` restores it", async () => {
    const clean = await ctl("drift", "--stack", STACK);
    expect(clean.code, show(clean)).toBe(0);
    expect(clean.stdout).toMatch(/no drift/);
    const cron = "/etc/cron.d/mirrorstack-health";
    onHost(mirror, `echo '# edited by hand' >> ${cron}`);
    const r = await ctl("drift", "--stack", STACK);
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`${mirror} +${cron} +content differs`));
    expect(r.stdout).toMatch(/1 file\(s\) drifted; to put the managed content back: npm run pulumi -- up --refresh --stack/);
    const up = await pulumi(["up", "--refresh", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    expect(onHost(mirror, `grep -c 'edited by hand' ${cron} || true`).stdout.trim()).toBe("0");
    expect((await ctl("drift", "--stack", STACK)).code).toBe(0);
  });

  it("repair checks the mirror's replicated tables; reseed copies the master again and replication runs", async () => {
    const rep = await ctl("repair", "--stack", STACK, "--host", mirror);
    expect(rep.code, show(rep)).toBe(0);
    expect(rep.stdout).toMatch(/ran mariadb-check --check --auto-repair --skip-write-binlog --databases wiki/);
    expect(rep.stdout).toMatch(/wiki\.pages +OK/);

    sql(mirror, "UPDATE wiki.pages SET title = 'diverged' WHERE id = 7");
    expect((await ctl("verify", "--stack", STACK)).code).toBe(1);
    const rs = await ctl("reseed", "--stack", STACK, "--host", mirror, "--yes");
    expect(rs.code, show(rs)).toBe(0);
    expect(rs.stdout).toMatch(/re-seeded with a logical copy/);
    expect(rs.stdout).toMatch(/mirrors\[\d\]\.reseed/);
    expect((await ctl("verify", "--stack", STACK)).code).toBe(0);
    expect((await ctl("status", "--stack", STACK)).code).toBe(0);
  });
});
