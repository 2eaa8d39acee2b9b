// Replication TLS, the pure parts: the SQL (REQUIRE, MASTER_SSL_*, reload), who gets which certificate, the
// config rules, and how `mirrorctl status` judges certificate expiry.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseStackConfig, ConfigError } from "../infra/config";
import { judgeCerts, parseCertDates, certDatesScript } from "../infra/ops/status";
import { ANY_HOST, dialect, render, UnsafeValueError, type Stmt } from "../infra/replication/dialect";
import { accountHost, certCheckScript, certFilesOf, certPlans, replicationTls } from "../infra/render/tls";
import type { HostConfig } from "../infra/config/types";
import { loadStack } from "./render-stacks";

const maria = dialect({ flavour: "mariadb", version: "10.11" });
const my84 = dialect({ flavour: "mysql", version: "8.4" });
const show = (s: Stmt | Stmt[]) => (Array.isArray(s) ? s : [s]).map((x) => render(x, { redact: true })).join(";\n");
const require = { subject: "/O=mirrorstack/OU=lab/CN=mirror1", issuer: "/O=mirrorstack/OU=lab/CN=mirrorstack replication CA" };
const files = { caPath: "/etc/mirrorstack/tls/ca.pem", certPath: "/etc/mirrorstack/tls/server.pem", keyPath: "/etc/mirrorstack/tls/server.key", verifyServerCert: true };

