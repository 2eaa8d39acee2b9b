// The policy rules (infra/review/rules.ts) and the @pulumi/policy pack built on them (policy/policies.ts):
// every bad case is blocked with its host and config key; the example stacks, a lab-like stack and the resources of
// real lab previews pass.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ReportViolation, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { describe, expect, it } from "vitest";
import { loadStackConfig, parseStackConfig, parseStackText } from "../infra/config";
import type { StackConfig } from "../infra/config/types";
import { actionWords } from "../infra/components/services";
import { renderStack } from "../infra/render";
import { contextFromConfig, STRICT_CONTEXT, type PolicyContext } from "../infra/review/context";
import { keyInfoFromBlob, keyInfoFromPrivateKey, keysInText } from "../infra/review/keys";
import { parsePreviewJson, resourcesAfterUp, UNKNOWN, type PolicyResource } from "../infra/review/preview";
import { checkPolicies, parseExports, RULES, serverOptions, splitOptions, type Violation } from "../infra/review/rules";
import { fromPack, mirrorstackPolicies, plainProps, RECORDER } from "../policy/policies";
import { LAB_LIKE_YAML, MIRROR_KEYS, RHEL_MYSQL_YAML, ROOT } from "./render-stacks";

const HOSTFILE = "pulumi-nodejs:dynamic/mirrorstack:HostFile";
const REPLICATION = "pulumi-nodejs:dynamic/mirrorstack:MirrorReplication";
const COMMAND = "pulumi-nodejs:dynamic/mirrorstack:RemoteCommand";

// Real public keys made with ssh-keygen (OpenSSH 9.2) for these tests.
const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOxEOscRyp9RLbK4T4IkV0Xww+4J6DxeVNiIe8sXqaKm mirror";
const RSA2048 =
  "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC323AYX1ZrVR9IFGIul3TdHANyCXzKBPMa4d1Jhg0KrbkkbPjIDW3KejMT9p9EiWybOmxUrUN4kn67B2HGRTgD2ZXpoRdHzAJRBDwAC2M5zilTYn87OEDLDsO7FNDHt3GKoxWDj5Xq26NvUmFqDVP+L3+pOfVbxFSmj6V6EEGhDCG2dz6fhIUUqUVHePUDotehVSafPIraG5beMFjVDAR4AM7f8bqccqnBfphiAo+ENuu3zE152cTZEdaDmc1PjxoK3KhFJ/EvgtjRxt6sGzcyVVfmhIYSaLozRzF6brG5KmX+hjRz1MvnA2JJKQn4agGAhIZHXbPaFZ64GkaiAdhx rsa2048";
const DSA =
  "ssh-dss AAAAB3NzaC1kc3MAAACBAJEfV3T9emVXiZYSgDwwZ8be/swNvDfj3gQTE0fCS+l1WmCichyizR4lbelPl8L6UW0eM1X8MOC8C9tKvVHLqILjsVFqm5CNGlegW7bbxvNT+UpJAaBsuLUG8TxeBJjqhori4VT2177Erlxx+Rv13rLjVI9W2sPZ9mlQ2tC2istjAAAAFQDEBKAa8Y263IVD/XVUFiiCeqpjsQAAAIBg0ZE+iSXEN5/+dn+SgE2FtbWyezsu5Yf2Fqnp9PA6gXoB4OXf2ShCIyyanvuoGrq/HKkAFC+GiDQBHthPGKV1z6IT+MB1quo/pqfPIaRJdSb+8cBPrQSpJ5hDc13W0+pK6/DhOSahWe9NpqE5u65KAQG9+1naAgdB2k97Uv4gDAAAAIALBcpR+k9akfwoyEtEnQPFBhsVxDUfwf2IrqMrGcBEPRV7xklHcCo6JtII3/Js8OM8/5HXKb3dnsQ/tm0R4mEH7S4qMm0JFCJMBmY152zSJ0TEc7bTZDitsYqOVsVzkAd2VoMY30ERQD8W68u06Lg9oiZLDp3cepkbl/Lr6GCSeQ== dsa";

