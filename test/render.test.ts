// renderStack: snapshots of every rendered file for the example stacks, plus the rules every file follows.
import { describe, expect, it } from "vitest";
import { parseStackConfig } from "../infra/config";
import { renderStack } from "../infra/render";
import type { HostPlan, RenderedFile } from "../infra/render/types";
import { renderValidateRsync } from "../infra/render/validate-rsync";
import { MIRROR_KEYS, STACKS, loadStack } from "./render-stacks";

const PLACEHOLDERS = { replicationPassword: "[secret]", backupPassphrase: "[secret]" };

function render(stack: (typeof STACKS)[number], mirrorKeys = MIRROR_KEYS[stack]): HostPlan[] {
  return renderStack(loadStack(stack), { stack, secrets: PLACEHOLDERS, ...(mirrorKeys ? { mirrorKeys } : {}) });
}

function file(plans: readonly HostPlan[], host: string, path: string): RenderedFile {
  const f = plans.find((p) => p.host === host)?.files.find((x) => x.path === path);
  if (!f) throw new Error(`${host} has no ${path}`);
  return f;
}

function paths(plans: readonly HostPlan[], host: string): string[] {
  return plans.find((p) => p.host === host)!.files.map((f) => f.path);
}

describe.each(STACKS)("stack %s", (stack) => {
  const plans = render(stack);

  it("matches the file snapshots", async () => {
    for (const p of plans) {
      for (const f of p.files) {
        // validate-rsync is pinned by its own tests (test/validate-rsync.test.ts); here: it is that renderer's output.
        if (f.path === "/usr/local/lib/mirrorstack/validate-rsync") {
          const cfg = loadStack(stack);
          expect(f.content).toBe(
            renderValidateRsync({ trees: cfg.files.trees.map((t) => t.path), rsyncPath: cfg.files.rsyncPath, confineRoot: cfg.files.confineRoot, stack }),
          );
          continue;
        }
        await expect(f.content).toMatchFileSnapshot(`__snapshots__/render/${stack}/${p.host}${f.path}`);
      }
    }
  });

  it("matches the plan snapshot (metadata and validation of every file)", () => {
    const meta = plans.map((p) => ({
      host: p.host,
      role: p.role,
      address: p.address,
      files: p.files.map(({ content: _, completion, ...rest }) => ({ ...rest, ...(completion ? { completes: completion.needs } : {}) })),
    }));
    expect(meta).toMatchSnapshot();
  });

  it("starts every file with the managed-by header naming the stack", () => {
    for (const p of plans) {
      for (const f of p.files) {
        const lines = f.content.split("\n");
        // A script's first line is its #!, a PHP file's its <?php: the header comes right after.
        const first = lines[0]!.startsWith("#!") || lines[0] === "<?php" ? lines[1]! : lines[0]!;
        expect(first, `${p.host}:${f.path}`).toBe(
          `# This ${f.kind === "block" ? "block" : "file"} is managed by mirrorstack (stack: ${stack}). Do not edit: the next deployment overwrites it.`,
        );
        expect(f.content.endsWith("\n"), `${p.host}:${f.path} ends with a newline`).toBe(true);
      }
    }
  });

  it("keeps paths absolute and unique per host, modes octal, secrets 0600, scripts checked with bash -n", () => {
    for (const p of plans) {
      const seen = new Set<string>();
      for (const f of p.files) {
        expect(f.path).toMatch(/^\/[A-Za-z0-9._/-]+$/);
        expect(seen.has(f.path), `${p.host}:${f.path} twice`).toBe(false);
        seen.add(f.path);
        expect(f.mode).toMatch(/^0[0-7]{3}$/);
        if (f.secret) expect(f.mode).toBe("0600");
        if (f.content.startsWith("#!/bin/bash")) expect(f.validate).toBe('bash -n "$FILE"');
        expect(f.description).not.toMatch(/\n/);
        if (f.path.startsWith("/etc/cron.d/")) expect(f.path).toMatch(/^\/etc\/cron\.d\/mirrorstack-[a-z-]+$/);
      }
    }
  });

  it("completes files at apply time exactly as rendering with the real values would", () => {
    const real = { replicationPassword: "r".repeat(20), backupPassphrase: "PASS-PHRASE-0123456789" };
    const once = renderStack(loadStack(stack), { stack, secrets: PLACEHOLDERS });
    const withValues = renderStack(loadStack(stack), { stack, secrets: real, ...(MIRROR_KEYS[stack] ? { mirrorKeys: MIRROR_KEYS[stack] } : {}) });
    let completed = 0;
    for (const p of once) {
      for (const f of p.files) {
        const c = f.completion;
        if (!c) continue;
        expect(c.needs, `${p.host}:${f.path}`).not.toBe("taker-key"); // only the backup host's files (push.ts)
        const made = c.needs === "secrets" ? c.content(real) : c.needs === "mirror-keys" ? c.content(MIRROR_KEYS[stack] ?? {}) : "";
        expect(made, `${p.host}:${f.path}`).toBe(file(withValues, p.host, f.path).content);
        completed++;
      }
    }
    expect(completed).toBeGreaterThan(0);
  });

  it("says who applies each file: file mirroring waits for the mirrors' keys, secrets are completed by the host", () => {
    for (const p of plans) {
      for (const f of p.files) {
        if (f.secret) expect(f.completion?.needs, `${p.host}:${f.path}`).toBe("secrets");
        if (f.completion?.needs === "secrets") expect(f.appliedBy).toBe("host");
        if (f.completion?.needs === "mirror-keys") expect(f.appliedBy).toBe("file-mirroring");
        if (/\/(authorized_keys|sshd_config\.d)\/|validate-rsync$|\/exports$|mirrorstack-sync$/.test(f.path)) expect(f.appliedBy, `${p.host}:${f.path}`).toBe("file-mirroring");
        if (/\/(my\.cnf\.d|mariadb\.conf\.d|mysql\.conf\.d)\//.test(f.path)) expect(f.appliedBy, `${p.host}:${f.path}`).toBe("host");
      }
    }
  });

  it("renders the same files twice (pure and deterministic)", () => {
    // Completions are functions: compare what they make from the same values.
    const data = (ps: HostPlan[]) =>
      ps.map((p) => ({
        ...p,
        files: p.files.map(({ completion, ...rest }) => ({
          ...rest,
          completed:
            completion?.needs === "secrets"
              ? completion.content({ replicationPassword: "r".repeat(20), backupPassphrase: "PASS-PHRASE-0123456789" })
              : completion?.needs === "mirror-keys"
                ? completion.content(MIRROR_KEYS[stack] ?? {})
                : undefined,
        })),
      }));
    expect(data(render(stack))).toEqual(data(plans));
  });

  it("gives every host its my.cnf drop-in with its own server id", () => {
    const ids = plans.map((p) => {
      const cnf = p.files[0]!;
      expect(cnf.path).toMatch(/60-mirrorstack\.cnf$/);
      return /^server_id = (\d+)$/m.exec(cnf.content)![1];
    });
    expect(new Set(ids).size).toBe(plans.length);
  });
});

describe("what each mode renders", () => {
  it("rsync-ssh (staging): forced command, keys and sshd on the master; sync job on the mirrors; no NFS", () => {
    const plans = render("staging");
    expect(paths(plans, "stg-db1")).toEqual([
      "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf",
      "/usr/local/lib/mirrorstack/validate-rsync",
      "/etc/ssh/authorized_keys/mirrorsync",
      "/etc/ssh/sshd_config.d/60-mirrorstack.conf",
      "/usr/local/sbin/mirrorstack-binlog-purge",
      "/etc/cron.d/mirrorstack-binlog-purge",
      "/usr/local/sbin/mirrorstack-health",
      "/etc/cron.d/mirrorstack-health",
      "/etc/logrotate.d/mirrorstack",
      "/etc/apache2/sites-enabled/00-mirrorstack.conf",
      "/etc/mirrorstack/site.php",
    ]);
    expect(paths(plans, "stg-db2")).toEqual([
      "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf",
      "/usr/local/sbin/mirrorstack-sync",
      "/etc/cron.d/mirrorstack-sync",
      "/etc/mirrorstack/backup-passphrase",
      "/usr/local/sbin/mirrorstack-backup",
      "/etc/cron.d/mirrorstack-backup",
      "/usr/local/sbin/mirrorstack-health",
      "/etc/cron.d/mirrorstack-health",
      "/etc/logrotate.d/mirrorstack",
      "/etc/apache2/sites-enabled/00-mirrorstack.conf",
      "/etc/mirrorstack/site.php",
    ]);
    expect(paths(plans, "stg-db3")).not.toContain("/usr/local/sbin/mirrorstack-backup");
    expect(paths(plans, "stg-db3"), "a host without web: true serves nothing").not.toContain("/etc/mirrorstack/site.php");
  });

  it("nfs (prod): exports, wrappers, idmapd, defaults and the export fstab block on the master; mounts on mirrors", () => {
    const plans = render("prod");
    expect(paths(plans, "db-master")).toEqual([
      "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf",
      "/etc/fstab",
      "/etc/idmapd.conf",
      "/etc/default/nfs-kernel-server",
      "/etc/exports",
      "/etc/hosts.allow",
      "/etc/hosts.deny",
      "/usr/local/sbin/mirrorstack-binlog-purge",
      "/etc/cron.d/mirrorstack-binlog-purge",
      "/usr/local/sbin/mirrorstack-health",
      "/etc/cron.d/mirrorstack-health",
      "/etc/logrotate.d/mirrorstack",
    ]);
    expect(paths(plans, "db-mirror1")).toEqual([
      "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf",
      "/etc/idmapd.conf",
      "/etc/fstab",
      "/usr/local/sbin/mirrorstack-sync",
      "/etc/cron.d/mirrorstack-sync",
      "/usr/local/sbin/mirrorstack-health",
      "/etc/cron.d/mirrorstack-health",
      "/etc/logrotate.d/mirrorstack",
    ]);
    // The mirror copies the mount into its local tree: only from a live mount, locally (no compression, no ssh).
    const copy = file(plans, "db-mirror1", "/usr/local/sbin/mirrorstack-sync").content;
    expect(copy).toContain("rsync '-a' '--delete-delay' '--partial' -- '/srv/www'/ '/srv/export/www'/\n");
    expect(copy).toMatch(/if ! timeout 30 mountpoint -q '\/srv\/www'; then\n(.*\n){2}  rc=100 .*\nelse\n/);
    expect(copy).not.toMatch(/ssh|SOURCE/);
    expect(file(plans, "db-mirror1", "/etc/cron.d/mirrorstack-sync").content).toMatch(/^17 \* \* \* \* root \/usr\/local\/sbin\/mirrorstack-sync$/m);
    const fstab = file(plans, "db-master", "/etc/fstab");
    expect(fstab.kind).toBe("block");
    expect(fstab.content).toContain("UUID=3f1c9a52-7d0e-4b8e-9a41-2c6d5e8f0a17 /srv/export ext4 defaults,acl,nodev,nosuid 0 2\n");
    expect(file(plans, "db-mirror3", "/etc/fstab").content).toContain(
      "198.51.100.10:/srv/export/www /srv/www nfs ro,hard,noatime,nosuid,nodev,_netdev,vers=4.2 0 0\n",
    );
    expect(file(plans, "db-master", "/etc/exports").content).toContain(
      "/srv/export/www 198.51.100.21(ro,sync,root_squash,no_subtree_check,secure) 198.51.100.22(ro,sync,root_squash,no_subtree_check,secure) 2001:db8:100::23(ro,sync,root_squash,no_subtree_check,secure)\n",
    );
    expect(file(plans, "db-master", "/etc/hosts.allow").content).toContain(
      "rpcbind mountd lockd statd rquotad: 127.0.0.1 [::1] 198.51.100.21 198.51.100.22 [2001:db8:100::23]\n",
    );
    expect(file(plans, "db-master", "/etc/hosts.deny").content).toContain("rpcbind mountd lockd statd rquotad: ALL\n");
    expect(file(plans, "db-mirror3", "/usr/local/sbin/mirrorstack-backup").content).toContain("readonly DATABASES=('wiki' 'shop' 'forum')");
  });

  it("rhel + mysql: RHEL paths, MySQL options, IPv6 master in mount sources, wrapper networks as net/mask", () => {
    const plans = render("rhel-mysql");
    expect(paths(plans, "web-master")).toContain("/etc/my.cnf.d/60-mirrorstack.cnf");
    expect(paths(plans, "web-master")).toContain("/etc/sysconfig/nfs");
    expect(paths(plans, "web-b")).toContain("/etc/mysql/mysql.conf.d/60-mirrorstack.cnf");
    const master = file(plans, "web-master", "/etc/my.cnf.d/60-mirrorstack.cnf").content;
    expect(master).toContain("log_bin = /var/lib/mysql/mysql-bin\n");
    expect(master).toContain("binlog_format = MIXED\n");
    expect(master).toContain("binlog_expire_logs_seconds = 259200\n");
    expect(master).toContain("gtid_mode = ON\n");
    expect(master).not.toContain("skip_name_resolve = ON");
    const mirror = file(plans, "web-a", "/etc/my.cnf.d/60-mirrorstack.cnf").content;
    expect(mirror).toContain("super_read_only = ON\n");
    // A promotable mirror: a binary log with the replicated changes in it (mirrorctl switchover / failover).
    expect(mirror).toContain("log_replica_updates = ON\n");
    expect(mirror).toContain("log_bin = /var/lib/mysql/mysql-bin\n");
    expect(mirror).not.toContain("skip-log-bin");
    expect(file(plans, "web-a", "/etc/my.cnf.d/60-mirrorstack.cnf").onChange).toEqual([{ service: "mysql", action: "settings" }]);
    expect(file(plans, "web-b", "/etc/fstab").content).toContain("[2001:db8:5::10]:/data/exports/shop /var/www/shop nfs rw,hard,vers=4.1,_netdev 0 0\n");
    expect(file(plans, "web-master", "/etc/hosts.allow").content).toContain(
      "portmap mountd: 127.0.0.1 [::1] 203.0.113.0/255.255.255.0 [2001:db8:5::]/64 web-b.example.org\n",
    );
    expect(file(plans, "web-master", "/etc/exports").content).toContain("*.example.org(rw,async,root_squash,no_subtree_check,secure)");
    expect(file(plans, "web-a", "/etc/idmapd.conf").content).toContain("Nobody-Group = nobody\n");
    expect(file(plans, "web-b", "/etc/idmapd.conf").content).toContain("Nobody-Group = nogroup\n");
    expect(paths(plans, "web-master")).toContain("/usr/local/sbin/mirrorstack-backup");
    expect(file(plans, "web-a", "/usr/local/sbin/mirrorstack-health").content).toContain("SHOW REPLICA STATUS");
  });

  it("no trees: no file-mirroring files at all", () => {
    const cfg = parseStackConfig(
      {
        master: { name: "a", address: "192.0.2.1" },
        mirrors: [{ name: "b", address: "192.0.2.2" }],
        database: { databases: ["wiki"], version: "10.5" },
        replicationPassword: "[secret]",
        backups: { enabled: false },
      },
      { stack: "t", secretKeys: new Set(["replicationPassword"]) },
    );
    const plans = renderStack(cfg, { stack: "t", secrets: PLACEHOLDERS });
    const all = plans.flatMap((p) => p.files.map((f) => f.path));
    expect(all.filter((p) => /sync|authorized_keys|sshd|exports|fstab|backup/.test(p))).toEqual([]);
    // MariaDB 10.5 predates binlog_expire_logs_seconds.
    expect(plans[0]!.files[0]!.content).toContain("expire_logs_days = 7\n");
  });
});

describe("sync keys in authorized_keys", () => {
  it("restricts each known key to validate-rsync and its mirror's address; placeholders for unknown keys", () => {
    const content = file(render("staging"), "stg-db1", "/etc/ssh/authorized_keys/mirrorsync").content;
    expect(content).toContain(
      `restrict,from="192.0.2.11",command="/usr/local/lib/mirrorstack/validate-rsync" ${MIRROR_KEYS["staging"]!["stg-db2"]}\n`,
    );
    expect(content).toContain("# mirror stg-db3 (192.0.2.12): sync key not known yet;");
    expect(content.split("\n").filter((l) => l !== "" && !l.startsWith("#"))).toHaveLength(1);
  });

  it("rejects keys that are not one OpenSSH public key, and unknown mirrors", () => {
    const cfg = loadStack("staging");
    const bad = (mirrorKeys: Record<string, string>) => () => renderStack(cfg, { stack: "staging", secrets: PLACEHOLDERS, mirrorKeys });
    expect(bad({ "stg-db2": 'ssh-ed25519 AAAA\ncommand="sh" ssh-ed25519 AAAA' })).toThrow(/mirrorKeys\.stg-db2: must be a single line/);
    expect(bad({ "stg-db2": 'command="sh" ssh-ed25519 AAAA' })).toThrow(/mirrorKeys\.stg-db2/);
    expect(bad({ "stg-db2": "ssh-ed25519 AAAA ev\"il" })).toThrow(/comment/);
    expect(bad({ nope: MIRROR_KEYS["staging"]!["stg-db2"]! })).toThrow(/not a mirror/);
  });
});

describe("secrets", () => {
  it("puts the backup passphrase only into the secret 0600 passphrase file on the backup host", () => {
    const cfg = loadStack("staging");
    const plans = renderStack(cfg, { stack: "staging", secrets: { replicationPassword: "r".repeat(20), backupPassphrase: "PASS-PHRASE-0123456789" } });
    const holders = plans.flatMap((p) => p.files.filter((f) => f.content.includes("PASS-PHRASE-0123456789")).map((f) => [p.host, f.path, f.secret, f.mode]));
    expect(holders).toEqual([["stg-db2", "/etc/mirrorstack/backup-passphrase", true, "0600"]]);
    expect(file(plans, "stg-db2", "/etc/mirrorstack/backup-passphrase").content.split("\n").at(-2)).toBe("PASS-PHRASE-0123456789");
    expect(plans.flatMap((p) => p.files).some((f) => f.content.includes("r".repeat(20)))).toBe(false);
  });

  it("refuses a multi-line passphrase and a stack name that does not match", () => {
    const cfg = loadStack("staging");
    expect(() => renderStack(cfg, { stack: "staging", secrets: { replicationPassword: "x", backupPassphrase: "a\nb" } })).toThrow(/single line/);
    expect(() => renderStack(cfg, { stack: "prod", secrets: PLACEHOLDERS })).toThrow(/does not match/);
  });
});