describe("dialect: TLS", () => {
  it("an account that requires its mirror's certificate, also for any host ('%')", () => {
    expect(show(maria.createReplicationUser({ user: "repl", host: "10.0.0.2", password: "pw-pw-pw-pw-pw-pw", requireCertificate: require }))).toMatchInlineSnapshot(`
      "SET SESSION sql_log_bin = 0;
      CREATE USER IF NOT EXISTS 'repl'@'10.0.0.2' IDENTIFIED BY '<redacted>';
      ALTER USER 'repl'@'10.0.0.2' IDENTIFIED BY '<redacted>' REQUIRE SUBJECT '/O=mirrorstack/OU=lab/CN=mirror1' AND ISSUER '/O=mirrorstack/OU=lab/CN=mirrorstack replication CA';
      GRANT REPLICATION SLAVE ON *.* TO 'repl'@'10.0.0.2';
      SET SESSION sql_log_bin = 1"
    `);
    expect(show(my84.createReplicationUser({ user: "repl", host: ANY_HOST, password: "pw-pw-pw-pw-pw-pw", requireCertificate: require }))).toMatchInlineSnapshot(`
      "SET SESSION sql_log_bin = 0;
      CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY '<redacted>';
      ALTER USER 'repl'@'%' IDENTIFIED BY '<redacted>' REQUIRE SUBJECT '/O=mirrorstack/OU=lab/CN=mirror1' AND ISSUER '/O=mirrorstack/OU=lab/CN=mirrorstack replication CA';
      GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
      SET SESSION sql_log_bin = 1"
    `);
    expect(show(maria.dropReplicationUser({ user: "repl", host: ANY_HOST, requireCertificate: require }))).toContain("DROP USER IF EXISTS 'repl'@'%'");
  });

  it("'%' only with a required certificate; never a pattern; a distinguished name cannot inject", () => {
    expect(() => maria.createReplicationUser({ user: "repl", host: "%", password: "pw-pw-pw-pw-pw-pw" })).toThrow(UnsafeValueError);
    expect(() => maria.dropReplicationUser({ user: "repl", host: "%" })).toThrow(UnsafeValueError);
    expect(() => maria.createReplicationUser({ user: "repl", host: "10.0.0.%", password: "pw-pw-pw-pw-pw-pw", requireCertificate: require })).toThrow(UnsafeValueError);
    for (const subject of ["", "CN=x", "/CN=x' OR 1=1", "/CN=a\\b", "/CN=x\n"]) {
      expect(() => maria.createReplicationUser({ user: "repl", host: "10.0.0.2", password: "pw-pw-pw-pw-pw-pw", requireCertificate: { ...require, subject } }), JSON.stringify(subject)).toThrow(UnsafeValueError);
    }
  });

  it("CHANGE MASTER / CHANGE REPLICATION SOURCE with the client files and verification of the source", () => {
    const src = { host: "10.0.0.1", port: 3306, user: "repl", password: "pw-pw-pw-pw-pw-pw", position: { kind: "file" as const, file: "mysql-bin.000002", pos: 344 }, ssl: true, tls: files };
    expect(show(maria.changeSource(src))).toMatchInlineSnapshot(`"CHANGE MASTER TO MASTER_HOST = '10.0.0.1', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = '<redacted>', MASTER_LOG_FILE = 'mysql-bin.000002', MASTER_LOG_POS = 344, MASTER_USE_GTID = no, MASTER_SSL = 1, MASTER_SSL_CA = '/etc/mirrorstack/tls/ca.pem', MASTER_SSL_CERT = '/etc/mirrorstack/tls/server.pem', MASTER_SSL_KEY = '/etc/mirrorstack/tls/server.key', MASTER_SSL_VERIFY_SERVER_CERT = 1"`);
    expect(show(my84.changeSource({ ...src, connectRetrySeconds: 30 }))).toMatchInlineSnapshot(`"CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.0.0.1', SOURCE_PORT = 3306, SOURCE_USER = 'repl', SOURCE_PASSWORD = '<redacted>', SOURCE_LOG_FILE = 'mysql-bin.000002', SOURCE_LOG_POS = 344, SOURCE_AUTO_POSITION = 0, SOURCE_SSL = 1, SOURCE_SSL_CA = '/etc/mirrorstack/tls/ca.pem', SOURCE_SSL_CERT = '/etc/mirrorstack/tls/server.pem', SOURCE_SSL_KEY = '/etc/mirrorstack/tls/server.key', SOURCE_SSL_VERIFY_SERVER_CERT = 1, SOURCE_CONNECT_RETRY = 30"`);
    expect(show(maria.changeSourceTls(files))).toMatchInlineSnapshot(`"CHANGE MASTER TO MASTER_SSL = 1, MASTER_SSL_CA = '/etc/mirrorstack/tls/ca.pem', MASTER_SSL_CERT = '/etc/mirrorstack/tls/server.pem', MASTER_SSL_KEY = '/etc/mirrorstack/tls/server.key', MASTER_SSL_VERIFY_SERVER_CERT = 1"`);
    expect(() => maria.changeSourceTls({ ...files, keyPath: "/tmp/../etc/shadow" })).toThrow(UnsafeValueError);
    expect(() => maria.changeSourceTls({ ...files, certPath: "client.pem" })).toThrow(UnsafeValueError);
    expect(show(maria.reloadServerTls())).toBe("FLUSH SSL");
    expect(show(my84.reloadServerTls())).toBe("ALTER INSTANCE RELOAD TLS");
  });
});

