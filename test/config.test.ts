// Parsing good stack configs: defaults, derived values, JSON-string input, secrets, stack files.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig, parseStackText, readStackFile } from "../infra/config";
import { lenientParse } from "../infra/config/parse";
import { filesSchema, sshSchema, stackSchema } from "../infra/config/schema";
import { renderStack } from "../infra/render";
import { contextFromConfig } from "../infra/review/context";
import { LAB_LIKE_YAML, ROOT } from "./render-stacks";
const SECRETS = new Set(["replicationPassword", "backupPassphrase"]);

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.lines();
    throw e;
  }
  return [];
}

describe("parseStackConfig: a lab-like stack", () => {
  const { raw, secretKeys } = parseStackText(LAB_LIKE_YAML, "lab.yaml");
  const cfg = parseStackConfig(raw, { stack: "lab", secretKeys });

  it("fills every default", () => {
    // (the shared lab-like stack also mirrors /srv/www)
    expect(cfg.database).toEqual({
      flavour: "mariadb",
      version: "10.11",
      databases: ["wiki"],
      binlogFormat: "ROW",
      allowUnsafeBinlogFormat: false,
      binlogRetentionDays: 7,
      mirrorBinlogRetentionDays: 7,
      replicationUser: "mirrorstack_repl",
      port: 3306,
      skipNameResolve: true,
      seedMethod: "logical",
      seedCompression: "zstd",
      catchUpTimeoutSeconds: 900,
      switchoverDeadlineSeconds: 30,
      switchoverMaxLagSeconds: 5,
    });
    expect(cfg.files).toEqual({
      method: "rsync-ssh",
      trees: [{ path: "/srv/www", exclude: [] }],
      rsyncOptions: ["-az", "--delete-delay", "--partial"],
      syncUser: "mirrorsync",
      rsyncPath: "/usr/bin/rsync",
      confineRoot: "auto",
      allowOldRsync: false,
    });
    expect(cfg.nfs).toBeUndefined();
    expect(cfg.cron).toEqual({ sync: "17 * * * *", backup: "40 3 * * *", binlogPurge: "10 4 * * *", healthCheck: "*/5 * * * *" });
    expect(cfg.backups).toEqual({ enabled: true, schedule: "40 3 * * *", retention: 7, destination: "/var/backups/mirrorstack", host: "mirror1" });
    expect(cfg.health).toEqual({ maxReplicationLagSeconds: 300, maxSyncAgeMinutes: 180, diskWarnPercent: 10, diskCritPercent: 5 });
    expect(cfg.ssh).toEqual({ user: "root", port: 22, privateKeyPath: ".lab/id_ed25519", knownHostsPath: ".lab/known_hosts", privateKeyInline: false });
    expect(cfg.warnings).toEqual([]);
  });

  it("derives server ids, ssh settings and bind addresses per host", () => {
    expect(cfg.hosts.map((h) => [h.name, h.role, h.serverId, h.sshUser, h.sshPort, h.osFamily, h.bindAddress])).toEqual([
      ["master", "master", 1, "root", 22, "debian", "10.250.0.10"],
      ["mirror1", "mirror", 100, "root", 22, "debian", "10.250.0.11"],
      ["mirror2", "mirror", 101, "root", 22, "debian", "10.250.0.12"],
      ["mirror3", "mirror", 102, "root", 22, "debian", "10.250.0.13"],
    ]);
    expect(cfg.master).toBe(cfg.hosts[0]);
    expect(cfg.mirrors).toEqual(cfg.hosts.slice(1));
  });

  it("parses the lab's own file once the database and secrets are added", () => {
    const lab = readStackFile(join(ROOT, "stacks/Pulumi.lab.yaml"));
    const withRest = {
      ...lab.raw,
      database: { databases: ["wiki"] },
      replicationPassword: "[secret]",
      backupPassphrase: "[secret]",
    };
    const c = parseStackConfig(withRest, { stack: "lab", secretKeys: SECRETS });
    expect(c.mirrors.length).toBeGreaterThan(0);
  });
});

