// End-to-end (root + lab): replication seeded from a master that already holds data and keeps taking
// writes, three mirrors at once, a mirror killed with SIGKILL under writes, and no password in the state.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectViaSsh, type DbSession } from "../../infra/replication/connect";
import { dialect } from "../../infra/replication/dialect";
import { normalizeReplicaStatus } from "../../infra/replication/status";
import { seedScripts } from "../../infra/render/scripts";
import { sshRun } from "../../infra/ssh/exec";
import { inventory, isRoot, labTarget, onHost, installMariadb, pulumi, freshStack, skipReason, sql, stackExportText, writeTestStack, useLab } from "./lab";
import { ENGINE, startChurnWriter, verifyMirrors } from "./seeding";

const STACK = "e2e-replication";
useLab("replication", { mirrors: 3, image: "bare" });
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

const target = labTarget;
const verifyAll = (mirrors: string[]) => verifyMirrors(mirrors, ["pages", "notes"]);

describe.skipIf(!isRoot)("replication (lab)", { shuffle: false }, () => {
  let master: DbSession;

  beforeAll(async () => {
    // The lab's hosts are freshly installed servers. The master plays an existing site's database server: its
    // admin installed MariaDB (through the lab's package cache, as any host gets packages) and it holds data
    // before mirrorstack arrives; the mirrors stay bare, so mirrorstack installs everything there.
    const install = await installMariadb("master");
    expect(install.code, install.stderr).toBe(0);
    for (const m of ["mirror1", "mirror2", "mirror3"]) expect(onHost(m, "command -v mariadbd").code, `${m} starts bare`).not.toBe(0);
    // Data on the master before any mirror exists: 20k rows, utf8mb4 with a non-default collation.
    sql(
      "master",
      "DROP DATABASE IF EXISTS wiki; CREATE DATABASE wiki CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; USE wiki;" +
        "CREATE TABLE wiki.pages (id INT PRIMARY KEY, k INT NOT NULL, title VARCHAR(100), body TEXT) ENGINE=InnoDB;" +
        "INSERT INTO wiki.pages SELECT seq, seq * 3, CONCAT('page ', seq), REPEAT('x', 200) FROM seq_1_to_20000;" +
        "CREATE TABLE wiki.notes (id INT PRIMARY KEY AUTO_INCREMENT, note VARCHAR(50)) ENGINE=InnoDB;" +
        "INSERT INTO wiki.notes (note) VALUES ('a'), ('é'), (NULL);",
    );
    writeTestStack(STACK);
    await freshStack(STACK);
    master = await connectViaSsh(target("master"));
  });

  afterAll(async () => {
    await master?.close();
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
  });

  it("seeds mirrors while a writer keeps changing the same rows; every mirror replicates and matches", async () => {
    // First up with one mirror: the master's binary log is turned on (its one restart) before the writer runs.
    const inv = inventory();
    const first = inv.hosts.find((h) => h.name === "mirror1")!;
    writeTestStack(STACK, { mirrors: [{ name: first.name, address: first.address }] });
    const up1 = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up1.code, up1.out).toBe(0);
    await master.close();
    master = await connectViaSsh(target("master"));
    // Then two more mirrors are added and seeded while the writer runs: the master is not restarted.
    writeTestStack(STACK);
    const writer = startChurnWriter(master, 60_000);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    const w = await writer.finish();
    console.log(`[e2e] writer: ${w.ok} transactions in ${w.seconds}s, max latency ${w.maxMs} ms`);
    expect(up.out).not.toMatch(/master-etc-mysql.*updat/);
    expect(up.code, up.out).toBe(0);
    expect(w.errors, "the writer never failed").toEqual([]);
    expect(w.ok).toBeGreaterThan(100);

    const mirrors = inventory().hosts.filter((h) => h.role === "mirror").map((h) => h.name);
    expect(mirrors).toHaveLength(3);
    const ids = new Set<string>();
    for (const m of mirrors) {
      const s = await connectViaSsh(target(m));
      try {
        const status = normalizeReplicaStatus(await s.query(dialect(ENGINE).showReplicaStatus()), m);
        expect(status.ioRunning && status.sqlRunning, `${m}: ${status.lastIoError ?? ""} ${status.lastSqlError ?? ""}`).toBe(true);
        ids.add(sql(m, "SELECT @@server_id"));
        expect(sql(m, "SELECT @@read_only")).toBe("1");
      } finally {
        await s.close();
      }
      expect(sql(m, "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='wiki'")).toBe("utf8mb4_unicode_ci");
    }
    expect(ids.size, "each mirror has its own server id").toBe(3);
    expect(await verifyAll(mirrors)).toEqual([]);
  });

  it("the two mirrors added in one up took one copy, streamed from the master to them, not through this machine", async () => {
    const out = await pulumi(["stack", "output", "replication", "--json", "--stack", STACK]);
    expect(out.code, out.out).toBe(0);
    const seeds = Object.fromEntries(
      (JSON.parse(out.out) as { mirror: string; seed: { sharedWith: string[]; bytes: number; controllerBytes: number; startFile: string; startPos: number } }[]).map((r) => [r.mirror, r.seed]),
    );
    // mirror1 came alone in the first up; mirror2 and mirror3 shared one dump: the same copy, the same start.
    expect(seeds.mirror1!.sharedWith).toEqual(["mirror1"]);
    for (const m of ["mirror2", "mirror3"]) expect([...seeds[m]!.sharedWith].sort(), m).toEqual(["mirror2", "mirror3"]);
    expect(seeds.mirror2!.startFile).toBe(seeds.mirror3!.startFile);
    expect(seeds.mirror2!.startPos).toBe(seeds.mirror3!.startPos);
    // The copy (20k rows) went host to host; this machine saw the scripts and their summaries only.
    console.log(`[e2e] shared copy: ${seeds.mirror2!.bytes} bytes master -> each mirror, ${seeds.mirror2!.controllerBytes} bytes through this machine`);
    expect(seeds.mirror2!.bytes).toBeGreaterThan(40_000);
    expect(seeds.mirror2!.controllerBytes).toBeGreaterThan(0);
    expect(seeds.mirror2!.controllerBytes).toBeLessThan(64 * 1024);
    // The one-seed key and its authorized_keys entries are gone from every host.
    for (const h of ["master", ...mirrors()]) {
      const left = onHost(h, "ls -A /run/mirrorstack-seed 2>/dev/null; grep -c mirrorstack-seed /root/.ssh/authorized_keys || true");
      expect(left.stdout.trim(), h).toBe("0");
    }
  });

  const mirrors = () => inventory().hosts.filter((h) => h.role === "mirror").map((h) => h.name);

  it("the one-seed key runs the receiving script only, only from the master, and not after its cleanup", async () => {
    const s = seedScripts({ kind: "raw", flavour: "mariadb", databases: [] });
    const token = "0123456789abcdef";
    const [m, r] = [target("master"), target("mirror2")];
    const key = `/run/mirrorstack-seed/${token}/key`;
    const k = await sshRun(m, s.key, `${token}\n`);
    expect(k.code, k.stderr).toBe(0);
    expect(k.stdout.trim()).toMatch(new RegExp(`^ssh-ed25519 \\S+ mirrorstack-seed-${token}$`));
    // An entry left by a seed killed midway (expired) is dropped when the next seed lets its key in.
    const stale = `restrict,from="${m.address}",expiry-time="202001010000",command="/bin/bash /run/mirrorstack-seed/00ff/receive" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAwWoxiIdDBPICL2CyNXthZ2DyYnyXb/28DLh4Ou/oNa mirrorstack-seed-00ff`;
    expect(onHost("mirror2", `printf '%s\\n' '${stale}' >> /root/.ssh/authorized_keys`).code).toBe(0);
    const before = onHost("mirror2", "grep -v mirrorstack-seed /root/.ssh/authorized_keys").stdout;
    const a = await sshRun(r, s.authorize, `${token} ${m.address}\n${k.stdout.trim()}\necho RECEIVED; cat >/dev/null\n`);
    expect(a.code, a.stderr).toBe(0);
    expect(onHost("mirror2", "grep -c mirrorstack-seed-00ff /root/.ssh/authorized_keys || true").stdout.trim()).toBe("0");
    expect(onHost("mirror2", "grep -v mirrorstack-seed /root/.ssh/authorized_keys").stdout, "the other keys stay as they were").toBe(before);
    const entry = onHost("mirror2", `grep -F mirrorstack-seed-${token} /root/.ssh/authorized_keys`).stdout;
    expect(entry).toMatch(new RegExp(`^restrict,from="${m.address.replace(/\./g, "\\.")}",expiry-time="\\d{12}",command="/bin/bash /run/mirrorstack-seed/${token}/receive" `));
    const ssh = (host: string, keyPath: string) =>
      onHost(host, `ssh -F none -T -i ${keyPath} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@${r.address} 'id; echo SHELL' </dev/null`);
    // From the master, any command runs the receiving script instead.
    const fromMaster = ssh("master", key);
    expect(fromMaster.code, fromMaster.stderr).toBe(0);
    expect(fromMaster.stdout.trim()).toBe("RECEIVED");
    // The same key from another host is refused (from=).
    const priv = onHost("master", `cat ${key}`).stdout;
    expect(onHost("mirror3", `umask 077; printf '%s' '${priv}' > /tmp/stolen-seed-key`).code).toBe(0);
    const stolen = ssh("mirror3", "/tmp/stolen-seed-key");
    expect(stolen.code).toBe(255);
    expect(stolen.stdout).not.toMatch(/RECEIVED|uid=/);
    onHost("mirror3", "rm -f /tmp/stolen-seed-key");
    // After the cleanup the master's own key is refused too, and nothing of the seed is left on either host.
    for (const t of [m, r]) expect((await sshRun(t, s.cleanup, `${token}\n`)).code).toBe(0);
    expect(onHost("master", `test -e ${key}`).code).not.toBe(0);
    expect(onHost("mirror2", `grep -c mirrorstack-seed /root/.ssh/authorized_keys || true; ls -A /run/mirrorstack-seed 2>/dev/null`).stdout.trim()).toBe("0");
  });

  it("the grants name each mirror's address, never %", async () => {
    const rows = sql("master", "SELECT host FROM mysql.user WHERE user='mirrorstack_repl' ORDER BY host").split("\n");
    const addrs = inventory().hosts.filter((h) => h.role === "mirror").map((h) => h.address).sort();
    expect(rows).toEqual(addrs);
    for (const a of addrs) {
      expect(sql("master", `SHOW GRANTS FOR 'mirrorstack_repl'@'${a}'`)).toMatch(/GRANT REPLICATION SLAVE ON \*\.\* TO `mirrorstack_repl`@`/);
    }
  });

  it("a mirror killed with SIGKILL under writes resumes replication with no difference", async () => {
    const writer = startChurnWriter(master, 15_000);
    await new Promise((r) => setTimeout(r, 2000));
    const kill = onHost("mirror2", "kill -9 $(cat /run/mysqld/mysqld.pid)");
    expect(kill.code, kill.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 2000));
    // mysqld_safe may already have restarted it; otherwise start it as an operator would.
    onHost("mirror2", "mariadb-admin ping >/dev/null 2>&1 || service mariadb start");
    const w = await writer.finish();
    expect(w.errors).toEqual([]);
    const st = onHost("mirror2", "mariadb -e 'SHOW SLAVE STATUS\\G' | grep -E 'Slave_(IO|SQL)_Running:'");
    expect(st.stdout).toMatch(/Slave_IO_Running: Yes/);
    expect(st.stdout).toMatch(/Slave_SQL_Running: Yes/);
    expect(await verifyAll(["mirror2"])).toEqual([]);
  });

  it("the stack export holds no replication password in plain text", async () => {
    const exp = await stackExportText(STACK);
    const pw = (await pulumi(["config", "get", "replicationPassword", "--stack", STACK])).out.trim();
    expect(pw.length).toBeGreaterThanOrEqual(16);
    expect(exp).not.toContain(pw);
    expect(exp).toContain("4dabf18193072939515e22adb298388d"); // Pulumi's secret signature: secrets are present, encrypted
  });
});