describe("certificates of a stack", () => {
  it("every host has one certificate for both roles, naming its name and address, at the same paths whatever its role", () => {
    const cfg = loadStack("lab");
    expect(certPlans(cfg).map((c) => [c.host, c.usage, c.subject, c.sans.join(","), c.keyPath, c.certPath])).toEqual([
      ["master", "server+client", "/O=mirrorstack/OU=lab/CN=master", "DNS:master,IP:10.250.0.10", "/etc/mirrorstack/tls/server.key", "/etc/mirrorstack/tls/server.pem"],
      ["mirror1", "server+client", "/O=mirrorstack/OU=lab/CN=mirror1", "DNS:mirror1,IP:10.250.0.11", "/etc/mirrorstack/tls/server.key", "/etc/mirrorstack/tls/server.pem"],
      ["mirror2", "server+client", "/O=mirrorstack/OU=lab/CN=mirror2", "DNS:mirror2,IP:10.250.0.12", "/etc/mirrorstack/tls/server.key", "/etc/mirrorstack/tls/server.pem"],
      ["mirror3", "server+client", "/O=mirrorstack/OU=lab/CN=mirror3", "DNS:mirror3,IP:10.250.0.13", "/etc/mirrorstack/tls/server.key", "/etc/mirrorstack/tls/server.pem"],
    ]);
    // A switchover swaps roles: the certificates (what they name, where they are) do not change.
    const swapped = { ...cfg, master: { ...cfg.mirrors[0]!, role: "master" as const }, mirrors: [{ ...cfg.master, role: "mirror" as const }, ...cfg.mirrors.slice(1)] };
    swapped.hosts = [swapped.master, ...swapped.mirrors];
    const byHost = (c: typeof cfg) => Object.fromEntries(certPlans(c).map((p) => [p.host, JSON.stringify(p)]));
    expect(byHost(swapped)).toEqual(byHost(cfg));
    // The old master, now a replica, replicates with its own certificate, which its new account requires.
    expect(replicationTls(swapped, swapped.mirrors[0]!)).toEqual({ replica: files, require: { subject: "/O=mirrorstack/OU=lab/CN=master", issuer: "/O=mirrorstack/OU=lab/CN=mirrorstack replication CA" } });
    // mirror3 has changingAddress: '%', with its certificate required.
    expect(cfg.mirrors.map((m) => accountHost(cfg, m))).toEqual(["10.250.0.11", "10.250.0.12", "%"]);
    expect(replicationTls(cfg, cfg.mirrors[2]!)).toEqual({ replica: files, require: { subject: "/O=mirrorstack/OU=lab/CN=mirror3", issuer: "/O=mirrorstack/OU=lab/CN=mirrorstack replication CA" } });
    for (const h of cfg.hosts) expect(certFilesOf(cfg, h).map((f) => f.path)).toEqual(["/etc/mirrorstack/tls/ca.pem", "/etc/mirrorstack/tls/server.pem"]);
    const mysql = loadStack("rhel-mysql");
    expect(certPlans(mysql)[0]!.sans).toEqual(["DNS:web-master", "IP:2001:db8:5::10"]);
  });

  it("without tls.enabled: no certificates, the mirror's address, no TLS", () => {
    const cfg = loadStack("staging");
    expect(cfg.tls).toEqual({ enabled: false, caValidityDays: 3650, validityDays: 365, renewBeforeDays: 30, warnDays: 14 });
    expect(accountHost(cfg, cfg.mirrors[0]!)).toBe(cfg.mirrors[0]!.address);
    expect(replicationTls(cfg, cfg.mirrors[0]!)).toBeNull();
    expect(certFilesOf(cfg, cfg.master)).toEqual([]);
  });

  it("changingAddress needs tls.enabled; renewBeforeDays must be below validityDays (named keys)", () => {
    const base = {
      master: { name: "db", address: "192.0.2.10" },
      mirrors: [{ name: "m1", address: "192.0.2.11", changingAddress: true }],
      database: { databases: ["wiki"] },
      backups: { enabled: false },
      replicationPassword: "0123456789abcdef",
    };
    const issues = (raw: Record<string, unknown>) => {
      try {
        parseStackConfig(raw, { stack: "t", secretKeys: new Set(["replicationPassword"]) });
        return [];
      } catch (e) {
        if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
        throw e;
      }
    };
    expect(issues(base)).toEqual([expect.stringMatching(/^mirrorstack:mirrors\[0\]\.changingAddress: needs tls\.enabled: true/)]);
    expect(issues({ ...base, tls: { enabled: true } })).toEqual([]);
    expect(issues({ ...base, tls: { enabled: true, validityDays: 30, renewBeforeDays: 30 } })).toEqual([
      expect.stringMatching(/^mirrorstack:tls\.renewBeforeDays: 30 must be below tls\.validityDays \(30\)/),
    ]);
  });
});