describe("parseStackConfig: input forms", () => {
  const base = {
    master: { name: "db1", address: "192.0.2.10" },
    mirrors: [{ name: "db2", address: "192.0.2.11" }],
    database: { databases: ["wiki"] },
    replicationPassword: "s3cret-s3cret-s3cret",
    backupPassphrase: "another-long-passphrase",
  };

  it("accepts JSON strings for structured keys (how Pulumi passes them)", () => {
    const asJson = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
    const c = parseStackConfig({ ...asJson, ssh: '{"port":"2222"}', files: '{"trees":["/srv/www"],"rsyncOptions":"-az --delete"}' }, { stack: "s", secretKeys: SECRETS });
    expect(c.ssh.port).toBe(2222);
    expect(c.files.rsyncOptions).toEqual(["-az", "--delete"]);
    expect(c.files.trees).toEqual([{ path: "/srv/www", exclude: [] }]);
  });

  it("reports bad JSON by key", () => {
    expect(problems(() => parseStackConfig({ ...base, mirrors: "[{name: x}" }, { stack: "s", secretKeys: SECRETS }))).toEqual([
      expect.stringMatching(/^mirrorstack:mirrors: is not valid JSON/),
    ]);
  });

  it("requires secrets to be secret, and checks them without echoing them", () => {
    const lines = problems(() => parseStackConfig({ ...base, replicationPassword: "short pw" }, { stack: "s", secretKeys: new Set(["backupPassphrase"]) }));
    expect(lines).toContain("mirrorstack:replicationPassword: must be set with --secret (pulumi config set --secret replicationPassword ...); it is stored in clear text");
    expect(lines.join("\n")).not.toContain("short pw");
    expect(lines).toContain("mirrorstack:replicationPassword: the replication password must not contain whitespace, quotes, backticks, backslashes or $");
  });

  it("caps the replication password at what CHANGE MASTER accepts", () => {
    expect(problems(() => parseStackConfig({ ...base, replicationPassword: "x".repeat(33) }, { stack: "s", secretKeys: SECRETS }))).toEqual([
      "mirrorstack:replicationPassword: the replication password must be at most 32 characters long",
    ]);
  });

  it("does not need a backup passphrase when backups are off", () => {
    const { backupPassphrase: _, ...rest } = base;
    const c = parseStackConfig({ ...rest, backups: { enabled: false } }, { stack: "s", secretKeys: SECRETS });
    expect(c.backups.enabled).toBe(false);
  });

  it("accepts an inline ssh key as a secret", () => {
    const c = parseStackConfig({ ...base, sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n" }, {
      stack: "s",
      secretKeys: new Set([...SECRETS, "sshPrivateKey"]),
    });
    expect(c.ssh.privateKeyInline).toBe(true);
  });

  it("lets per-host settings override the defaults", () => {
    const c = parseStackConfig(
      {
        ...base,
        ssh: { user: "admin", port: 2200 },
        database: { databases: ["wiki"], bindAddress: "0.0.0.0", flavour: "mysql" },
        mirrors: [
          { name: "db2", address: "192.0.2.11", sshUser: "ops", sshPort: 22, osFamily: "rhel", bindAddress: "127.0.0.1", serverId: 42 },
          { name: "db3", address: "2001:db8::3" },
        ],
      },
      { stack: "s", secretKeys: SECRETS },
    );
    expect(c.database.version).toBe("8.0");
    expect(c.master).toMatchObject({ sshUser: "admin", sshPort: 2200, bindAddress: "0.0.0.0" });
    expect(c.mirrors[0]).toMatchObject({ sshUser: "ops", sshPort: 22, osFamily: "rhel", bindAddress: "127.0.0.1", serverId: 42 });
    expect(c.mirrors[1]).toMatchObject({ serverId: 101, address: "2001:db8::3" });
  });

  it("accepts STATEMENT with the override, with a warning", () => {
    const c = parseStackConfig({ ...base, database: { databases: ["wiki"], binlogFormat: "STATEMENT", allowUnsafeBinlogFormat: true } }, { stack: "s", secretKeys: SECRETS });
    expect(c.database.binlogFormat).toBe("STATEMENT");
    expect(c.warnings).toEqual([expect.stringMatching(/STATEMENT .* insert|INSERT/)]);
  });

  it("turns skip_name_resolve off and warns when a mirror is given by name", () => {
    const c = parseStackConfig({ ...base, mirrors: [{ name: "db2", address: "db2.example.org" }] }, { stack: "s", secretKeys: SECRETS });
    expect(c.database.skipNameResolve).toBe(false);
    expect(c.warnings.join("\n")).toMatch(/db2\.example\.org .*UseDNS/s);
  });

  it("takes files.schedule and backups.schedule as aliases of the cron keys", () => {
    const c = parseStackConfig(
      { ...base, files: { trees: ["/srv/www"], schedule: "5  * * * *" }, backups: { schedule: "1 2 * * *" }, cron: { sync: "5 * * * *" } },
      { stack: "s", secretKeys: SECRETS },
    );
    expect(c.cron.sync).toBe("5 * * * *");
    expect(c.cron.backup).toBe("1 2 * * *");
    expect(c.backups.schedule).toBe("1 2 * * *");
  });

  it("derives NFS exports from the trees and clients from the mirrors", () => {
    const c = parseStackConfig({ ...base, files: { method: "nfs", trees: ["/srv/export/www"] } }, { stack: "s", secretKeys: SECRETS });
    expect(c.nfs).toEqual({
      exportsGiven: false,
      exports: [
        { path: "/srv/export/www", clients: ["192.0.2.11"], access: "ro", sync: true, rootSquash: true, subtreeCheck: false, secure: true, mountPoint: "/mnt/mirrorstack/srv/export/www", copyTo: "/srv/export/www", allowReadWrite: false, allowWildcard: false, allowNoRootSquash: false },
      ],
      idmapDomain: "localdomain",
      nobodyUser: "nobody",
      threads: 8,
      mountOptions: ["hard", "noatime", "nosuid", "nodev", "_netdev", "vers=4.2"],
      tcpWrappers: { enabled: true, services: ["rpcbind", "mountd", "lockd", "statd", "rquotad"], clients: ["192.0.2.11"] },
    });
  });

  it("copies each NFS export to its own path by default, elsewhere with copyTo, not at all with pull: false", () => {
    const c = parseStackConfig(
      {
        ...base,
        files: { method: "nfs" },
        nfs: {
          exports: [
            { path: "/srv/a" },
            { path: "/srv/b", mountPoint: "/srv/b-live", copyTo: "/var/www/b" },
            { path: "/srv/c", mountPoint: "/srv/c", pull: false },
          ],
        },
      },
      { stack: "s", secretKeys: SECRETS },
    );
    expect(c.nfs!.exports.map((e) => [e.path, e.mountPoint, e.copyTo])).toEqual([
      ["/srv/a", "/mnt/mirrorstack/srv/a", "/srv/a"],
      ["/srv/b", "/srv/b-live", "/var/www/b"],
      ["/srv/c", "/srv/c", undefined],
    ]);
  });

  it("accepts NFS overrides, with warnings", () => {
    const c = parseStackConfig(
      {
        ...base,
        files: { method: "nfs" },
        nfs: { exports: [{ path: "/srv/www", access: "rw", allowReadWrite: true, clients: ["*.example.org"], allowWildcard: true, rootSquash: false, allowNoRootSquash: true }] },
      },
      { stack: "s", secretKeys: SECRETS },
    );
    expect(c.nfs!.exports[0]).toMatchObject({ access: "rw", rootSquash: false, clients: ["*.example.org"] });
    expect(c.warnings).toHaveLength(3);
  });
});

