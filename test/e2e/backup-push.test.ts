// End-to-end (root + lab): backups.push with the real engine. The stack is the master and mirror1 (which takes
// the backups); mirror2, outside the stack, plays the separate backup host "vault". `up` makes vault's locked
// receiving account with a root-owned key file restricted to mirror1's push key and address; every
// `mirrorctl backup-now` then lands a verified copy on vault, which keeps its own retention; the key can do
// nothing else, from nowhere else; a failed push says so and keeps the local backup; destroy removes the account
// and keeps the backups.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshStack, inventory, isRoot, onHost, pulumi, skipReason, sql, writeTestStack, useLab, mirrorctl as ctl, showRun as show } from "./lab";

const STACK = "e2e-backup-push";
useLab("backupPush", { mirrors: 2, image: "prepared" });
const LOCAL = "/var/backups/mirrorstack";
const PUSHED = "/var/backups/mirrorstack-pushed";
const USER = "mirrorbackup";
const KEY = "/root/.ssh/mirrorstack_backup_push";
const QUOTA_MIB = 64;
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

function must(host: string, script: string): string {
  const r = onHost(host, script);
  if (r.code !== 0) throw new Error(`[${host}] exit ${r.code}: ${script}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe.skipIf(!isRoot)("backups pushed to a separate backup host (lab)", { shuffle: false }, () => {
  let master = "master";
  let taker = "mirror1";
  let vault = "mirror2";
  let takerAddress = "";
  let vaultAddress = "";
  let upOut = "";
  const backupsOn = (host: string, dir: string) =>
    onHost(host, `ls -1 ${dir} 2>/dev/null | grep -E '^mirrorstack-[0-9]{8}T[0-9]{6}Z$' | sort`).stdout.trim().split("\n").filter(Boolean);
  /** ssh from the taker with its push key, as the backup script does. */
  const withPushKey = (from: string, command: string) =>
    onHost(
      from,
      `ssh -i ${KEY} -o UserKnownHostsFile=/etc/mirrorstack/backup_known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes ${USER}@${vaultAddress} ${command} </dev/null`,
    );

  beforeAll(async () => {
    const inv = inventory();
    master = inv.hosts.find((h) => h.role === "master")!.name;
    const m1 = inv.hosts.find((h) => h.name === "mirror1")!;
    const m2 = inv.hosts.find((h) => h.name === "mirror2")!;
    [taker, takerAddress, vault, vaultAddress] = [m1.name, m1.address, m2.name, m2.address];
    sql(master, "CREATE DATABASE IF NOT EXISTS wiki");
    sql(master, "CREATE TABLE IF NOT EXISTS wiki.pushed (id INT PRIMARY KEY, v VARCHAR(20))");
    sql(master, "REPLACE INTO wiki.pushed VALUES (1, 'one'), (2, 'two')");
    writeTestStack(STACK, {
      mirrors: [{ name: taker, address: takerAddress }],
      files: { trees: [] },
      backups: { host: taker, retention: 3, push: { name: "vault", address: vaultAddress, retention: 2, quotaMiB: QUOTA_MIB } },
    });
    onHost(taker, `rm -rf ${LOCAL}`);
    onHost(vault, `rm -rf ${PUSHED}`);
    await freshStack(STACK);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    upOut = up.out;
    expect(up.code, up.out).toBe(0);
  });

  afterAll(async () => {
    onHost(vault, `[ -e /root/ak.e2e ] && mv /root/ak.e2e /etc/ssh/authorized_keys/${USER}; true`);
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
    onHost(taker, `rm -rf ${LOCAL}`);
    onHost(vault, `rm -rf ${PUSHED}`);
  });

  it("up makes vault's locked receiving account, its root-owned key file for the taker only, and proves the key gets through", () => {
    const [, , , , , home, shell] = must(vault, `getent passwd ${USER}`).trim().split(":");
    expect(shell).toBe("/bin/sh");
    expect(must(vault, `getent shadow ${USER} | cut -d: -f2`).trim()).toBe("*");
    expect(must(vault, `stat -c '%U %a' ${home}`).trim()).toBe("root 755");
    expect(must(vault, `stat -c '%U:%G %a' /etc/ssh/authorized_keys/${USER}`).trim()).toBe("root:root 644");
    expect(must(vault, `stat -c '%U %a' ${PUSHED}`).trim()).toBe(`${USER} 700`);
    const keys = must(vault, `grep -v '^#' /etc/ssh/authorized_keys/${USER}`).trim().split("\n");
    expect(keys).toHaveLength(1);
    const pub = must(taker, `cat ${KEY}.pub`).trim();
    expect(keys[0]).toBe(`restrict,from="${takerAddress}",command="/usr/local/lib/mirrorstack/backup-receive" ${pub}`);
    expect(pub).toMatch(new RegExp(`^ssh-ed25519 \\S+ mirrorstack-backup@${taker}$`));
    // The taker pins vault's host key; the check step listed vault's backups through the real key.
    expect(must(taker, "cat /etc/mirrorstack/backup_known_hosts")).toMatch(new RegExp(`^${vaultAddress.replace(/\./g, "\\.")} ssh-ed25519 `, "m"));
    expect(upOut).toMatch(new RegExp(`${taker}-backup-push-check created`));
  });

  it("every backup-now lands a verified copy on vault, which keeps its own retention", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await ctl("backup-now", "--stack", STACK);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(/pushed to vault: .*stored mirrorstack-\d{8}T\d{6}Z/);
    }
    const local = backupsOn(taker, LOCAL);
    const pushed = backupsOn(vault, PUSHED);
    expect(local).toHaveLength(3);
    expect(pushed).toEqual(local.slice(1));
    for (const b of pushed) {
      const sums = (host: string, dir: string) => must(host, `cd ${dir}/${b} && sha256sum * | sort`);
      expect(sums(vault, PUSHED)).toBe(sums(taker, LOCAL));
      expect(must(vault, `stat -c '%U %a' ${PUSHED}/${b}`).trim()).toBe(`${USER} 700`);
    }
    // What vault holds is ciphertext: no dump text in it.
    expect(onHost(vault, `zcat -f ${PUSHED}/${pushed[0]}/db-wiki.sql.gz.gpg 2>/dev/null | grep -c 'CREATE TABLE'`).stdout.trim()).toBe("0");
    expect((await ctl("status", "--stack", STACK)).code).toBe(0);
  });

  it("the push key can do nothing else on vault, and nothing from another address", () => {
    const before = must(vault, `find ${PUSHED} /tmp /var/lib/${USER} -printf '%p %s\\n' | sort`);
    for (const cmd of ["'cat /etc/passwd'", "'sh -i'", "'scp -t /tmp'", "'rsync --server . /tmp'", `'put ${backupsOn(vault, PUSHED)[0]} MANIFEST'`, "'list; id'"]) {
      const r = withPushKey(taker, cmd);
      expect(r.code, cmd).not.toBe(0);
      expect(r.stderr, cmd).toContain("mirrorstack-backup-receive: refused:");
    }
    // No command at all (a login shell) is refused the same way.
    const login = withPushKey(taker, "");
    expect(login.code).not.toBe(0);
    expect(login.stderr).toContain("refused");
    // The same key from the master's address: sshd does not accept it at all.
    must(master, "install -d -m 0700 /root/.ssh");
    onHost(master, `cat > /root/e2e-stolen-key <<'EOF'\n${must(taker, `cat ${KEY}`)}EOF\nchmod 600 /root/e2e-stolen-key`);
    const stolen = onHost(master, `ssh -i /root/e2e-stolen-key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes ${USER}@${vaultAddress} list </dev/null; rc=$?; rm -f /root/e2e-stolen-key; exit $rc`);
    expect(stolen.code).toBe(255);
    expect(stolen.stderr).toMatch(/Permission denied/);
    expect(must(vault, `find ${PUSHED} /tmp /var/lib/${USER} -printf '%p %s\\n' | sort`)).toBe(before);
  });

  it("a push that fails says so, exits non-zero and keeps the local backup", async () => {
    const localBefore = backupsOn(taker, LOCAL).length;
    const pushedBefore = backupsOn(vault, PUSHED);
    must(vault, `mv /etc/ssh/authorized_keys/${USER} /root/ak.e2e`);
    try {
      const r = await ctl("backup-now", "--stack", STACK);
      expect(r.code, show(r)).not.toBe(0);
      expect(r.stdout).toMatch(/push to vault FAILED: put .*; the backup stays in \/var\/backups\/mirrorstack\/mirrorstack-/);
    } finally {
      must(vault, `mv /root/ak.e2e /etc/ssh/authorized_keys/${USER}`);
    }
    expect(backupsOn(taker, LOCAL)).toHaveLength(Math.min(localBefore + 1, 3));
    expect(backupsOn(vault, PUSHED)).toEqual(pushedBefore);
  });

  it("vault refuses a name in the far future and a push over its quota, logs both and every stored file, and keeps its backups", async () => {
    // No syslog inside a lab host: a datagram sink on /dev/log stands in (started here, stopped by PID below).
    const sink = "/root/e2e-receive-syslog";
    const pid = must(vault, `rm -f /dev/log ${sink}; setsid socat -u UNIX-RECV:/dev/log,mode=666 OPEN:${sink},creat,append </dev/null >/dev/null 2>&1 & echo $!`).trim();
    try {
      must(vault, "for i in $(seq 50); do [ -S /dev/log ] && exit 0; sleep 0.1; done; exit 1");
      const before = backupsOn(vault, PUSHED);
      const future = withPushKey(taker, "'commit mirrorstack-99991231T235959Z'");
      expect(future.code).not.toBe(0);
      expect(future.stderr).toContain("refused: mirrorstack-99991231T235959Z is not a real UTC time at most a day ahead");

      // A sparse file as large as the quota fills the directory (du counts its apparent size).
      must(vault, `truncate -s ${QUOTA_MIB}M ${PUSHED}/.e2e-filler`);
      try {
        const r = await ctl("backup-now", "--stack", STACK);
        expect(r.code, show(r)).not.toBe(0);
        expect(r.stdout).toMatch(
          new RegExp(`push to vault FAILED: put .*refused: ${PUSHED} is full: \\d+ bytes of its quota of ${QUOTA_MIB * 1024 * 1024} \\(backups.push.quotaMiB = ${QUOTA_MIB}\\)`),
        );
      } finally {
        must(vault, `rm -f ${PUSHED}/.e2e-filler`);
      }
      expect(backupsOn(vault, PUSHED)).toEqual(before);
      expect(must(vault, `ls -A ${PUSHED}`)).not.toContain(".partial");

      // With room again the next backup lands; the oldest stored one goes, by retention only.
      const ok = await ctl("backup-now", "--stack", STACK);
      expect(ok.code, show(ok)).toBe(0);
      const stored = /stored (mirrorstack-\d{8}T\d{6}Z)/.exec(ok.stdout)?.[1];
      expect(stored).toBeDefined();
      expect(backupsOn(vault, PUSHED)).toEqual([before[before.length - 1]!, stored!]);

      const log = must(vault, `cat ${sink}`);
      expect(log).toContain(`refused (from ${takerAddress}): mirrorstack-99991231T235959Z is not a real UTC time`);
      expect(log).toMatch(new RegExp(`refused \\(from ${takerAddress.replace(/\./g, "\\.")}\\): ${PUSHED} is full`));
      expect(log).toContain(`received ${stored}/MANIFEST (`);
      expect(log).toContain(`stored ${stored} from ${takerAddress}`);
    } finally {
      onHost(vault, `kill ${pid} 2>/dev/null; rm -f /dev/log ${sink}`);
    }
  });

  it("destroy removes the account, its key file and the taker's key; the pushed backups stay", async () => {
    const d = await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    expect(d.code, d.out).toBe(0);
    expect(onHost(vault, `getent passwd ${USER}`).code).not.toBe(0);
    expect(onHost(vault, `test -e /etc/ssh/authorized_keys/${USER} || test -e /etc/ssh/sshd_config.d/61-mirrorstack-backup.conf`).code).not.toBe(0);
    expect(onHost(taker, `test -e ${KEY} || test -e /etc/mirrorstack/backup_known_hosts`).code).not.toBe(0);
    expect(backupsOn(vault, PUSHED)).toHaveLength(2);
    expect(must(vault, `stat -c '%U %a' ${PUSHED}`).trim()).toBe("root 700");
  });
});