describe("mirrorctl status: certificate expiry", () => {
  const certs = [
    { what: "CA certificate", path: "/etc/mirrorstack/tls/ca.pem" },
    { what: "host certificate", path: "/etc/mirrorstack/tls/server.pem" },
  ];
  const now = Date.parse("2026-12-03T12:00:00Z") / 1000;

  it("reads openssl's dates and judges them with tls.warnDays", () => {
    expect(certDatesScript(certs)).toContain("openssl x509 -in '/etc/mirrorstack/tls/server.pem' -noout -enddate 2>/dev/null || echo missing");
    const parsed = parseCertDates("/etc/mirrorstack/tls/ca.pem notAfter=Nov 30 12:00:00 2036 GMT\n/etc/mirrorstack/tls/server.pem notAfter=Dec 13 12:00:00 2026 GMT\n", certs);
    expect(parsed.map((c) => c.notAfter)).toEqual([Date.parse("2036-11-30T12:00:00Z") / 1000, Date.parse("2026-12-13T12:00:00Z") / 1000]);
    expect(judgeCerts(parsed, 14, now)).toEqual({
      level: "WARNING",
      reasons: ["TLS host certificate /etc/mirrorstack/tls/server.pem expires in 10.0 days (2026-12-13T12:00:00Z); `pulumi up` renews it within tls.renewBeforeDays"],
    });
    expect(judgeCerts(parsed, 7, now)).toEqual({ level: "OK", reasons: [] });
    expect(judgeCerts(parsed, 7, now + 11 * 86400).level).toBe("CRITICAL");
    const missing = parseCertDates("/etc/mirrorstack/tls/ca.pem missing\n", certs);
    expect(judgeCerts(missing, 7, now)).toEqual({
      level: "CRITICAL",
      reasons: ["TLS CA certificate /etc/mirrorstack/tls/ca.pem is missing or unreadable", "TLS host certificate /etc/mirrorstack/tls/server.pem is missing or unreadable"],
    });
  });
});

