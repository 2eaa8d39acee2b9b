// End-to-end (root + lab): encrypted backups on the backup host (a mirror): `mirrorctl backup-now` runs the
// rendered job, backups rotate past the retention, are unreadable without the passphrase (and never hold it),
// and `mirrorctl restore` brings one back into a scratch database with checksums identical to the source.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inventory, freshStack, isRoot, onHost, pulumi, skipReason, sql, writeTestStack, useLab, mirrorctl as ctl, showRun as show } from "./lab";

const STACK = "e2e-backup";
useLab("backup", { mirrors: 1, image: "prepared" });
const DEST = "/var/backups/mirrorstack";
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

describe.skipIf(!isRoot)("encrypted backups (lab)", { shuffle: false }, () => {
  let master = "master";
  let backupHost = "mirror1";
  const list = () =>
    onHost(backupHost, `ls -1 ${DEST} 2>/dev/null | grep -E '^mirrorstack-[0-9]{8}T[0-9]{6}Z$' | sort`).stdout.trim().split("\n").filter(Boolean);

  beforeAll(async () => {
    const inv = inventory();
    master = inv.hosts.find((h) => h.role === "master")!.name;
    backupHost = inv.hosts.find((h) => h.role === "mirror")!.name;
    sql(master, "CREATE DATABASE IF NOT EXISTS wiki");
    sql(master, "DROP TABLE IF EXISTS wiki.docs");
    sql(master, "CREATE TABLE wiki.docs (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) CHARACTER SET utf8mb4, data BLOB, at DATETIME, n DECIMAL(12,3) NULL)");
    sql(master, "INSERT INTO wiki.docs (name, data, at, n) SELECT CONCAT('doc ', seq, ' \u00e9'), UNHEX(MD5(seq)), '2024-01-01' + INTERVAL seq MINUTE, IF(seq % 3 = 0, NULL, seq / 7) FROM wiki.seq_1_to_1500");
    sql(master, "DROP TABLE IF EXISTS wiki.tags");
    sql(master, "CREATE TABLE wiki.tags (tag VARCHAR(20), doc INT)"); // no primary key: checksummed whole
    sql(master, "INSERT INTO wiki.tags VALUES ('a', 1), ('a', 1), ('b', NULL)");
    // A mirrored tree on the master; `mirrorctl sync-now` pulls it to the backup host, whose backup archives it.
    onHost(master, "mkdir -p /srv/backup-e2e/sub && echo hello > /srv/backup-e2e/index.html && echo x > /srv/backup-e2e/sub/a.txt && chmod -R a+rX /srv/backup-e2e");
    writeTestStack(STACK, { backups: { retention: 2, host: backupHost }, files: { trees: ["/srv/backup-e2e"] } });
    onHost(backupHost, `rm -rf ${DEST}`);
    await freshStack(STACK);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
  });

  afterAll(async () => {
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
    onHost(backupHost, `rm -rf ${DEST} /srv/backup-e2e`);
    onHost(master, "rm -rf /srv/backup-e2e");
  });

  it("sync-now pulls the mirrored tree onto the mirrors, with progress", async () => {
    const r = await ctl("sync-now", "--stack", STACK);
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`${backupHost}: pulling /srv/backup-e2e from ${master} \\.\\.\\.`));
    expect(r.stdout).toMatch(new RegExp(`=== ${backupHost}: synced`));
    expect(onHost(backupHost, "cat /srv/backup-e2e/sub/a.txt").stdout).toBe("x\n");
    const st = await ctl("status", "--stack", STACK);
    expect(st.code, show(st)).toBe(0);
    expect(st.stdout).toMatch(new RegExp(`${backupHost} +mirror +OK .* ok, \\d+s ago`));
  });

  it("the passphrase file is 0600 root and the backup script never puts the passphrase on a command line", async () => {
    expect(onHost(backupHost, "stat -c '%a %U %G' /etc/mirrorstack/backup-passphrase").stdout.trim()).toBe("600 root root");
    const script = onHost(backupHost, "cat /usr/local/sbin/mirrorstack-backup").stdout;
    expect(script).toMatch(/--passphrase-fd 3/);
    expect(script).not.toMatch(/--passphrase[ =]['"$a-z]/);
  });

  it("backup-now writes an encrypted backup; the retention keeps the newest 2", async () => {
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await ctl("backup-now", "--stack", STACK);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(/backup done in/);
      expect(r.stdout).toMatch(/replication SQL thread paused for the dumps/);
      const name = /backup written: \S+\/(mirrorstack-\d{8}T\d{6}Z)/.exec(r.stdout)?.[1];
      expect(name, r.stdout).toBeDefined();
      names.push(name!);
    }
    expect(new Set(names).size).toBe(3);
    expect(list()).toEqual(names.slice(1));
    const j = JSON.parse((await ctl("backup-now", "--stack", STACK, "--json")).stdout);
    expect(j.ok).toBe(true);
    expect(j.backups).toHaveLength(2);
    expect(j.backups[0].manifest).toMatchObject({ databases: "wiki", trees: "srv/backup-e2e", role: "mirror" });
    expect(j.backups[0].manifest.position).toMatch(/^mysql-bin\.\d+:\d+$/);
    expect(list()).not.toContain(names[1]);
    // No partial directory is left, replication runs again after the pause.
    expect(onHost(backupHost, `ls -a ${DEST} | grep -c partial || true`).stdout.trim()).toBe("0");
    expect((await ctl("status", "--stack", STACK)).code).toBe(0);
  });

  it("is unreadable without the passphrase and holds no plain text", async () => {
    const b = list().pop()!;
    const r = onHost(
      backupHost,
      `f=${DEST}/${b}/db-wiki.sql.gz.gpg; g=$(mktemp -d)
gpg --homedir "$g" --batch --decrypt "$f" >/dev/null 2>&1; echo none=$?
gpg --homedir "$g" --batch --pinentry-mode loopback --passphrase not-the-passphrase --decrypt "$f" >/dev/null 2>&1; echo wrong=$?
gzip -t "$f" 2>/dev/null; echo gzip=$?
grep -c -a -e 'CREATE TABLE' -e 'doc 1' "$f" ${DEST}/${b}/files.tar.gz.gpg || true
grep -c -a -F "$(sed -n '$p' /etc/mirrorstack/backup-passphrase)" "$f" ${DEST}/${b}/* || true
gpg --homedir "$g" --batch --pinentry-mode loopback --passphrase-fd 3 --decrypt ${DEST}/${b}/files.tar.gz.gpg 3< <(sed -n '$p' /etc/mirrorstack/backup-passphrase) 2>/dev/null | tar -tzf -
gpgconf --homedir "$g" --kill all; rm -rf "$g"`,
    );
    expect(r.stdout).toMatch(/none=2/);
    expect(r.stdout).toMatch(/wrong=2/);
    expect(r.stdout).toMatch(/gzip=1/);
    expect(r.stdout).not.toMatch(/:[1-9]/); // no file holds the SQL text or the passphrase
    expect(r.stdout).toMatch(/srv\/backup-e2e\/sub\/a\.txt/); // with the passphrase the tree archive opens
  });

  it("restore: into a scratch database with identical checksums, dropped afterwards (kept with --keep)", async () => {
    const r = await ctl("restore", "--stack", STACK, "--host", backupHost, "--to", "wiki_restore_check");
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/restored wiki from mirrorstack-\d{8}T\d{6}Z/);
    expect(r.stdout).toMatch(/compared \d+ table\(s\), \d+ chunk\(s\) with wiki on .*: identical checksums/);
    expect(r.stdout).toMatch(/dropped the scratch database wiki_restore_check/);
    expect(sql(backupHost, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'wiki_restore_check'")).toBe("0");

    const k = await ctl("restore", "--stack", STACK, "--host", backupHost, "--to", "wiki_restore_kept", "--keep", "--json");
    expect(k.code, show(k)).toBe(0);
    const j = JSON.parse(k.stdout);
    expect(j).toMatchObject({ equal: true, dropped: false, database: "wiki", scratch: "wiki_restore_kept" });
    expect(j.tables.map((t: { table: string }) => t.table).sort()).toEqual(expect.arrayContaining(["docs", "tags"]));
    expect(sql(backupHost, "SELECT COUNT(*) FROM wiki_restore_kept.docs")).toBe("1500");
    // Restoring over an existing database is refused and changes nothing.
    const again = await ctl("restore", "--stack", STACK, "--host", backupHost, "--to", "wiki_restore_kept");
    expect(again.code, show(again)).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
    expect(sql(backupHost, "SELECT COUNT(*) FROM wiki_restore_kept.docs")).toBe("1500");
    sql(backupHost, "DROP DATABASE wiki_restore_kept");
    // The restore wrote nothing to the replication stream: the master never saw the scratch databases.
    expect(sql(master, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'wiki_restore%'")).toBe("0");
  });

  it("backup-now refuses a host that is not the backup host, changing nothing", async () => {
    const r = await ctl("backup-now", "--stack", STACK, "--host", master);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/taken on .* \(backups.host\), not on /);
    expect(list()).toHaveLength(2);
  });

  it("local retention: directories named in the far future neither count nor make the new backup be deleted", async () => {
    // Two of them: sorted by name (before), they would take both places of the retention of 2.
    const planted = ["mirrorstack-99991231T235958Z", "mirrorstack-99991231T235959Z"];
    const before = list();
    onHost(backupHost, planted.map((p) => `mkdir -p ${DEST}/${p}`).join("; "));
    try {
      const r = await ctl("backup-now", "--stack", STACK);
      expect(r.code, show(r)).toBe(0);
      const name = /backup written: \S+\/(mirrorstack-\d{8}T\d{6}Z)/.exec(r.stdout)?.[1];
      expect(name, r.stdout).toBeDefined();
      expect(r.stdout).toContain(`removed old backup ${before[0]}`);
      expect(r.stdout).not.toContain(`removed old backup ${name}`);
      expect(list()).toEqual([before[1]!, name!, ...planted]);
    } finally {
      onHost(backupHost, `rm -rf ${planted.map((p) => `${DEST}/${p}`).join(" ")}`);
    }
  });
});