describe("readStackFile", () => {
  it("strips the namespace, replaces secure values and records secret keys (also nested ones)", () => {
    const dir = mkdtempSync(join(tmpdir(), "mirrorstack-"));
    const file = join(dir, "Pulumi.t.yaml");
    writeFileSync(
      file,
      [
        "encryptionsalt: v1:abc",
        "config:",
        "  pulumi:tags: {team: db}",
        "  command:timeout: 5",
        "  mirrorstack:master: {name: db1, address: 192.0.2.10}",
        "  mirrorstack:database:",
        "    databases: [wiki]",
        "    replicationPassword:",
        "      secure: v1:xyz",
        "  mirrorstack:mirrors:",
        "    - name: db2",
        "      address: {secure: v1:addr}",
        "  mirrorstack:replicationPassword:",
        "    secure: v1:pw",
        "",
      ].join("\n"),
    );
    const { raw, secretKeys } = readStackFile(file);
    expect(raw).toEqual({
      master: { name: "db1", address: "192.0.2.10" },
      database: { databases: ["wiki"], replicationPassword: "[secret]" },
      mirrors: [{ name: "db2", address: "[secret]" }],
      replicationPassword: "[secret]",
    });
    expect([...secretKeys].sort()).toEqual(["database", "database.replicationPassword", "mirrors", "mirrors[0].address", "replicationPassword"]);
  });

  it("rejects keys without the namespace and a mistyped namespace", () => {
    expect(problems(() => parseStackText("config:\n  master: {name: a}\n  mirorstack:mirrors: []\n  aws:region: x\n", "f.yaml"))).toEqual([
      "mirrorstack:master: is written without its namespace; write mirrorstack:master",
      'mirorstack:mirrors: unknown namespace "mirorstack" (did you mean mirrorstack:mirrors?)',
    ]);
  });

  it("merges YAML merge keys (<<) as the engine does, so render, preview and up see the same values", () => {
    const text = [
      "config:",
      "  mirrorstack:master: {name: db1, address: 192.0.2.10}",
      "  mirrorstack:mirrors:",
      "    - &mirror {name: db2, address: 192.0.2.11, serverId: 12}",
      "    - <<: *mirror",
      "      name: db3",
      "      address: 192.0.2.12",
      "      serverId: 13",
      "  mirrorstack:database:",
      "    <<: {databases: [wiki], port: 3307}",
      "    port: 3306",
      "",
    ].join("\n");
    expect(parseStackText(text, "f.yaml").raw).toEqual({
      master: { name: "db1", address: "192.0.2.10" },
      mirrors: [
        { name: "db2", address: "192.0.2.11", serverId: 12 },
        { name: "db3", address: "192.0.2.12", serverId: 13 },
      ],
      database: { databases: ["wiki"], port: 3306 },
    });
  });

  it("reports YAML syntax errors", () => {
    expect(problems(() => parseStackText("config:\n  mirrorstack:master: {name: a\n", "f.yaml"))[0]).toMatch(/^f\.yaml: is not valid YAML/);
  });

  it.each(["staging", "prod"])("the example stack %s parses", (stack) => {
    const { raw, secretKeys } = readStackFile(join(ROOT, `stacks/Pulumi.${stack}.yaml`));
    const c = parseStackConfig(raw, { stack, secretKeys });
    expect(c.stack).toBe(stack);
    expect(c.warnings).toEqual([]);
  });

  it("staging is 1 master + 2 mirrors with rsync, prod 1 + 3 with NFS", () => {
    const s = readStackFile(join(ROOT, "stacks/Pulumi.staging.yaml"));
    const p = readStackFile(join(ROOT, "stacks/Pulumi.prod.yaml"));
    const staging = parseStackConfig(s.raw, { stack: "staging", secretKeys: s.secretKeys });
    const prod = parseStackConfig(p.raw, { stack: "prod", secretKeys: p.secretKeys });
    expect([staging.mirrors.length, staging.files.method]).toEqual([2, "rsync-ssh"]);
    expect([prod.mirrors.length, prod.files.method]).toEqual([3, "nfs"]);
  });
});

