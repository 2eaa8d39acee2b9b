// End-to-end (root + lab): replication over TLS with certificate identity (tls.enabled). The mirrors verify the
// master's certificate and their accounts REQUIRE their own client certificate; a wrong certificate (another CA,
// another mirror's subject) or none is refused; a capture on the lab bridge shows no row data in clear text
// (and, as a control, shows it for a plain client query); a mirror with a changing address has the account host
// '%' and keeps replicating from a new address, while a fixed mirror from a new address is refused;
// `mirrorctl status` warns before expiry; every host has one certificate for both roles, so `mirrorctl switchover`,
// a switchover back by stack-config change, and a failover with the old master's rejoin keep replication over TLS (the new master's accounts require each
// replica's certificate, the replicas verify it), sign nothing and restart no server, and a wrong certificate is
// still refused; `pulumi up` inside the renew window signs again without a re-seed or a restart; and a stack set
// up by the version before (only the master had a server certificate) upgrades without a re-seed, the master
// without a restart (each mirror restarts once), after which a switchover's preflight passes.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyPatch } from "diff";
import { inventory, isRoot, onHost, pulumi, freshStack, ROOT, skipReason, sql, stackExportText, writeTestStack, useLab, LAB_INSTANCES, mirrorctl as ctl, run, showRun } from "./lab";

const STACK = "e2e-tls";
useLab("tls", { mirrors: 2, image: "prepared" });
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

const CA = `/O=mirrorstack/OU=${STACK}/CN=mirrorstack replication CA`;
const subject = (host: string) => `/O=mirrorstack/OU=${STACK}/CN=${host}`;
const REPL = "mirrorstack_repl";
const CERT = "/etc/mirrorstack/tls/server.pem";
const KEY = "/etc/mirrorstack/tls/server.key";
const CA_FILE = "/etc/mirrorstack/tls/ca.pem";
/** The version before every host had a certificate for both roles (only the master's was a server certificate). */
const OLD_VERSION = "10e9591";


/** SHOW SLAVE STATUS of a host as one object (the \G form parsed). */
function slaveStatus(host: string): Record<string, string> {
  const r = onHost(host, "mariadb -e 'SHOW SLAVE STATUS\\G'");
  expect(r.code, r.stderr).toBe(0);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split("\n")) {
    const m = /^\s*(\w+):\s?(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

async function until<T>(what: string, fn: () => T | undefined, seconds = 60): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Waits until a row with this marker is on the mirror. */
async function arrives(mirror: string, marker: string): Promise<void> {
  await until(`${marker} on ${mirror}`, () => (sql(mirror, `SELECT COUNT(*) FROM wiki.notes WHERE note = '${marker}'`) === "1" ? true : undefined));
}

/** Waits until the mirror's IO thread stopped with an error; returns the error text. */
async function ioError(mirror: string): Promise<string> {
  return until(`an IO error on ${mirror}`, () => {
    const s = slaveStatus(mirror);
    return s.Last_IO_Error && s.Slave_IO_Running !== "Yes" ? `${s.Last_IO_Errno}: ${s.Last_IO_Error}` : undefined;
  });
}

/**
 * Starts tcpdump on the master's port of this lab's bridge (its veth on the machine: every frame to or from the
 * master crosses it; the bridge device itself sees only frames for the machine), writing to a file; resolves
 * once it listens.
 */
async function capture(file: string): Promise<ChildProcess> {
  const port = `mslv${LAB_INSTANCES.tls.id}-master`;
  // --immediate-mode: each packet reaches tcpdump at once (not when a ring block fills or times out), so none is
  // still in the kernel when the capture is stopped.
  const p = spawn("tcpdump", ["-i", port, "--immediate-mode", "-U", "-s", "0", "-w", file, "tcp port 3306"], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  await new Promise<void>((resolve, reject) => {
    p.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes("listening on")) resolve();
    });
    p.on("exit", (code) => reject(new Error(`tcpdump exited (${code}): ${err}`)));
  });
  return p;
}

async function stopCapture(p: ChildProcess): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000));
  const done = new Promise((r) => p.on("exit", r));
  p.kill("SIGINT"); // by its own pid: the one we started
  await done;
}

/** Serial and notAfter of a certificate file on a host. */
function certOn(host: string, file: string): { serial: string; notAfter: string; subject: string } {
  const r = onHost(host, `openssl x509 -in ${file} -noout -serial -enddate -subject -nameopt compat`);
  expect(r.code, r.stderr).toBe(0);
  const get = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(r.stdout)?.[1] ?? "";
  return { serial: get("serial"), notAfter: get("notAfter"), subject: get("subject") };
}

/** The database server's process id on a host (unchanged: not restarted). */
const serverPid = (host: string) => onHost(host, "systemctl show -p MainPID --value mariadb").stdout.trim();

/**
 * What `host` replicates from, checked to be over TLS with the stack's files, verifying the source's certificate,
 * both threads running.
 */