function resource(type: string, name: string, props: Record<string, unknown>, secretKeys: string[] = []): PolicyResource {
  return { urn: `urn:pulumi:t::mirrorstack::${type}::${name}`, name, type, props, secretKeys: new Set(secretKeys) };
}

function target(host: string, address = "192.0.2.1") {
  return { host, address, user: "root", port: 22, privateKeyPath: "/nonexistent/key" };
}

function file(host: string, path: string, content: string, extra: Record<string, unknown> = {}, secretKeys: string[] = []): PolicyResource {
  return resource(HOSTFILE, `${host}-${path.replace(/\//g, "-")}`, {
    target: target(host),
    stack: "t",
    path,
    kind: "whole",
    owner: "root",
    group: "root",
    mode: "0644",
    content,
    validate: "",
    actions: [],
    ...extra,
  }, secretKeys);
}

function replication(mirror: string, mirrorAddress: string, master = "db1"): PolicyResource {
  return resource(REPLICATION, `${mirror}-replication`, {
    master: target(master),
    mirror: target(mirror, mirrorAddress),
    sourceHost: "192.0.2.10",
    sourcePort: 3306,
    mirrorAddress,
    engine: { flavour: "mariadb", version: "10.11" },
    user: "mirrorstack_repl",
    password: "[secret]",
    databases: ["wiki"],
    method: "logical",
    catchUpTimeoutSeconds: 900,
    seedToken: "",
  }, ["password"]);
}

/** The resources SiteMirror (infra/components/siteMirror.ts) and MirrorHost make of a stack config (HostFile and MirrorReplication inputs). */
function resourcesOf(cfg: StackConfig, mirrorKeys: Record<string, string> = {}): PolicyResource[] {
  const plans = renderStack(cfg, { stack: cfg.stack, secrets: { replicationPassword: "[secret]", backupPassphrase: "passphrase-of-the-test" }, mirrorKeys });
  const out: PolicyResource[] = [];
  for (const plan of plans) {
    const h = cfg.hosts.find((x) => x.name === plan.host)!;
    for (const f of plan.files) {
      out.push(
        file(plan.host, f.path, f.content, {
          target: target(plan.host, plan.address),
          kind: f.kind,
          owner: f.owner,
          group: f.group,
          // As MirrorHost does: secret files are 0600 or stricter.
          mode: f.secret && !/^0?[0-7]00$/.test(f.mode) ? "0600" : f.mode,
          actions: actionWords(f.onChange, h.osFamily),
        }, f.secret ? ["content"] : []),
      );
    }
  }
  for (const m of cfg.mirrors) out.push(replication(m.name, m.address, cfg.master.name));
  return out;
}

function stackFromText(text: string, stack: string): { cfg: StackConfig; ctx: PolicyContext } {
  const { raw, secretKeys } = parseStackText(text, stack);
  const cfg = parseStackConfig(raw, { stack, secretKeys });
  return { cfg, ctx: contextFromConfig(cfg) };
}

function stackFromFile(stack: string): { cfg: StackConfig; ctx: PolicyContext } {
  const cfg = loadStackConfig(join(ROOT, `stacks/Pulumi.${stack}.yaml`), stack);
  return { cfg, ctx: contextFromConfig(cfg) };
}

/** Shapes a resource as @pulumi/policy hands it to policies. */
function packResource(r: PolicyResource) {
  return {
    type: r.type,
    props: r.props,
    urn: r.urn,
    name: r.name,
    opts: { additionalSecretOutputs: [...r.secretKeys], protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 } },
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
    getConfig: () => ({}),
    stackTags: new Map(),
    notApplicable: () => {
      throw new Error("not applicable");
    },
  };
}

