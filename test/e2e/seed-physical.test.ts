// End-to-end (root + lab): mirrors seeded with a physical copy (database.seedMethod: physical, mariadb-backup
// streamed from the master straight to each mirror), the second while a writer keeps changing the master. They
// replicate, hold the same rows, keep nothing of the copy's scaffolding, and start on the copied system tables
// without running mariadb-upgrade on them (the master's mysql_upgrade_info came along).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectViaSsh, type DbSession } from "../../infra/replication/connect";
import { dialect } from "../../infra/replication/dialect";
import { normalizeReplicaStatus } from "../../infra/replication/status";
import { seedScripts } from "../../infra/render/scripts";
import { sshRun } from "../../infra/ssh/exec";
import { freshStack, inventory, isRoot, labTarget, mirrorctl as ctl, onHost, pulumi, showRun, skipReason, sql, useLab, writeTestStack } from "./lab";
import { ENGINE, startChurnWriter, verifyMirrors } from "./seeding";

const STACK = "e2e-seed-physical";
useLab("seedPhysical", { mirrors: 2, image: "prepared" });
const PHYSICAL = { database: { databases: ["wiki"], seedMethod: "physical" } };
const MIRRORS = ["mirror1", "mirror2"];
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

describe.skipIf(!isRoot)("physical seeding (lab)", { shuffle: false }, () => {
  let master: DbSession;
  let seed: { method: string; bytes: number; controllerBytes: number; phases: Record<string, number> };
  const DROPIN_DIR = "/etc/systemd/system/mariadb.service.d";
  const DROPIN = `${DROPIN_DIR}/e2e-copy.conf`;
  /** Marks mirror2's current (old) datadir and gives mariadb.service an ExecStartPre that tells it from the copy. */
  const onlyOldDatadir = (execStartPre: string) =>
    onHost("mirror2", `touch /var/lib/mysql/old-marker && mkdir -p ${DROPIN_DIR} && printf '[Service]\\nExecStartPre=%s\\n' '${execStartPre}' > ${DROPIN} && systemctl daemon-reload`);
  const dropInGone = () => onHost("mirror2", `rm -f ${DROPIN} /var/lib/mysql/old-marker && systemctl daemon-reload`);
  /** Polls `ok` every 100 ms, at most `tries` times; its last answer. */
  const until = async (ok: () => boolean, tries: number): Promise<boolean> => {
    for (let i = 0; i < tries; i++) {
      if (ok()) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return ok();
  };

  beforeAll(async () => {
    sql(
      "master",
      "DROP DATABASE IF EXISTS wiki; CREATE DATABASE wiki CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; USE wiki;" +
        "CREATE TABLE wiki.pages (id INT PRIMARY KEY, k INT NOT NULL, title VARCHAR(100), body TEXT) ENGINE=InnoDB;" +
        "INSERT INTO wiki.pages SELECT seq, seq * 3, CONCAT('page ', seq), REPEAT('x', 200) FROM seq_1_to_5000;" +
        // mariadb-backup copies non-InnoDB tables under a lock of its own: one of those too.
        "CREATE TABLE wiki.archive (id INT PRIMARY KEY, note VARCHAR(50)) ENGINE=Aria;" +
        "INSERT INTO wiki.archive SELECT seq, CONCAT('é ', seq) FROM seq_1_to_300;",
    );
    // A database only the mirror has: a physical copy replaces the whole instance (the README says so).
    sql("mirror2", "CREATE DATABASE IF NOT EXISTS mirror_only");
    await freshStack(STACK);
    // First up with mirror1 alone, seeded physically with no writer; it also turns on the master's binary log (its
    // one restart) before the writer connects.
    const m1 = inventory().hosts.find((h) => h.name === "mirror1")!;
    writeTestStack(STACK, { ...PHYSICAL, mirrors: [{ name: m1.name, address: m1.address }] });
    const up0 = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up0.code, up0.out).toBe(0);
    master = await connectViaSsh(labTarget("master"));
  }, 600_000);

  afterAll(async () => {
    await master?.close();
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
  });

  it("seeds a second mirror with mariadb-backup while a writer runs; both replicate and hold the same rows", async () => {
    writeTestStack(STACK, PHYSICAL);
    const writer = startChurnWriter(master, 40_000);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    const w = await writer.finish();
    console.log(`[e2e] writer: ${w.ok} transactions in ${w.seconds}s, max latency ${w.maxMs} ms`);
    expect(up.code, up.out).toBe(0);
    expect(w.errors, "the writer never failed").toEqual([]);
    expect(w.ok).toBeGreaterThan(50);

    const out = await pulumi(["stack", "output", "replication", "--json", "--stack", STACK]);
    expect(out.code, out.out).toBe(0);
    seed = (JSON.parse(out.out) as { mirror: string; seed: typeof seed }[]).find((r) => r.mirror === "mirror2")!.seed;
    expect(seed.method).toBe("physical");
    // The mirror's own steps ran and said so: the stream, prepare, the server's stop and its start on the copy.
    for (const p of ["stream", "prepare", "stop", "start"]) expect(seed.phases[`mirror.${p}`], p).toBeGreaterThanOrEqual(0);
    expect(seed.controllerBytes).toBeLessThan(64 * 1024);

    const ids = new Set([sql("master", "SELECT @@server_id")]);
    for (const m of MIRRORS) {
      const s = await connectViaSsh(labTarget(m));
      try {
        const status = normalizeReplicaStatus(await s.query(dialect(ENGINE).showReplicaStatus()), m);
        expect(status.ioRunning && status.sqlRunning, `${m}: ${status.lastIoError ?? ""} ${status.lastSqlError ?? ""}`).toBe(true);
      } finally {
        await s.close();
      }
      expect(sql(m, "SELECT @@read_only"), m).toBe("1");
      ids.add(sql(m, "SELECT @@server_id"));
    }
    expect(ids.size, "each server keeps its own server id, not the copied one").toBe(3);
    expect(await verifyMirrors(MIRRORS, ["pages", "archive"])).toEqual([]);
    expect(sql("mirror2", "SHOW DATABASES LIKE 'mirror_only'"), "the instance is the master's copy").toBe("");
  });

  it("leaves neither the previous datadir nor the copy's work files behind", () => {
    for (const h of ["master", ...MIRRORS]) {
      const left = onHost(h, "ls -d /var/lib/mysql.mirrorstack-* /var/lib/mysql/*.prepare.log 2>/dev/null; ls -A /run/mirrorstack-seed 2>/dev/null");
      expect(left.stdout.trim(), h).toBe("");
    }
  });

  it("the mirror's server started on the copied system tables without running mariadb-upgrade on them", () => {
    // Debian's debian-start runs mariadb-upgrade in the background after each start, when the datadir's
    // mysql_upgrade_info does not match the server: wait for it to finish first ([/] keeps pgrep off this shell).
    const info = (h: string) => onHost(h, "base64 -w0 /var/lib/mysql/mysql_upgrade_info").stdout;
    expect(info("master")).not.toBe("");
    for (const m of MIRRORS) {
      expect(onHost(m, "for i in $(seq 1 60); do pgrep -f [/]etc/mysql/debian-start >/dev/null || exit 0; sleep 0.5; done; exit 1").code, `${m}: debian-start finished`).toBe(0);
      expect(info(m), `${m}: the master's record came with the copy`).toBe(info("master"));
      // mariadb-upgrade alters the system tables (hundreds of ALTER TABLE); a start that skipped it made none.
      expect(sql(m, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'COM_ALTER_TABLE'"), m).toBe("0");
    }
  });

  it("the receiving script refuses any command but the master's seed-info, and a copy with no room, before touching the datadir; it leaves no partial copy", () => {
    const { receive } = seedScripts({ kind: "physical", flavour: "mariadb", databases: ["wiki"] });
    onHost("mirror2", `cat > /root/receive-test <<'EOF_RECEIVE'\n${receive}\nEOF_RECEIVE`);
    const before = onHost("mirror2", "stat -c %i /var/lib/mysql; pidof mariadbd").stdout;
    for (const [cmd, says] of [
      ["rm -rf /", "unexpected command"],
      ["upgrade-info MTAuMTE=", "unexpected command"],
      ["seed-info bytes=1 upgrade=$(id)", "bad seed-info (upgrade)"],
      ["seed-info upgrade=", "bad seed-info (upgrade)"],
      [`seed-info upgrade=${"A".repeat(300)}`, "bad seed-info (upgrade)"],
      ["seed-info upgrade=QQ=x", "bad seed-info (upgrade)"],
      ["seed-info bytes=12x", "bad seed-info (bytes)"],
      ["seed-info bytes=1 * /etc", "bad seed-info (*)"],
      // Room for the copy: the master's data directory (here a petabyte) must fit beside the old one.
      ["seed-info bytes=999999999999999999", "seed-receive: the copy needs about"],
    ]) {
      const r = onHost("mirror2", `SSH_ORIGINAL_COMMAND='${cmd}' bash /root/receive-test </dev/null`);
      expect(r.code, cmd).toBe(says.startsWith("seed-receive:") ? 1 : 2);
      expect(r.stderr, cmd).toContain(says.startsWith("seed-receive:") ? says : `seed-receive: ${says}`);
    }
    // Refused before anything is touched: an old datadir kept aside by an earlier seed (not this one's to delete), and
    // InnoDB files configured outside the datadir (a physical copy puts them in it).
    const kept = onHost("mirror2", "mkdir /var/lib/mysql.mirrorstack-prev && SSH_ORIGINAL_COMMAND= bash /root/receive-test </dev/null; echo \"rc=$?\"; ls -d /var/lib/mysql.mirrorstack-prev && rmdir /var/lib/mysql.mirrorstack-prev");
    expect(kept.stdout).toMatch(/^rc=1\n\/var\/lib\/mysql\.mirrorstack-prev$/m);
    expect(kept.stderr).toContain("seed-receive: /var/lib/mysql.mirrorstack-prev is there, left by a seed that was killed or could not put it back");
    const cnf = "/etc/mysql/mariadb.conf.d/99-e2e-redo-elsewhere.cnf";
    const elsewhere = onHost("mirror2", `printf '[mysqld]\\ninnodb_log_group_home_dir=/var/lib/redo\\n' > ${cnf}; SSH_ORIGINAL_COMMAND= bash /root/receive-test </dev/null; echo "rc=$?"; rm -f ${cnf}`);
    expect(elsewhere.stdout).toMatch(/^rc=1$/m);
    expect(elsewhere.stderr).toContain("seed-receive: innodb-log-group-home-dir is /var/lib/redo, outside the datadir /var/lib/mysql");
    // A stream that breaks off: the script fails and its partial copy does not stay behind to fill the disk.
    const cut = onHost("mirror2", "head -c 300000 /var/lib/mysql/ibdata1 | zstd -q | SSH_ORIGINAL_COMMAND= bash /root/receive-test");
    expect(cut.code).not.toBe(0);
    expect(onHost("mirror2", "stat -c %i /var/lib/mysql; pidof mariadbd").stdout, "the datadir and its server are untouched").toBe(before);
    // A server found stopped (as a seed killed outright between its stop and its start leaves it) is started again
    // when the seed fails.
    onHost("mirror2", "systemctl stop mariadb");
    const wasDown = onHost("mirror2", "head -c 300000 /var/lib/mysql/ibdata1 | zstd -q | SSH_ORIGINAL_COMMAND= bash /root/receive-test");
    expect(wasDown.code).not.toBe(0);
    expect(wasDown.stderr).toContain("seed-receive: the seed stopped before MariaDB ran on the copy; MariaDB runs on the previous datadir");
    expect(onHost("mirror2", "systemctl is-active mariadb").stdout.trim()).toBe("active");
    expect(onHost("mirror2", "ls -d /var/lib/mysql.mirrorstack-* 2>/dev/null").stdout).toBe("");
    onHost("mirror2", "rm -f /root/receive-test");
  });

  it("killed (SIGTERM) while MariaDB starts on the copy, the receiving script puts the old datadir back and starts it", async () => {
    // The copy's start hangs (a start condition waits for a file only the old datadir has); the old one's does not.
    onlyOldDatadir('/bin/sh -c "test -e /var/lib/mysql/old-marker || sleep 120"');
    const reseed = ctl("reseed", "--stack", STACK, "--host", "mirror2", "--yes");
    const starting = () => onHost("mirror2", "systemctl is-active mariadb; test -e /var/lib/mysql/old-marker && echo old").stdout.trim() === "activating";
    expect(await until(starting, 600), "MariaDB starting on the copy").toBe(true);
    // The forced command's shell, and only it: the oldest (its background start is a subshell of the same name;
    // [/] keeps pgrep off the shell that asks).
    const pid = onHost("mirror2", "pgrep -o -f '^/bin/bash [/]run/mirrorstack-seed/[0-9a-f]+/receive$'").stdout.trim();
    expect(pid).toMatch(/^\d+$/);
    onHost("mirror2", `kill -TERM ${pid}`);
    const r = await reseed;
    expect(r.code, showRun(r)).not.toBe(0);
    const active = () => onHost("mirror2", "systemctl is-active mariadb").stdout.trim() === "active";
    expect(await until(active, 300), "the old datadir's server runs again").toBe(true);
    expect(onHost("mirror2", "test -e /var/lib/mysql/old-marker").code, "the old datadir is back").toBe(0);
    expect(sql("mirror2", "SELECT COUNT(*) FROM wiki.archive"), "its data with it").toBe("300");
    expect(onHost("mirror2", "ls -d /var/lib/mysql.mirrorstack-* /var/lib/mysql/.mirrorstack-* 2>/dev/null").stdout.trim()).toBe("");
    dropInGone();
  });

  it("a datadir that is a volume of its own (a mount point) is re-seeded in place; a copy that does not start puts the old one back", async () => {
    // The datadir as its own mount, which cannot be renamed (EBUSY): the copy is staged inside it.
    onHost("mirror2", "mount --bind /var/lib/mysql /var/lib/mysql");
    expect(onHost("mirror2", "mountpoint -q /var/lib/mysql").code).toBe(0);
    // A start that fails on the copy only: MariaDB refuses to start without a file that only the old datadir has.
    onlyOldDatadir("/usr/bin/test -e /var/lib/mysql/old-marker");
    const refused = await ctl("reseed", "--stack", STACK, "--host", "mirror2", "--yes");
    expect(refused.code, showRun(refused)).not.toBe(0);
    expect(showRun(refused)).toMatch(/MariaDB did not start on the copied datadir; the previous one is back/);
    expect(onHost("mirror2", "systemctl is-active mariadb").stdout.trim(), "the old datadir's server runs again").toBe("active");
    expect(onHost("mirror2", "test -e /var/lib/mysql/old-marker && mountpoint -q /var/lib/mysql").code, "the old datadir is back, still the mount").toBe(0);
    expect(sql("mirror2", "SELECT COUNT(*) FROM wiki.archive"), "its data with it").toBe("300");
    expect(onHost("mirror2", "ls -A /var/lib/mysql | grep mirrorstack; ls -d /var/lib/mysql.mirrorstack-* 2>/dev/null").stdout.trim()).toBe("");

    onHost("mirror2", `rm ${DROPIN} && systemctl daemon-reload`); // the marker stays: the re-seed must replace it
    const rs = await ctl("reseed", "--stack", STACK, "--host", "mirror2", "--yes");
    expect(rs.code, showRun(rs)).toBe(0);
    expect(rs.stdout).toMatch(/re-seeded with a physical copy/);
    expect(onHost("mirror2", "mountpoint -q /var/lib/mysql && test ! -e /var/lib/mysql/old-marker").code, "the copy is in the mount").toBe(0);
    expect(onHost("mirror2", "ls -A /var/lib/mysql | grep mirrorstack; ls -d /var/lib/mysql.mirrorstack-* 2>/dev/null").stdout.trim()).toBe("");
    expect(await verifyMirrors(["mirror2"], ["pages", "archive"])).toEqual([]);
    onHost("mirror2", "umount /var/lib/mysql");
  });

  it("a copy that outlasts SSH's ControlPersist: the mirror's connection from this machine is held through it, no new login after", async () => {
    // The copy's start waits 17 s, longer than infra/ssh/exec.ts keeps an idle shared connection (ControlPersist=15).
    onlyOldDatadir('/bin/sh -c "test -e /var/lib/mysql/old-marker || sleep 17"');
    const masterAddress = inventory().hosts.find((h) => h.name === "master")!.address;
    // Logins on mirror2 from anywhere but the master (whose one-seed key logs in for the copy itself).
    const logins = () => Number(onHost("mirror2", `grep 'Accepted publickey' /var/log/sshd.log | grep -vc ' from ${masterAddress} port ' || true`).stdout.trim());
    expect((await sshRun(labTarget("mirror2"), "true")).code).toBe(0); // the shared connection exists before the reseed
    const before = logins();
    const t0 = Date.now();
    const rs = await ctl("reseed", "--stack", STACK, "--host", "mirror2", "--yes");
    expect(rs.code, showRun(rs)).toBe(0);
    expect(Date.now() - t0, "the copy's start waited").toBeGreaterThan(17_000);
    expect(logins() - before, "logins on mirror2 from this machine during the reseed").toBe(0);
    dropInGone();
    expect(await verifyMirrors(["mirror2"], ["pages", "archive"])).toEqual([]);
  });
});