/** A small valid stack (one mirror, no backups) for the cases below. */
const MINIMAL = {
  master: { name: "db1", address: "192.0.2.10" },
  mirrors: [{ name: "db2", address: "192.0.2.11" }],
  database: { databases: ["wiki"] },
  backups: { enabled: false },
  replicationPassword: "a-long-enough-password",
};

describe("one home for defaults: the rules that span keys read the schema's defaults", () => {
  const base = MINIMAL;

  it("lenientParse fills defaults, leaves failed values out and names them", () => {
    const failed = new Set<string>();
    const view = lenientParse(stackSchema, { ...base, files: { syncUser: "Bad User", trees: ["/srv/www", "/srv/../etc"] } }, failed) as {
      files: { syncUser?: string; method: string; rsyncPath: string; trees: ({ path?: string } | undefined)[] };
      ssh: { user: string };
    };
    expect([...failed].sort()).toEqual(["mirrorstack:files.syncUser", "mirrorstack:files.trees[1].path"]);
    expect(view.files.syncUser).toBeUndefined();
    expect(view.files.method).toBe(filesSchema.parse({}).method);
    expect(view.files.rsyncPath).toBe(filesSchema.parse({}).rsyncPath);
    expect(view.files.trees[0]).toEqual({ path: "/srv/www", exclude: [] });
    expect(view.files.trees[1]).toEqual({ exclude: [] });
    expect(view.ssh.user).toBe(sshSchema.parse({}).user);
  });

  it("the sync user's default clashes with an SSH login of that name, whatever the default is", () => {
    const dflt = filesSchema.parse({}).syncUser;
    const lines = problems(() => parseStackConfig({ ...base, ssh: { user: dflt } }, { stack: "s", secretKeys: SECRETS }));
    expect(lines).toContain(`mirrorstack:files.syncUser: "${dflt}" is also an SSH login user; the sync account must be a dedicated account`);
  });

  it("an invalid value is reported once by the schema, not again by a rule fed its default", () => {
    // syncUser is invalid, so the rule comparing it with the SSH logins must not run on the default instead.
    const lines = problems(() =>
      parseStackConfig({ ...base, ssh: { user: filesSchema.parse({}).syncUser }, files: { syncUser: "Bad User" } }, { stack: "s", secretKeys: SECRETS }),
    );
    expect(lines.filter((l) => l.startsWith("mirrorstack:files.syncUser:"))).toHaveLength(1);
    expect(lines.join("\n")).not.toMatch(/dedicated account/);
  });

  it("the policy context comes from the resolved config (explicit NFS exports only)", () => {
    const nfs = (extra: object) =>
      parseStackConfig({ ...base, files: { method: "nfs", trees: ["/srv/x"] }, ...extra }, { stack: "s", secretKeys: SECRETS });
    expect(contextFromConfig(nfs({})).nfsExports).toEqual([]);
    const given = contextFromConfig(nfs({ nfs: { exports: [{ path: "/srv/x", access: "rw", allowReadWrite: true }] } }));
    expect(given).toMatchObject({ master: "db1", mirrors: ["db2"], syncUser: filesSchema.parse({}).syncUser });
    expect(given.nfsExports).toEqual([{ index: 0, path: "/srv/x", allowReadWrite: true, allowWildcard: false, allowNoRootSquash: false }]);
  });
});