describe("TlsCertificate provider (local openssl)", () => {
  // Loaded lazily: the provider module pulls in the Pulumi SDK.
  const load = () => import("../infra/providers/tlsCertificate");
  const run = (args: string[], input?: string) => {
    const r = spawnSync("openssl", args, { input, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  it("makes a CA whose key is only in its (secret) output, and signs a host's CSR with our subject, names and usage", async () => {
    const { tlsProvider, sign } = await load();
    const ca = (await tlsProvider.create!({ kind: "ca", subject: "/O=mirrorstack/OU=t/CN=mirrorstack replication CA", validityDays: 30 })).outs as Record<string, string>;
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(run(["x509", "-noout", "-text"], ca.certPem)).toMatch(/CA:TRUE, pathlen:0/);
    expect(Date.parse(ca.notAfter!) - Date.now()).toBeGreaterThan(29 * 86400_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tls-unit-"));
    try {
      run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", `${dir}/host.key`]);
      // The CSR asks for another subject: the CA's signature carries ours.
      const csr = run(["req", "-new", "-key", `${dir}/host.key`, "-subj", "/CN=anything"]);
      const state = {
        kind: "cert" as const,
        target: { host: "m1", address: "192.0.2.11", user: "root", port: 22 },
        csr,
        subject: "/O=mirrorstack/OU=t/CN=m1",
        sans: ["DNS:m1", "IP:192.0.2.11"],
        usage: "server+client",
        validityDays: 7,
        renewBeforeDays: 2,
        caKeyPem: ca.keyPem,
        caCertPem: ca.certPem!,
        installScript: "",
        engine: { flavour: "mariadb" as const, version: "10.11" },
      };
      const pem = sign(state);
      fs.writeFileSync(`${dir}/ca.pem`, ca.certPem!);
      fs.writeFileSync(`${dir}/host.pem`, pem);
      expect(run(["verify", "-CAfile", `${dir}/ca.pem`, `${dir}/host.pem`]).trim()).toBe(`${dir}/host.pem: OK`);
      const text = run(["x509", "-noout", "-text", "-nameopt", "compat", "-in", `${dir}/host.pem`]);
      expect(run(["x509", "-noout", "-subject", "-nameopt", "compat", "-in", `${dir}/host.pem`]).trim()).toBe("subject=/O=mirrorstack/OU=t/CN=m1");
      // Both roles: serving as a master and logging in as a replica (a switchover signs nothing).
      expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
      expect(text).toMatch(/DNS:m1, IP Address:192.0.2.11/);
      for (const purpose of ["sslserver", "sslclient"]) {
        expect(run(["verify", "-purpose", purpose, "-CAfile", `${dir}/ca.pem`, `${dir}/host.pem`]).trim(), purpose).toBe(`${dir}/host.pem: OK`);
      }
      // The certificate is for the host's own key.
      expect(run(["x509", "-noout", "-pubkey", "-in", `${dir}/host.pem`])).toBe(run(["pkey", "-pubout", "-in", `${dir}/host.key`]));
      // The check a switchover runs on each host: fine for both roles at the host's address, else one line each.
      const check = (address: string, cert = `${dir}/host.pem`) =>
        spawnSync("bash", ["-c", certCheckScript({ name: "m1", address } as HostConfig, { ca: `${dir}/ca.pem`, cert })], { encoding: "utf8" }).stdout;
      expect(check("192.0.2.11")).toBe("");
      expect(check("192.0.2.99")).toBe(`its certificate ${dir}/host.pem does not verify against ${dir}/ca.pem for serving TLS (serverAuth) at 192.0.2.99\n`);
      expect(check("192.0.2.11", `${dir}/none.pem`)).toBe(`its certificate ${dir}/none.pem is missing\n`);
      // A certificate of the version before, for one role only (the master's was serverAuth only).
      fs.writeFileSync(`${dir}/ca.key`, ca.keyPem!, { mode: 0o600 });
      fs.writeFileSync(`${dir}/host.csr`, csr);
      fs.writeFileSync(`${dir}/server.ext`, "extendedKeyUsage = serverAuth\nsubjectAltName = IP:192.0.2.11\n");
      run(["x509", "-req", "-in", `${dir}/host.csr`, "-CA", `${dir}/ca.pem`, "-CAkey", `${dir}/ca.key`, "-set_serial", "9", "-days", "2", "-extfile", `${dir}/server.ext`, "-out", `${dir}/server-only.pem`]);
      expect(check("192.0.2.11", `${dir}/server-only.pem`)).toBe(`its certificate ${dir}/server-only.pem does not verify against ${dir}/ca.pem for logging in as a replica (clientAuth)\n`);
      // A CSR whose signature does not match is refused.
      expect(() => sign({ ...state, csr: csr.replace(/[A-Za-z](?=[A-Za-z0-9+/=]*\n-----END)/, (c) => (c === "A" ? "B" : "A")) })).toThrow(/openssl/);

      // diff: nothing to do outside the renew window, a new signing inside it or when the CSR changes.
      const olds = { ...state, certPem: pem, notAfter: new Date(Date.now() + 5 * 86400_000).toISOString() };
      const d = (o: object, n: object) => tlsProvider.diff!("id", o, n);
      expect(await d(olds, { ...state, renewBeforeDays: 4 })).toMatchObject({ changes: false, replaces: [] });
      expect(await d(olds, { ...state, validityDays: 365, renewBeforeDays: 4 })).toMatchObject({ changes: false });
      expect(await d(olds, { ...state, renewBeforeDays: 6 })).toMatchObject({ changes: true, replaces: [] });
      expect(await d(olds, { ...state, renewBeforeDays: 4, csr: "other" })).toMatchObject({ changes: true });
      // A certificate from before every host had one for both roles is signed again (same resource, no replace).
      expect(await d({ ...olds, usage: "client" }, { ...state, renewBeforeDays: 4 })).toMatchObject({ changes: true, replaces: [] });
      expect(await d(olds, { ...state, renewBeforeDays: 4, target: { host: "m2", address: "192.0.2.12", user: "root", port: 22 } })).toMatchObject({ changes: true, replaces: ["target"] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