function replicatesOverTls(host: string, sourceAddr: string): void {
  const s = slaveStatus(host);
  expect([s.Master_Host, s.Slave_IO_Running, s.Slave_SQL_Running], `${host}: ${s.Last_IO_Error} ${s.Last_SQL_Error}`).toEqual([sourceAddr, "Yes", "Yes"]);
  expect([s.Master_SSL_Allowed, s.Master_SSL_Verify_Server_Cert, s.Master_SSL_CA_File, s.Master_SSL_Cert, s.Master_SSL_Key], host).toEqual(["Yes", "Yes", CA_FILE, CERT, KEY]);
}

/**
 * The certificate a server presents, as a client that checks it against the stack's CA and the server's address
 * sees it (openssl's own verification, the check MASTER_SSL_VERIFY_SERVER_CERT makes): its serial.
 */
function servedSerial(from: string, serverAddr: string): string {
  const r = onHost(from, `openssl s_client -starttls mysql -connect ${serverAddr}:3306 -CAfile ${CA_FILE} -verify_ip ${serverAddr} -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -serial`);
  expect(r.code, `${from} -> ${serverAddr}: ${r.stderr}`).toBe(0);
  return r.stdout.trim().replace(/^serial=/, "");
}

describe.skipIf(!isRoot)("replication over TLS (lab)", { shuffle: false }, () => {
  let master = "master";
  let masterAddr = "";
  const mirrors = ["mirror1", "mirror2"];
  const addr: Record<string, string> = {};
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-e2e-tls-"));
  const stackHosts = () => {
    const inv = inventory();
    return inv.hosts.filter((h) => h.role === "mirror").map((h) => ({ name: h.name, address: h.address, ...(h.name === "mirror2" ? { changingAddress: true } : {}) }));
  };

  beforeAll(async () => {
    const inv = inventory();
    for (const h of inv.hosts) addr[h.name] = h.address;
    master = inv.hosts.find((h) => h.role === "master")!.name;
    masterAddr = addr[master]!;
    sql(master, "CREATE DATABASE IF NOT EXISTS wiki");
    sql(master, "CREATE TABLE IF NOT EXISTS wiki.notes (id INT PRIMARY KEY AUTO_INCREMENT, note VARCHAR(100)) ENGINE=InnoDB");
    sql(master, "INSERT INTO wiki.notes (note) VALUES ('before')");
    // A running stack without TLS first (the first test turns it on).
    const plain = stackHosts().map(({ name, address }) => ({ name, address }));
    writeTestStack(STACK, { mirrors: plain, tls: { enabled: false } });
    await freshStack(STACK);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
  });

  afterAll(async () => {
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("turning TLS on for a running stack: accounts and mirrors changed in place (no re-seed); the changing-address mirror is seeded again", async () => {
    for (const m of mirrors) expect(slaveStatus(m).Master_SSL_Allowed, m).toBe("No");
    const seedOf = async () => {
      const o = await pulumi(["stack", "output", "replication", "--json", "--stack", STACK]);
      expect(o.code, o.out).toBe(0);
      return Object.fromEntries((JSON.parse(o.out) as { mirror: string; seed: unknown }[]).map((r) => [r.mirror, JSON.stringify(r.seed)]));
    };
    const before = await seedOf();
    // Certificates valid 3 days, renewed within 2: this up signs, a later plain up leaves them.
    writeTestStack(STACK, { mirrors: stackHosts(), tls: { enabled: true, validityDays: 3, renewBeforeDays: 2, warnDays: 1 } });
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    const after = await seedOf();
    expect(after.mirror1, "mirror1 kept its seed").toBe(before.mirror1);
    expect(after.mirror2, "mirror2 (account host now '%') was seeded again").not.toBe(before.mirror2);
  });

  it("the policy pack, run by the engine, accepts the changing-address mirror's '%' account (it requires the certificate)", async () => {
    const p = await pulumi(["preview", "--stack", STACK, "--policy-pack", path.join(ROOT, "policy/analyzer")]);
    expect(p.code, p.out).toBe(0);
    expect(p.out).not.toMatch(/replication-user-host/);
    expect(p.out).toMatch(/✅ mirrorstack@v0\.1\.0/);
  });

  it("the mirrors replicate over TLS, verifying the master's certificate; each account requires its mirror's certificate", async () => {
    for (const m of mirrors) {
      const s = slaveStatus(m);
      expect(s.Slave_IO_Running, m).toBe("Yes");
      expect(s.Slave_SQL_Running, m).toBe("Yes");
      expect(s.Master_SSL_Allowed, m).toBe("Yes");
      expect(s.Master_SSL_Verify_Server_Cert, m).toBe("Yes");
      expect(s.Master_SSL_Cert, m).toBe(CERT);
      expect(s.Master_SSL_CA_File, m).toBe(CA_FILE);
      expect(certOn(m, CERT).subject).toBe(subject(m));
      // Each mirror serves TLS too, with the same certificate (verified against its address): ready to be promoted.
      // (A server answers a host without any account with an error instead of its handshake: a probe account.)
      expect(sql(m, "SELECT @@have_ssl, @@ssl_cert")).toBe(`YES\t${CERT}`);
      sql(m, `SET sql_log_bin = 0; CREATE USER IF NOT EXISTS 'e2e_probe'@'${masterAddr}' IDENTIFIED BY 'probe-pass-123'`);
      try {
        expect(servedSerial(master, addr[m]!)).toBe(certOn(m, CERT).serial);
      } finally {
        sql(m, `SET sql_log_bin = 0; DROP USER IF EXISTS 'e2e_probe'@'${masterAddr}'`);
      }
    }
    sql(master, "INSERT INTO wiki.notes (note) VALUES ('over-tls')");
    for (const m of mirrors) await arrives(m, "over-tls");
    // The master serves TLS; its replication sessions are encrypted.
    expect(sql(master, "SELECT @@have_ssl")).toBe("YES");
    expect(sql(master, `SELECT ssl_type, x509_subject, x509_issuer FROM mysql.user WHERE User = '${REPL}' AND Host = '${addr.mirror1}'`)).toBe(
      `SPECIFIED\t${subject("mirror1")}\t${CA}`,
    );
    // Keys: made on their hosts, readable by the server only.
    for (const h of [master, ...mirrors]) expect(onHost(h, `stat -c '%U %a' ${KEY}`).stdout.trim(), h).toBe("mysql 600");
    // No private key in the state in clear text (the CA key is a secret: ciphertext).
    const state = await stackExportText(STACK);
    expect(state).not.toMatch(/PRIVATE KEY/);
    expect(state).toMatch(/"keyPem":\s*\{\s*"4dabf18193072939515e22adb298388d":\s*"1b47061264138c4ac30d75fd1eb44270",\s*"ciphertext"/);
  });

  it("a capture on the lab bridge: replicated row data is not in clear text; a plain client query is (control)", async () => {
    const marker = `tlsmarker${Date.now().toString(36)}`;
    const file = path.join(tmp, "replication.pcap");
    const p = await capture(file);
    try {
      sql(master, `INSERT INTO wiki.notes (note) VALUES ('${marker}')`);
      await arrives("mirror1", marker);
    } finally {
      await stopCapture(p);
    }
    const pcap = fs.readFileSync(file);
    const packets = spawnSync("tcpdump", ["-r", file, "-nn"], { encoding: "utf8" }).stdout.split("\n").filter((l) => l.trim() !== "").length;
    console.log(`[e2e tls] replication capture: ${pcap.length} bytes, ${packets} packets on port 3306`);
    expect(packets).toBeGreaterThan(0);
    expect(pcap.includes(Buffer.from(marker)), "marker in clear text on the wire").toBe(false);

    // Control: the same marker over a plain TCP session (a client account without TLS) is visible to the capture.
    sql(master, `CREATE USER IF NOT EXISTS 'e2e_plain'@'${addr.mirror1}' IDENTIFIED BY 'plain-pass-123'`);
    const control = path.join(tmp, "control.pcap");
    const c = await capture(control);
    try {
      const q = onHost("mirror1", `mariadb --skip-ssl -h ${masterAddr} -u e2e_plain -pplain-pass-123 -N -B -e "SELECT '${marker}'"`);
      expect(q.code, q.stderr).toBe(0);
      expect(q.stdout.trim()).toBe(marker);
    } finally {
      await stopCapture(c);
      sql(master, `DROP USER IF EXISTS 'e2e_plain'@'${addr.mirror1}'`);
    }
    expect(fs.readFileSync(control).includes(Buffer.from(marker)), "marker in clear text in the control capture").toBe(true);
  });

  /**
   * `replica` (replicating from `source`) tries another CA's certificate with its own subject, `other`'s genuine
   * certificate, and no TLS: each is refused by the source (each attempt undone before it is judged, so a failure
   * leaves it replicating). Returns the three IO errors.
   */
  async function wrongCertificatesRefused(replica: string, other: string, source: string): Promise<void> {
    const mk = `set -e; d=/var/lib/e2e-tls-evil; rm -rf $d; mkdir -p $d; cd $d
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -subj '${CA}' -days 5 -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout client.key -subj '${subject(replica)}' -out client.csr 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -set_serial 7 -days 5 -out client.pem 2>/dev/null
chown -R mysql:mysql $d`;
    expect(onHost(replica, mk).code).toBe(0);
    const restore = async () => {
      sql(replica, `STOP SLAVE; CHANGE MASTER TO MASTER_SSL = 1, MASTER_SSL_CA = '${CA_FILE}', MASTER_SSL_CERT = '${CERT}', MASTER_SSL_KEY = '${KEY}'; START SLAVE`);
      await until(`${replica} replicating again`, () => (slaveStatus(replica).Slave_IO_Running === "Yes" ? true : undefined));
    };
    const tryWith = async (change: string): Promise<string> => {
      sql(replica, `STOP SLAVE; CHANGE MASTER TO ${change}; START SLAVE`);
      try {
        return await ioError(replica);
      } finally {
        await restore();
      }
    };
    // Same subject, same CA name, but another CA's key: the source's TLS layer or the ISSUER check refuses it.
    const otherCa = await tryWith("MASTER_SSL_CERT = '/var/lib/e2e-tls-evil/client.pem', MASTER_SSL_KEY = '/var/lib/e2e-tls-evil/client.key'");
    console.log(`[e2e tls] ${replica} -> ${source}, another CA: ${otherCa}`);
    expect(otherCa).toMatch(/^(1045|2026|2013|2006): /);
    expect(otherCa).not.toMatch(/Unable to get certificate|Unable to get private key/); // the files were readable: the source refused
    // `other`'s genuine certificate, presented by `replica`: its account requires its own subject.
    const copy = onHost(other, `cat ${CERT} ${KEY}`);
    expect(copy.code).toBe(0);
    const [pem, key] = [/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(copy.stdout)![0], /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(copy.stdout)![0]];
    const put = spawnSync("bash", [path.join(ROOT, "lab/lab.sh"), "exec", replica, "--", "bash", "-c", "umask 077; cat > /var/lib/e2e-tls-evil/o.both; awk '/BEGIN CERT/{f=\"/var/lib/e2e-tls-evil/o.pem\"} /BEGIN PRIVATE/{f=\"/var/lib/e2e-tls-evil/o.key\"} {print > f}' /var/lib/e2e-tls-evil/o.both; chown mysql:mysql /var/lib/e2e-tls-evil/o.*"], { input: pem + key, encoding: "utf8", cwd: ROOT });
    expect(put.status, put.stderr).toBe(0);
    const otherSubject = await tryWith("MASTER_SSL_CERT = '/var/lib/e2e-tls-evil/o.pem', MASTER_SSL_KEY = '/var/lib/e2e-tls-evil/o.key'");
    console.log(`[e2e tls] ${replica} -> ${source}, ${other}'s certificate: ${otherSubject}`);
    expect(otherSubject).toMatch(/^1045: .*Access denied/);
    // No TLS at all.
    const none = await tryWith("MASTER_SSL = 0");
    console.log(`[e2e tls] ${replica} -> ${source}, no TLS: ${none}`);
    expect(none).toMatch(/^1045: .*Access denied/);
    onHost(replica, "rm -rf /var/lib/e2e-tls-evil");
  }

  it("a mirror with another CA's certificate, another mirror's certificate, or none is refused", async () => {
    await wrongCertificatesRefused("mirror1", "mirror2", master);
    sql(master, "INSERT INTO wiki.notes (note) VALUES ('after-refusals')");
    for (const m of mirrors) await arrives(m, "after-refusals");
  });

  it("a mirror with a changing address has the account host '%' and replicates from a new address; a fixed mirror from a new address is refused", async () => {
    const hostsOf = sql(master, `SELECT Host FROM mysql.user WHERE User = '${REPL}' ORDER BY Host`).split("\n");
    expect(hostsOf).toEqual(["%", addr.mirror1].sort());
    expect(sql(master, `SELECT ssl_type, x509_subject, x509_issuer FROM mysql.user WHERE User = '${REPL}' AND Host = '%'`)).toBe(`SPECIFIED\t${subject("mirror2")}\t${CA}`);
    const subnet = LAB_INSTANCES.tls.subnet;
    // A second address on the host, used as the source of its connections to the master (a DSL line's new address).
    const moveTo = (host: string, newAddr: string) =>
      onHost(host, `ip addr add ${newAddr}/24 dev eth0 && ip route change ${subnet}.0/24 dev eth0 src ${newAddr}`);
    const moveBack = (host: string, newAddr: string) =>
      onHost(host, `ip route change ${subnet}.0/24 dev eth0 src ${addr[host]}; ip addr del ${newAddr}/24 dev eth0`);
    const from = (host: string) => sql(master, `SELECT SUBSTRING_INDEX(HOST, ':', 1) FROM information_schema.PROCESSLIST WHERE USER = '${REPL}'`).split("\n").filter(Boolean).includes(host);

    expect(moveTo("mirror2", `${subnet}.52`).code).toBe(0);
    try {
      sql("mirror2", "STOP SLAVE; START SLAVE");
      await until("mirror2 connected from its new address", () => (from(`${subnet}.52`) ? true : undefined));
      sql(master, "INSERT INTO wiki.notes (note) VALUES ('from-new-address')");
      await arrives("mirror2", "from-new-address");
    } finally {
      moveBack("mirror2", `${subnet}.52`);
    }
    expect(moveTo("mirror1", `${subnet}.51`).code).toBe(0);
    try {
      sql("mirror1", "STOP SLAVE; START SLAVE");
      const e = await ioError("mirror1");
      console.log(`[e2e tls] fixed mirror from a new address: ${e}`);
      expect(e).toMatch(/^1045: .*Access denied/);
    } finally {
      moveBack("mirror1", `${subnet}.51`);
    }
    for (const m of mirrors) sql(m, "STOP SLAVE; START SLAVE");
    sql(master, "INSERT INTO wiki.notes (note) VALUES ('back-home')");
    for (const m of mirrors) await arrives(m, "back-home");
  });

  it("mirrorctl reseed keeps TLS and the changing-address account", async () => {
    const r = await ctl("reseed", "--host", "mirror2", "--yes", "--stack", STACK);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const s = slaveStatus("mirror2");
    expect([s.Slave_IO_Running, s.Master_SSL_Allowed, s.Master_SSL_Verify_Server_Cert, s.Master_SSL_Cert]).toEqual(["Yes", "Yes", "Yes", CERT]);
    expect(sql(master, `SELECT Host, ssl_type, x509_subject FROM mysql.user WHERE User = '${REPL}' ORDER BY Host`)).toBe(
      `%\tSPECIFIED\t${subject("mirror2")}\n${addr.mirror1}\tSPECIFIED\t${subject("mirror1")}`,
    );
    sql(master, "INSERT INTO wiki.notes (note) VALUES ('after-reseed')");
    for (const m of mirrors) await arrives(m, "after-reseed");
  });

  it("mirrorctl status warns within tls.warnDays of a certificate's expiry (and reports it as a metric)", async () => {
    const ok = await ctl("status", "--stack", STACK);
    expect(ok.code, `${ok.stdout}\n${ok.stderr}`).toBe(0);
    writeTestStack(STACK, { mirrors: stackHosts(), tls: { enabled: true, validityDays: 3, renewBeforeDays: 2, warnDays: 4 } });
    const warn = await ctl("status", "--stack", STACK);
    expect(warn.code, warn.stdout).toBe(1);
    expect(warn.stdout).toMatch(/MIRRORSTACK WARNING/);
    expect(warn.stdout).toMatch(/master: TLS host certificate \/etc\/mirrorstack\/tls\/server\.pem expires in [23]\.\d days/);
    expect(warn.stdout).toMatch(/mirror1: TLS host certificate \/etc\/mirrorstack\/tls\/server\.pem expires in [23]\.\d days/);
    const prom = await ctl("status", "--stack", STACK, "--format", "prometheus");
    expect(prom.stdout).toMatch(/^mirrorstack_tls_cert_expiry_timestamp_seconds\{stack="e2e-tls",host="mirror2",purpose="host certificate",path="\/etc\/mirrorstack\/tls\/server.pem"\} \d{10}$/m);
  });

  const TLS = { enabled: true, validityDays: 3, renewBeforeDays: 2, warnDays: 1 };
  const stackFile = path.join(ROOT, `stacks/Pulumi.${STACK}.yaml`);
  const replicationOutput = async (): Promise<Record<string, { seed: unknown; joined?: { how: string; master: string } }>> => {
    const o = await pulumi(["stack", "output", "replication", "--json", "--stack", STACK]);
    expect(o.code, o.out).toBe(0);
    return Object.fromEntries((JSON.parse(o.out) as { mirror: string; seed: unknown }[]).map((r) => [r.mirror, r]));
  };
  const masterRoleOutput = async () => {
    const exp = JSON.parse(await stackExportText(STACK)) as { deployment: { resources: { type: string; outputs?: Record<string, unknown> }[] } };
    return exp.deployment.resources.find((r) => r.type.endsWith(":MasterRole"))!.outputs!.switchover;
  };
  // Taken before the first switchover: no server restarts and no certificate is signed again in any of them.
  let pids: Record<string, string> = {};
  let serials: Record<string, string> = {};
  let seeds: Record<string, string> = {};
  let printedChange = "";

  it("mirrorctl failover under TLS: the chosen mirror serves the other over TLS; the old master, back, is rejoined over TLS with its own certificate; then a switchover back", async () => {
    writeTestStack(STACK, { mirrors: stackHosts(), tls: TLS });
    const before = Object.fromEntries([master, ...mirrors].map((h) => [h, certOn(h, CERT).serial]));
    sql(master, "INSERT INTO wiki.notes (note) VALUES ('before-failover')");
    for (const m of mirrors) await arrives(m, "before-failover");
    expect(onHost(master, "systemctl stop mariadb").code).toBe(0);
    const f = await ctl("failover", "--stack", STACK, "--to", "mirror1", "--json");
    expect(f.code, showRun(f)).toBe(0);
    replicatesOverTls("mirror2", addr.mirror1!);
    expect(sql("mirror1", `SELECT Host, ssl_type, x509_subject FROM mysql.user WHERE User = '${REPL}' ORDER BY Host`)).toBe(
      `%\tSPECIFIED\t${subject("mirror2")}\n${masterAddr}\tSPECIFIED\t${subject(master)}`,
    );
    const next = applyPatch(fs.readFileSync(stackFile, "utf8"), (JSON.parse(f.stdout) as { configDiff: string }).configDiff);
    expect(next).not.toBe(false);
    fs.writeFileSync(stackFile, next as string);
    // The old master comes back (writable, replicating from nobody): fenced and rejoined by GTID, over TLS.
    expect(onHost(master, "systemctl start mariadb").code).toBe(0);
    const back = await ctl("failover", "--stack", STACK, "--json");
    expect(back.code, showRun(back)).toBe(0);
    expect((JSON.parse(back.stdout) as { rejoined: string[] }).rejoined).toEqual([master]);
    replicatesOverTls(master, addr.mirror1!);
    sql("mirror1", "INSERT INTO wiki.notes (note) VALUES ('after-failover')");
    for (const h of [master, "mirror2"]) await arrives(h, "after-failover");
    // Back to the configured master by the command (the state never changed; the next test writes the stack file anew).
    const sw = await ctl("switchover", "--stack", STACK, "--to", master, "--json");
    expect(sw.code, showRun(sw)).toBe(0);
    for (const m of mirrors) replicatesOverTls(m, masterAddr);
    for (const h of [master, ...mirrors]) expect(certOn(h, CERT).serial, `${h} signed again`).toBe(before[h]);
  });

  it("mirrorctl switchover under TLS: the others replicate from the new master over TLS with their own certificates, verifying its certificate; nothing signed, no server restarted", async () => {
    writeTestStack(STACK, { mirrors: stackHosts(), tls: TLS });
    const hosts = [master, ...mirrors];
    pids = Object.fromEntries(hosts.map((h) => [h, serverPid(h)]));
    serials = Object.fromEntries(hosts.map((h) => [h, certOn(h, CERT).serial]));
    seeds = Object.fromEntries(Object.entries(await replicationOutput()).map(([k, v]) => [k, JSON.stringify(v.seed)]));
    const r = await ctl("switchover", "--stack", STACK, "--to", "mirror1", "--json");
    expect(r.code, showRun(r)).toBe(0);
    printedChange = (JSON.parse(r.stdout) as { configDiff: string }).configDiff;
    replicatesOverTls(master, addr.mirror1!);
    replicatesOverTls("mirror2", addr.mirror1!);
    // The new master's accounts require each replica's certificate; mirror2's (changing address) matches any host.
    expect(sql("mirror1", `SELECT Host, ssl_type, x509_subject, x509_issuer FROM mysql.user WHERE User = '${REPL}' ORDER BY Host`)).toBe(
      `%\tSPECIFIED\t${subject("mirror2")}\t${CA}\n${masterAddr}\tSPECIFIED\t${subject(master)}\t${CA}`,
    );
    expect(servedSerial(master, addr.mirror1!)).toBe(serials.mirror1);
    sql("mirror1", "INSERT INTO wiki.notes (note) VALUES ('on-mirror1')");
    for (const h of [master, "mirror2"]) await arrives(h, "on-mirror1");
    for (const h of hosts) {
      expect(serverPid(h), `${h} restarted`).toBe(pids[h]);
      expect(certOn(h, CERT).serial, `${h} signed again`).toBe(serials[h]);
    }
  });

  it("the new master refuses a replica with another CA's certificate, another host's certificate, or none", async () => {
    await wrongCertificatesRefused(master, "mirror2", "mirror1");
    sql("mirror1", "INSERT INTO wiki.notes (note) VALUES ('after-refusals-on-mirror1')");
    for (const h of [master, "mirror2"]) await arrives(h, "after-refusals-on-mirror1");
  });

  it("the printed change committed, `up` finds the switchover done: no copy, nothing signed, no server restarted", async () => {
    const next = applyPatch(fs.readFileSync(stackFile, "utf8"), printedChange);
    expect(next, printedChange).not.toBe(false);
    fs.writeFileSync(stackFile, next as string);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    expect(await masterRoleOutput()).toMatchObject({ from: master, to: "mirror1", how: "found" });
    const rep = await replicationOutput();
    expect(rep[master]!.joined).toMatchObject({ how: "already", master: "mirror1" });
    expect(rep.mirror2!.joined).toMatchObject({ how: "already", master: "mirror1" });
    expect(JSON.stringify(rep.mirror2!.seed)).toBe(seeds.mirror2);
    replicatesOverTls(master, addr.mirror1!);
    replicatesOverTls("mirror2", addr.mirror1!);
    for (const h of [master, ...mirrors]) {
      expect(serverPid(h), `${h} restarted`).toBe(pids[h]);
      expect(certOn(h, CERT).serial, `${h} signed again`).toBe(serials[h]);
    }
  });

  it("a switchover back by stack-config change under TLS: previewed without a refusal, done by `up`, replication over TLS, nothing signed, no server restarted, no copy", async () => {
    const id = (h: string) => Number(sql(h, "SELECT @@server_id"));
    writeTestStack(STACK, {
      master: { name: master, address: masterAddr, serverId: id(master) },
      mirrors: [
        { name: "mirror1", address: addr.mirror1, serverId: id("mirror1") },
        { name: "mirror2", address: addr.mirror2, changingAddress: true, serverId: id("mirror2") },
      ],
      tls: TLS,
    });
    const pv = await pulumi(["preview", "--diff", "--stack", STACK]);
    expect(pv.code, pv.out).toBe(0);
    expect(pv.out).toMatch(/~ .*MasterRole: \(update\)[\s\S]*master\s*: "mirror1" => "master"/);
    expect(pv.out).not.toMatch(/\[tls\.enabled\]|=> \\?"restart/);
    expect(pv.out).not.toMatch(/TlsCertificate: \(update\)/);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    const role = (await masterRoleOutput()) as { from: string; to: string; how: string; writeGapSeconds: number };
    expect(role).toMatchObject({ from: "mirror1", to: master, how: "switched" });
    console.log(`[e2e tls] switchover back by config change under TLS: fence-to-promotion ${role.writeGapSeconds.toFixed(3)} s`);
    for (const m of mirrors) replicatesOverTls(m, masterAddr);
    expect(sql(master, `SELECT Host, ssl_type, x509_subject, x509_issuer FROM mysql.user WHERE User = '${REPL}' ORDER BY Host`)).toBe(
      `%\tSPECIFIED\t${subject("mirror2")}\t${CA}\n${addr.mirror1}\tSPECIFIED\t${subject("mirror1")}\t${CA}`,
    );
    expect(servedSerial("mirror1", masterAddr)).toBe(serials[master]);
    const rep = await replicationOutput();
    expect(rep.mirror1!.joined?.how).toMatch(/^(already|gtid)$/);
    expect(rep.mirror2!.joined).toMatchObject({ how: "already", master });
    expect(JSON.stringify(rep.mirror2!.seed)).toBe(seeds.mirror2);
    sql(master, "INSERT INTO wiki.notes (note) VALUES ('back-on-master')");
    for (const m of mirrors) await arrives(m, "back-on-master");
    for (const h of [master, ...mirrors]) {
      expect(serverPid(h), `${h} restarted`).toBe(pids[h]);
      expect(certOn(h, CERT).serial, `${h} signed again`).toBe(serials[h]);
    }
    // The replicas' TLS sessions: the master counts them (Ssl_accepts grows with each replica's login).
    expect(Number(sql(master, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SSL_ACCEPTS'"))).toBeGreaterThan(0);
  });

  it("after the round trip a mirror with a wrong certificate is still refused", async () => {
    await wrongCertificatesRefused("mirror1", "mirror2", master);
    sql(master, "INSERT INTO wiki.notes (note) VALUES ('after-round-trip')");
    for (const m of mirrors) await arrives(m, "after-round-trip");
  });

  it("pulumi up inside the renew window signs again, without a re-seed and without a restart", async () => {
    // A plain up with the certificates 3 days from expiry and renewBeforeDays 2: nothing to sign.
    writeTestStack(STACK, { mirrors: stackHosts(), tls: { enabled: true, validityDays: 3, renewBeforeDays: 2, warnDays: 1 } });
    const before = { master: certOn(master, CERT), mirror1: certOn("mirror1", CERT) };
    const pid = onHost(master, "systemctl show -p MainPID --value mariadb").stdout.trim();
    const seeds = async () => {
      const o = await pulumi(["stack", "output", "replication", "--json", "--stack", STACK]);
      expect(o.code, o.out).toBe(0);
      return JSON.stringify((JSON.parse(o.out) as { mirror: string; seed: unknown }[]).map((r) => [r.mirror, r.seed]));
    };
    const seedBefore = await seeds();
    const noop = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(noop.code, noop.out).toBe(0);
    expect(noop.out).not.toMatch(/tls-cert.*updated/);
    expect(certOn(master, "/etc/mirrorstack/tls/server.pem").serial).toBe(before.master.serial);

    // renewBeforeDays 5 (validity 30): every certificate is now inside the window.
    writeTestStack(STACK, { mirrors: stackHosts(), tls: { enabled: true, validityDays: 30, renewBeforeDays: 5, warnDays: 1 } });
    const t0 = Date.now();
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    const seconds = (Date.now() - t0) / 1000;
    expect(up.code, up.out).toBe(0);
    console.log(`[e2e tls] renewal up: ${seconds.toFixed(1)} s`);
    expect(up.out).toMatch(/3 updated/);
    expect(up.out).not.toMatch(/replication.*(replaced|created)/);
    const after = { master: certOn(master, CERT), mirror1: certOn("mirror1", CERT) };
    expect(after.master.serial).not.toBe(before.master.serial);
    expect(after.mirror1.serial).not.toBe(before.mirror1.serial);
    expect(Date.parse(after.master.notAfter) - Date.now()).toBeGreaterThan(29 * 86400_000);
    // Same server process: reloaded with FLUSH SSL. It serves the new certificate.
    expect(onHost(master, "systemctl show -p MainPID --value mariadb").stdout.trim()).toBe(pid);
    const served = onHost("mirror1", `openssl s_client -starttls mysql -connect ${masterAddr}:3306 -CAfile /etc/mirrorstack/tls/ca.pem </dev/null 2>/dev/null | openssl x509 -noout -serial`);
    expect(served.stdout.trim()).toBe(`serial=${after.master.serial}`);
    // Not re-seeded: each mirror's seed (method, bytes, start coordinates) is the one from the first up.
    expect(await seeds()).toBe(seedBefore);
    sql(master, "INSERT INTO wiki.notes (note) VALUES ('after-renewal')");
    for (const m of mirrors) await arrives(m, "after-renewal");
    for (const m of mirrors) expect(slaveStatus(m).Master_SSL_Verify_Server_Cert).toBe("Yes");
  });

  it("destroy: replication stopped, accounts dropped, the TLS files gone from every host; the master runs on its own my.cnf again", async () => {
    const d = await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    expect(d.code, d.out).toBe(0);
    for (const h of [master, ...mirrors]) expect(onHost(h, "test -e /etc/mirrorstack/tls && echo present || echo gone").stdout.trim(), h).toBe("gone");
    expect(sql(master, `SELECT COUNT(*) FROM mysql.user WHERE User = '${REPL}'`)).toBe("0");
    expect(sql(master, "SELECT @@have_ssl")).not.toBe("YES");
    expect(sql(master, "SELECT COUNT(*) FROM wiki.notes WHERE note = 'after-renewal'")).toBe("1"); // data stays
  });
  it("a stack set up by the version before (only the master had a server certificate) upgrades: no re-seed, the master not restarted, each mirror restarted once; then a switchover's preflight passes", async () => {
    // The previous version's program, run by the engine on this test's state (same backend, same stack file).
    const old = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-e2e-tls-old-"));
    try {
      const ar = spawnSync("bash", ["-c", `git -C '${ROOT}' archive ${OLD_VERSION} | tar -x -C '${old}'`], { encoding: "utf8" });
      expect(ar.status, ar.stderr).toBe(0);
      fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(old, "node_modules"));
      // The stack file names the lab's SSH key and known hosts relative to the project.
      fs.symlinkSync(path.join(ROOT, `.lab-${LAB_INSTANCES.tls.id}`), path.join(old, `.lab-${LAB_INSTANCES.tls.id}`));
      writeTestStack(STACK, { mirrors: stackHosts(), tls: TLS });
      fs.copyFileSync(stackFile, path.join(old, "stacks", `Pulumi.${STACK}.yaml`));
      const oldUp = await run("bash", [path.join(old, "scripts/pulumi.sh"), "up", "--yes", "--skip-preview", "--stack", STACK], {
        cwd: old,
        env: { PULUMI_BACKEND_URL: `file://${ROOT}/.pulumi-state` },
      });
      expect(oldUp.code, `${oldUp.stdout}\n${oldUp.stderr}`).toBe(0);
    } finally {
      fs.rmSync(old, { recursive: true, force: true });
    }
    for (const m of mirrors) expect(slaveStatus(m).Master_SSL_Cert, m).toBe("/etc/mirrorstack/tls/client.pem");
    expect(sql("mirror1", "SELECT IFNULL(@@ssl_cert, '')")).toBe("");
    // This version's switchover refuses before the upgrade, saying why and what to do.
    const early = await ctl("switchover", "--stack", STACK, "--to", "mirror1", "--dry-run");
    expect(early.code, showRun(early)).toBe(1);
    expect(early.stdout).toMatch(/\[tls\.enabled\] mirror1 does not serve TLS with the stack's certificate \(ssl_cert not set[^)]*\): run `pulumi up` with this mirrorstack version first/);
    expect(early.stdout).toContain(`[tls.enabled] mirror1: its certificate ${CERT} is missing`);
    // The master's certificate of that version was for serving only: it could not replicate after a switchover.
    expect(early.stdout).toContain(`[tls.enabled] master: its certificate ${CERT} does not verify against ${CA_FILE} for logging in as a replica (clientAuth)`);

    const seedsBefore = Object.fromEntries(Object.entries(await replicationOutput()).map(([k, v]) => [k, JSON.stringify(v.seed)]));
    const masterSerial = certOn(master, CERT).serial;
    const pidsBefore = Object.fromEntries([master, ...mirrors].map((h) => [h, serverPid(h)]));
    // The preview says what restarts: each mirror, once, for the TLS settings; the master's options do not change.
    const pv = await pulumi(["preview", "--diff", "--stack", STACK]);
    expect(pv.code, pv.out).toBe(0);
    expect(pv.out.match(/=> \\?"restart \(ssl_ca, ssl_cert, ssl_key, tls_version cannot change at run time\)/g)?.length, pv.out).toBe(2);
    expect(pv.out).not.toMatch(/replication.*replace|\+- /);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    const seedsAfter = Object.fromEntries(Object.entries(await replicationOutput()).map(([k, v]) => [k, JSON.stringify(v.seed)]));
    expect(seedsAfter, "no mirror seeded again").toEqual(seedsBefore);
    expect(serverPid(master), "the master is not restarted").toBe(pidsBefore[master]);
    for (const m of mirrors) expect(serverPid(m), `${m} restarted once for its TLS settings`).not.toBe(pidsBefore[m]);
    // The master's certificate is signed again for both roles (reloaded with FLUSH SSL), same key.
    const after = certOn(master, CERT);
    expect(after.serial).not.toBe(masterSerial);
    expect(servedSerial("mirror1", masterAddr)).toBe(after.serial);
    for (const m of mirrors) {
      replicatesOverTls(m, masterAddr);
      expect(sql(m, "SELECT @@have_ssl, @@ssl_cert")).toBe(`YES\t${CERT}`);
    }
    sql(master, "INSERT INTO wiki.notes (note) VALUES ('after-upgrade')");
    for (const m of mirrors) await arrives(m, "after-upgrade");
    const dry = await ctl("switchover", "--stack", STACK, "--to", "mirror1", "--dry-run");
    expect(dry.code, showRun(dry)).toBe(0);
    // The next up changes nothing.
    const again = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).not.toMatch(/\b\d+ (created|updated|replaced|deleted)\b/);
  });
});