/**
 * Runs the pack's policies (not the rules directly) as the engine does: every resource policy on each resource
 * with its new inputs, then every stack policy on the stack as the engine holds it (`recorded`, default: the same).
 */
function runPack(resources: PolicyResource[], ctx: PolicyContext, recorded: PolicyResource[] = resources): { policy: string; message: string; urn?: string }[] {
  const found: { policy: string; message: string; urn?: string }[] = [];
  const policies = mirrorstackPolicies({ context: () => ctx });
  for (const p of policies) {
    if (!("validateResource" in p) || !p.validateResource) continue;
    const validate = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource];
    for (const r of resources) {
      for (const v of validate) void v(packResource(r) as unknown as ResourceValidationArgs, (message) => found.push({ policy: p.name, message }));
    }
  }
  for (const p of policies) {
    if (!("validateStack" in p) || !p.validateStack) continue;
    const args = { resources: recorded.map(packResource), getConfig: () => ({}), stackTags: new Map(), notApplicable: () => undefined } as unknown as StackValidationArgs;
    const report: ReportViolation = (message, urn) => found.push({ policy: p.name, message, ...(urn ? { urn } : {}) });
    void p.validateStack(args, report);
  }
  return found;
}

function only(vs: Violation[], policy: string): Violation[] {
  return vs.filter((v) => v.policy === policy);
}

describe("policy: the example stacks pass", () => {
  for (const stack of ["staging", "prod", "lab"] as const) {
    it(`stacks/Pulumi.${stack}.yaml: no violation (rules and pack)`, () => {
      const { cfg, ctx } = stackFromFile(stack);
      const resources = resourcesOf(cfg, MIRROR_KEYS[stack] ?? {});
      expect(resources.length).toBeGreaterThan(5);
      expect(checkPolicies(resources, ctx)).toEqual([]);
      expect(runPack(resources, ctx)).toEqual([]);
    });
  }

  it("a lab-like stack with file trees and sync keys passes", () => {
    const { cfg, ctx } = stackFromText(LAB_LIKE_YAML, "lab");
    expect(checkPolicies(resourcesOf(cfg, MIRROR_KEYS.lab), ctx)).toEqual([]);
  });

  it("a stack whose overrides accept MIXED, rw and wildcard exports passes with its overrides, and not without", () => {
    const { cfg, ctx } = stackFromText(RHEL_MYSQL_YAML, "rhel-mysql");
    const resources = resourcesOf(cfg);
    expect(checkPolicies(resources, ctx)).toEqual([]);
    const strict = checkPolicies(resources, { ...STRICT_CONTEXT, mirrors: ctx.mirrors, ...(ctx.master ? { master: ctx.master } : {}) });
    // The mirrors keep a binary log in the same format (to be promotable), so they are named too.
    expect(strict.map((v) => `${v.policy} ${v.host} ${v.key}`)).toEqual([
      "binlog-format-row web-a database.binlogFormat",
      "binlog-format-row web-b database.binlogFormat",
      "binlog-format-row web-master database.binlogFormat",
      "nfs-export-safety web-master nfs.exports (/data/exports/shop).access",
      "nfs-export-safety web-master nfs.exports (/data/exports/shop).clients",
    ]);
  });

  it("the resources of every real lab preview pass (test/fixtures/review)", () => {
    const dir = join(ROOT, "test/fixtures/review");
    const names = readdirSync(dir).filter((f) => f.endsWith(".json") && f !== "weak-key.json");
    expect(names.length).toBeGreaterThan(3);
    for (const name of names) {
      const doc = parsePreviewJson(readFileSync(join(dir, name), "utf8"));
      // The switchover fixture's config names mirror1 as the master.
      const roles = name === "switchover.json" ? { master: "mirror1", mirrors: ["master", "mirror2"] } : { master: "master", mirrors: ["mirror1", "mirror2"] };
      const vs = checkPolicies(resourcesAfterUp(doc), { ...STRICT_CONTEXT, ...roles });
      expect(vs, name).toEqual([]);
    }
  });
});