describe("a mirrored tree whose name holds a space", () => {
  const base = MINIMAL;

  it("is accepted with rsync-ssh, and the mirror's pull names it as validate-rsync takes it", () => {
    const cfg = parseStackConfig({ ...base, files: { trees: ["/srv/my photos"] } }, { stack: "s", secretKeys: SECRETS });
    expect(cfg.files.trees.map((t) => t.path)).toEqual(["/srv/my photos"]);
    const sync = renderStack(cfg, { stack: "s", secrets: { replicationPassword: "x", backupPassphrase: "y" } })
      .find((p) => p.host === "db2")!
      .files.find((f) => f.path === "/usr/local/sbin/mirrorstack-sync")!;
    expect(sync.content).toContain(`RSYNC_OLD_ARGS=1 rsync '-az' '--delete-delay' '--partial' -e "$SSH_COMMAND" -- "$SOURCE":'/srv/my\\ photos'/ '/srv/my photos'/`);
  });

  it.each([
    [{ trees: ["/srv/ photos"] }, /a space may only stand alone inside a name/],
    [{ trees: ["/srv/my\tphotos"] }, /allowed: letters, digits and \. _ \/ \+ @ -, and single spaces inside a name/],
    [{ method: "nfs", trees: ["/srv/my photos"] }, /holds a space, which an NFS export cannot/],
  ])("is refused where it cannot work: %j", (files, message) => {
    const lines = problems(() => parseStackConfig({ ...base, files }, { stack: "s", secretKeys: SECRETS }));
    expect(lines.some((l) => l.startsWith("mirrorstack:files.trees[0].path: ") && message.test(l)), lines.join("\n")).toBe(true);
  });
});