describe("policy: each bad case is blocked, naming host and config key", () => {
  const ctx: PolicyContext = { ...STRICT_CONTEXT, master: "db1", mirrors: ["m1", "m2"] };
  const goodMirrorCnf = "[mysqld]\nserver_id = 101\nread_only = ON\n";

  it("replication users with host %", () => {
    const vs = checkPolicies([replication("m2", "%"), file("m2", "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf", goodMirrorCnf)], ctx);
    expect(vs).toEqual([
      expect.objectContaining({ policy: "replication-user-host", host: "m2", key: "mirrors[1].address", message: expect.stringContaining("'mirrorstack_repl'@'%' would accept replication logins from any host") }),
    ]);
    expect(only(checkPolicies([replication("m1", "10.0.0.%")], ctx), "replication-user-host")).toHaveLength(1);
    expect(only(checkPolicies([replication("m1", "")], ctx), "replication-user-host")).toHaveLength(1);
    expect(only(checkPolicies([replication("m1", "192.0.2.21")], ctx), "replication-user-host")).toEqual([]);
    // Exactly '%' with the account requiring the mirror's certificate (mirrors[].changingAddress): allowed; no other case.
    const tls = { replica: { caPath: "/etc/mirrorstack/tls/ca.pem", certPath: "/etc/mirrorstack/tls/client.pem", keyPath: "/etc/mirrorstack/tls/client.key", verifyServerCert: true }, require: { subject: "/O=mirrorstack/OU=s/CN=m1", issuer: "/O=mirrorstack/OU=s/CN=mirrorstack replication CA" } };
    const withTls = (addr: string, t: unknown) => {
      const r = replication("m1", addr);
      return { ...r, props: { ...r.props, tls: t } };
    };
    expect(only(checkPolicies([withTls("%", tls)], ctx), "replication-user-host")).toEqual([]);
    expect(only(checkPolicies([withTls("10.0.0.%", tls)], ctx), "replication-user-host")).toHaveLength(1);
    expect(only(checkPolicies([withTls("_", tls)], ctx), "replication-user-host")).toHaveLength(1);
    expect(only(checkPolicies([withTls("%", null)], ctx), "replication-user-host")).toHaveLength(1);
    expect(only(checkPolicies([withTls("%", { ...tls, require: { subject: "", issuer: tls.require.issuer } })], ctx), "replication-user-host")).toHaveLength(1);
    expect(only(checkPolicies([withTls("%", { ...tls, replica: { ...tls.replica, verifyServerCert: false } })], ctx), "replication-user-host")).toHaveLength(1);
    const grant = resource(COMMAND, "db1-setup", { target: target("db1"), create: "mariadb -e \"CREATE USER 'x'@'%' IDENTIFIED BY 'y'\"", update: "", delete: "", stdin: "", triggers: [] });
    expect(only(checkPolicies([grant], ctx), "replication-user-host")).toEqual([
      expect.objectContaining({ host: "db1", key: "database.replicationUser", message: "db1: db1-setup (create) creates or grants an account with host '%'" }),
    ]);
  });

  it("a sync key without restrict / command / from", () => {
    const path = "/etc/ssh/authorized_keys/mirrorsync";
    const ok = `restrict,from="192.0.2.21",command="/usr/local/sbin/mirrorstack-validate-rsync" ${ED25519}\n`;
    expect(only(checkPolicies([file("db1", path, ok)], ctx), "sync-key-restricted")).toEqual([]);
    const cases: [string, string][] = [
      [`${ED25519}\n`, "lacks restrict, command=\"...\", from=\"...\""],
      [`from="192.0.2.21",command="/x" ${ED25519}\n`, "lacks restrict"],
      [`restrict,command="/x" ${ED25519}\n`, "lacks from=\"...\""],
      [`restrict,from="192.0.2.21" ${ED25519}\n`, "lacks command=\"...\""],
      [`restrict,from="",command="/x" ${ED25519}\n`, "lacks from=\"...\""],
    ];
    for (const [content, why] of cases) {
      const vs = only(checkPolicies([file("db1", path, `# header\n${content}`)], ctx), "sync-key-restricted");
      expect(vs, content).toEqual([expect.objectContaining({ host: "db1", key: "files.syncUser", message: expect.stringContaining(why) })]);
      expect(vs[0]!.message).toContain(`${path} line 2 (a ssh-ed25519 key of the sync account mirrorsync`);
    }
  });

  it("DSA keys and RSA keys under 3072 bits", () => {
    const path = "/etc/ssh/authorized_keys/mirrorsync";
    const opts = 'restrict,from="192.0.2.21",command="/x"';
    const vs = only(checkPolicies([file("db1", path, `${opts} ${RSA2048}\n${opts} ${DSA}\n${opts} ${ED25519}\n`)], ctx), "ssh-key-strength");
    expect(vs.map((v) => v.message)).toEqual([
      `db1: ${path} line 1 is a 2048-bit RSA key; at least 3072 bits are required`,
      `db1: ${path} line 2 is a DSA key (ssh-dss), which OpenSSH no longer accepts and which is limited to 1024 bits`,
    ]);
    expect(vs.every((v) => v.key === "files.syncUser" && v.host === "db1")).toBe(true);
    // A pinned host key on a mirror.
    const kh = only(checkPolicies([file("m1", "/root/.ssh/mirrorstack_known_hosts", `192.0.2.10 ${RSA2048}\n`)], ctx), "ssh-key-strength");
    expect(kh).toEqual([expect.objectContaining({ host: "m1", key: "master.address" })]);
  });

  it("the deploying key: a weak key file named by ssh.privateKeyPath, checked once for all hosts", () => {
    const files: Record<string, string> = { "/keys/weak.pub": `${RSA2048}\n`, "/keys/good.pub": `${ED25519}\n` };
    const withKey = (p: string) => ({ ...ctx, readLocalFile: (f: string) => files[f] });
    const rs = ["db1", "m1"].map((h) => file(h, "/etc/x.conf", "x\n", { target: { ...target(h), privateKeyPath: "/keys/weak" } }));
    const vs = only(checkPolicies(rs, withKey("/keys/weak")), "ssh-key-strength");
    expect(vs).toEqual([expect.objectContaining({ host: "db1, m1", key: "ssh.privateKeyPath", message: "db1, m1: the deploying SSH key /keys/weak is a 2048-bit RSA key; at least 3072 bits are required" })]);
    const good = ["db1"].map((h) => file(h, "/etc/x.conf", "x\n", { target: { ...target(h), privateKeyPath: "/keys/good" } }));
    expect(only(checkPolicies(good, withKey("/keys/good")), "ssh-key-strength")).toEqual([]);
  });

  it("binlog_format other than ROW without database.allowUnsafeBinlogFormat", () => {
    const cnf = (fmt: string) => file("db1", "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf", `[client]\nbinlog_format = STATEMENT\n[mysqld]\nserver_id = 1\nbinlog-format = ${fmt}\n`);
    expect(only(checkPolicies([cnf("ROW")], ctx), "binlog-format-row")).toEqual([]);
    for (const fmt of ["MIXED", "statement"]) {
      expect(only(checkPolicies([cnf(fmt)], ctx), "binlog-format-row")).toEqual([
        expect.objectContaining({ host: "db1", key: "database.binlogFormat", message: expect.stringContaining(`binlog_format = ${fmt.toUpperCase()}`) }),
      ]);
    }
    expect(only(checkPolicies([cnf("MIXED")], { ...ctx, allowUnsafeBinlogFormat: true }), "binlog-format-row")).toEqual([]);
  });

  it("NFS exports read-write, to *, or without root squash, unless the export's override says so", () => {
    const exportsFile = (line: string) => file("db1", "/etc/exports", `# managed\n${line}\n`, { actions: ["nfs-kernel-server:exportfs"] });
    const withOverride = (o: Partial<PolicyContext["nfsExports"][number]>): PolicyContext => ({
      ...ctx,
      nfsExports: [{ index: 0, path: "/srv/www", allowReadWrite: false, allowWildcard: false, allowNoRootSquash: false, ...o }],
    });
    const strict = withOverride({});
    expect(only(checkPolicies([exportsFile("/srv/www 192.0.2.21(ro,sync,root_squash) 192.0.2.22(ro)")], strict), "nfs-export-safety")).toEqual([]);
    const rw = only(checkPolicies([exportsFile("/srv/www 192.0.2.21(rw,sync)")], strict), "nfs-export-safety");
    expect(rw).toEqual([expect.objectContaining({ host: "db1", key: "nfs.exports[0].access", message: expect.stringContaining("exports /srv/www read-write to 192.0.2.21; set nfs.exports[0].allowReadWrite: true") })]);
    expect(only(checkPolicies([exportsFile("/srv/www 192.0.2.21(rw,sync)")], withOverride({ allowReadWrite: true })), "nfs-export-safety")).toEqual([]);
    for (const line of ["/srv/www *(ro)", "/srv/www *.example.org(ro)", "/srv/www (ro)", "/srv/www", "/srv/www 0.0.0.0/0(ro)", "/srv/www -ro *"]) {
      const vs = only(checkPolicies([exportsFile(line)], strict), "nfs-export-safety");
      expect(vs.map((v) => v.key), line).toContain("nfs.exports[0].clients");
      expect(only(checkPolicies([exportsFile(line)], withOverride({ allowWildcard: true })), "nfs-export-safety").filter((v) => v.key.endsWith("clients")), line).toEqual([]);
    }
    expect(only(checkPolicies([exportsFile("/srv/www 192.0.2.21(ro,no_root_squash)")], strict), "nfs-export-safety").map((v) => v.key)).toEqual(["nfs.exports[0].rootSquash"]);
    // An export the config does not list by path (derived from files.trees, or written by hand): strict.
    expect(only(checkPolicies([exportsFile("/srv/other *(rw)")], strict), "nfs-export-safety").map((v) => v.key)).toEqual([
      "nfs.exports (/srv/other).access",
      "nfs.exports (/srv/other).clients",
    ]);
  });

  it("world-readable files that hold secrets", () => {
    const path = "/etc/mirrorstack/backup-passphrase";
    const secret = (mode: string) => file("m1", path, "[secret]", { mode }, ["content"]);
    expect(only(checkPolicies([secret("0600"), secret("0400")], ctx), "secret-file-not-world-readable")).toEqual([]);
    expect(only(checkPolicies([secret("0644")], ctx), "secret-file-not-world-readable")).toEqual([
      expect.objectContaining({ host: "m1", key: "backupPassphrase", message: `m1: ${path} holds a secret but has mode 0644 (others may read it); it must be 0600 or stricter` }),
    ]);
    // Secret by value (as preview JSON shows it), and plaintext private key material.
    expect(only(checkPolicies([file("m1", "/etc/x", "[secret]", { mode: "0604" })], ctx), "secret-file-not-world-readable")).toHaveLength(1);
    expect(only(checkPolicies([file("m1", "/root/k", "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n", { mode: "0755" })], ctx), "secret-file-not-world-readable")).toHaveLength(1);
    expect(only(checkPolicies([file("m1", "/etc/x", "plain\n", { mode: "0644" })], ctx), "secret-file-not-world-readable")).toEqual([]);
  });

  it("mirrors that are not read-only", () => {
    const cnf = "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf";
    const mirror = (content: string) => [replication("m1", "192.0.2.21"), file("m1", cnf, content)];
    expect(only(checkPolicies(mirror(goodMirrorCnf), ctx), "mirror-read-only")).toEqual([]);
    expect(only(checkPolicies(mirror("[mysqld]\nread-only\n"), ctx), "mirror-read-only")).toEqual([]);
    for (const content of ["[mysqld]\nserver_id = 101\n", "[mysqld]\nread_only = OFF\n", "[client]\nread_only = ON\n", "[mysqld]\nread_only = ON\n[mysqld]\nread_only = 0\n"]) {
      expect(only(checkPolicies(mirror(content), ctx), "mirror-read-only"), content).toEqual([
        expect.objectContaining({ host: "m1", key: "mirrors[0]", message: expect.stringContaining("m1 is a mirror but /etc/mysql/mariadb.conf.d/60-mirrorstack.cnf") }),
      ]);
    }
    // A managed mirror without any my.cnf.
    expect(only(checkPolicies([replication("m2", "192.0.2.22"), file("m2", "/etc/cron.d/x", "x\n")], ctx), "mirror-read-only")).toEqual([
      expect.objectContaining({ host: "m2", key: "mirrors[1]", message: expect.stringContaining("no managed my.cnf sets read_only") }),
    ]);
    // The master is not a mirror.
    expect(only(checkPolicies([file("db1", cnf, "[mysqld]\nserver_id = 1\n")], ctx), "mirror-read-only")).toEqual([]);
  });

  it("the pack reports the same violations, with host and key in each message, on the resource's URN", () => {
    const bad = [replication("m1", "%"), file("m1", "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf", "[mysqld]\nread_only = OFF\n")];
    const found = runPack(bad, ctx);
    expect(found.map((f) => f.policy)).toEqual(["replication-user-host", "mirror-read-only"]);
    expect(found[0]!.message).toMatch(/\[host: m1; config key: mirrors\[0\]\.address\]$/);
    expect(found[1]!.message).toMatch(/\[host: m1; config key: mirrors\[0\]\]$/);
    expect(found[0]!.urn).toBe(bad[0]!.urn);
  });

  it("the pack judges each resource's new inputs even when the engine's stack view still holds the recorded ones", () => {
    // A "same" step: the provider's diff ignores a new ssh.privateKeyPath, so the engine's stack view keeps the old one.
    const keys: Record<string, string> = { "/keys/weak.pub": `${RSA2048}\n`, "/keys/good.pub": `${ED25519}\n` };
    const withKeys = { ...ctx, readLocalFile: (f: string) => keys[f] };
    const mk = (key: string) => [file("db1", "/etc/x.conf", "x\n", { target: { ...target("db1"), privateKeyPath: key } })];
    const found = runPack(mk("/keys/weak"), withKeys, mk("/keys/good"));
    expect(found.map((f) => f.policy)).toEqual(["ssh-key-strength"]);
    expect(found[0]!.message).toContain("/keys/weak is a 2048-bit RSA key");
    expect(mirrorstackPolicies()[0]!.name).toBe(RECORDER);
  });

  it("values known only during up are not judged in preview (no false alarm, no skipped pack)", () => {
    const pending = file("db1", "/etc/ssh/authorized_keys/mirrorsync", UNKNOWN);
    expect(checkPolicies([pending], ctx)).toEqual([]);
    // @pulumi/policy's proxy throws on unknown values; the pack's copy turns them into the sentinel.
    const proxied = new Proxy({ path: "/etc/x", content: "c" } as Record<string, unknown>, {
      get: (o, k) => {
        if (k === "content") throw new Error("unknown value");
        return o[k as string];
      },
    });
    expect(plainProps(proxied)).toEqual({ path: "/etc/x", content: UNKNOWN });
    expect(fromPack({ urn: "u", name: "n", type: HOSTFILE, props: proxied, opts: { additionalSecretOutputs: ["content"] } }).secretKeys).toEqual(new Set(["content"]));
  });

  it("every rule has a unique name and a description", () => {
    expect(new Set(RULES.map((r) => r.name)).size).toBe(RULES.length);
    expect(RULES.length).toBe(7);
    for (const r of RULES) expect(r.description.length).toBeGreaterThan(20);
  });
});

describe("policy parsers", () => {
  it("reads key types and sizes from public keys and private key files", () => {
    expect(keysInText(`${RSA2048}\n`)[0]!.key).toEqual({ type: "ssh-rsa", bits: 2048 });
    expect(keysInText(`${ED25519}\n`)[0]!.key).toEqual({ type: "ssh-ed25519", bits: 256 });
    expect(keysInText(`${DSA}\n`)[0]!.key.type).toBe("ssh-dss");
    // Private key files: only their public half is read, without decrypting (encrypted keys are read too).
    const dir = mkdtempSync(join(tmpdir(), "policy-keys-"));
    try {
      const gen = (name: string, ...args: string[]) => {
        execFileSync("ssh-keygen", ["-q", "-N", "", "-f", join(dir, name), ...args]);
        return readFileSync(join(dir, name), "utf8");
      };
      expect(keyInfoFromPrivateKey(gen("ed", "-t", "ed25519"))).toEqual({ type: "ssh-ed25519", bits: 256 });
      expect(keyInfoFromPrivateKey(gen("rsa", "-t", "rsa", "-b", "3072"))).toEqual({ type: "ssh-rsa", bits: 3072 });
      execFileSync("ssh-keygen", ["-q", "-N", "a passphrase", "-t", "rsa", "-b", "2048", "-f", join(dir, "enc")]);
      expect(keyInfoFromPrivateKey(readFileSync(join(dir, "enc"), "utf8"))).toEqual({ type: "ssh-rsa", bits: 2048 });
      expect(keyInfoFromPrivateKey(gen("pem", "-t", "rsa", "-b", "2048", "-m", "PEM"))).toEqual({ type: "ssh-rsa", bits: 2048 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(keyInfoFromBlob(Buffer.from(RSA2048.split(" ")[1]!, "base64"))).toEqual({ type: "ssh-rsa", bits: 2048 });
  });

  it("splits authorized_keys options with quoted commas", () => {
    expect(splitOptions('restrict,from="10.0.0.1,10.0.0.2",command="/bin/x a,b"')).toEqual([
      { name: "restrict" },
      { name: "from", value: "10.0.0.1,10.0.0.2" },
      { name: "command", value: "/bin/x a,b" },
    ]);
  });

  it("reads my.cnf server sections and exports lines", () => {
    const o = serverOptions("[client]\nport=1\n[mysqld]\nread-only\nbinlog_format = 'MIXED' # x\n[mariadb-10.11]\nloose-server-id=5\n");
    expect(Object.fromEntries(o)).toEqual({ read_only: "", binlog_format: "MIXED", server_id: "5" });
    expect(parseExports("# c\n/a 1.2.3.4(ro) \\\n  5.6.7.8(rw)\n/b -rw,sync h1 h2(ro)\n")).toEqual([
      { line: 2, path: "/a", clients: [{ host: "1.2.3.4", options: ["ro"] }, { host: "5.6.7.8", options: ["rw"] }] },
      { line: 3, path: "/b", clients: [{ host: "h1", options: ["rw", "sync"] }, { host: "h2", options: ["ro"] }] },
    ]);
  });

  it("reads overrides and names from a stack config", () => {
    const { ctx } = stackFromText(RHEL_MYSQL_YAML, "rhel-mysql");
    expect(ctx).toEqual({
      master: "web-master",
      mirrors: ["web-a", "web-b"],
      allowUnsafeBinlogFormat: true,
      nfsExports: [{ index: 0, path: "/data/exports/shop", allowReadWrite: true, allowWildcard: true, allowNoRootSquash: false }],
      syncUser: "mirrorsync",
    });
  });
});
