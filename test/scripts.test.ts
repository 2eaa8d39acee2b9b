// The scripts the deployment runs once per change (infra/render/scripts.ts, templates/steps/): rendered for the
// test stacks the way the components render them, pinned by file snapshots and checked with `bash -n`. Then
// shellcheck on every shell script mirrorstack renders or runs: those, every `templates/*.sh.hbs` rendered for
// the test stacks, and the apply engine infra/providers/hostfile.sh.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { addressForHostPath } from "../infra/config/checks";
import type { StackConfig } from "../infra/config/types";
import { softwareFor } from "../infra/components/software";
import { renderStack } from "../infra/render";
import { PATHS } from "../infra/render/common";
import { renderBackupHostFiles } from "../infra/render/push";
import type { FileBody } from "../infra/render/types";
import * as scripts from "../infra/render/scripts";
import * as tls from "../infra/render/tls";
import { TEMPLATE_DIR } from "../infra/render/templates";
import { MIRROR_KEYS, ROOT, STACKS, loadStack } from "./render-stacks";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAwWoxiIdDBPICL2CyNXthZ2DyYnyXb/28DLh4Ou/oNa mirrorstack-backup@x";

/** One rendered script: the template it comes from and a name unique within its stack. */
interface Script {
  readonly name: string;
  readonly template: string;
  readonly text: string;
}

/** The step scripts of a stack, with the inputs the components give them (stamps fixed: they are hashed). */
function stepScripts(cfg: StackConfig): Script[] {
  const out: Script[] = [];
  const add = (name: string, template: string, text: string) => out.push({ name, template: `steps/${template}`, text });
  const method = cfg.files.trees.length === 0 ? "none" : cfg.files.method;
  for (const h of cfg.hosts) {
    add(`ensure-software-${h.name}`, "ensure-software.sh.hbs", scripts.ensureSoftwareScript(softwareFor(h.role, h.osFamily, cfg.database.flavour, method), h.osFamily));
  }
  const master = cfg.master;
  if (cfg.files.method === "nfs" && cfg.nfs) {
    const nfs = cfg.nfs;
    add("nfs-server", "nfs-server.sh.hbs", scripts.nfsServerScript({
      host: master.name,
      os: master.osFamily,
      exports: nfs.exports.map((e) => e.path),
      ...(nfs.filesystem ? { filesystem: nfs.filesystem.mountpoint } : {}),
      stamp: "exports",
    }));
    add("nfs-server-remove", "nfs-server-remove.sh.hbs", scripts.nfsServerRemoveScript({ host: master.name, exports: nfs.exports.map((e) => ({ path: e.path, clients: [...e.clients] })) }));
    add("nfs-mount-remove", "nfs-mount-remove.sh.hbs", scripts.nfsMountRemoveScript({ host: cfg.mirrors[0]!.name, targets: nfs.exports.map((e) => e.mountPoint) }));
    for (const m of cfg.mirrors) {
      add(`nfs-mount-${m.name}`, "nfs-mount.sh.hbs", scripts.nfsMountScript({
        host: m.name,
        mounts: nfs.exports.map((e) => ({ source: `${addressForHostPath(master.address)}:${e.path}`, target: e.mountPoint })),
        stamp: "fstab",
      }));
    }
  }
  if (cfg.files.method === "rsync-ssh" && cfg.files.trees.length > 0) {
    const user = cfg.files.syncUser;
    const account = { host: master.name, user, rsyncPath: cfg.files.rsyncPath, trees: cfg.files.trees.map((t) => t.path) };
    add("sync-account", "sync-account.sh.hbs", scripts.syncAccountScript({ ...account, allowOldRsync: cfg.files.allowOldRsync }));
    add("sync-account-allow-old", "sync-account.sh.hbs", scripts.syncAccountScript({ ...account, allowOldRsync: !cfg.files.allowOldRsync }));
    add("sync-account-remove", "sync-account-remove.sh.hbs", scripts.removeSyncAccountScript(user));
    add("sync-check", "sync-check.sh.hbs", scripts.syncCheckScript({
      host: master.name,
      user,
      mirrors: cfg.mirrors.map((m) => ({ name: m.name, address: m.address })),
      stamp: "keys",
    }));
    add("sync-key", "key-pair.sh.hbs", scripts.syncKeyScript({ host: cfg.mirrors[0]!.name, owner: cfg.files.owner, group: cfg.files.group }));
    add("sync-key-owner-group", "key-pair.sh.hbs", scripts.syncKeyScript({ host: cfg.mirrors[0]!.name, owner: "www-data", group: "www-data" }));
    add("sync-key-remove", "key-pair-remove.sh.hbs", scripts.removeKeyPairScript(PATHS.syncKey));
    add("host-keys", "host-keys.sh.hbs", scripts.hostKeysScript());
  }
  if (cfg.tls.enabled) {
    for (const c of tls.certPlans(cfg)) {
      add(`tls-key-${c.host}`, "tls-key.sh.hbs", tls.tlsKeyScript(c));
      add(`tls-install-${c.host}`, "tls-install.sh.hbs", tls.tlsInstallScript(c));
    }
    add("tls-remove", "tls-remove.sh.hbs", tls.tlsRemoveScript());
  }
  for (const kind of ["logical", "physical", "raw"] as const) {
    if (kind === "physical" && cfg.database.flavour !== "mariadb") continue;
    const seed = scripts.seedScripts({ kind, flavour: cfg.database.flavour, databases: cfg.database.databases });
    if (kind === "logical") {
      add("seed-key", "seed-key.sh.hbs", seed.key);
      add("seed-authorize", "seed-authorize.sh.hbs", seed.authorize);
      add("seed-cleanup", "seed-cleanup.sh.hbs", seed.cleanup);
    }
    add(`seed-send-${kind}`, "seed-send.sh.hbs", seed.send);
    add(`seed-receive-${kind}`, "seed-receive.sh.hbs", seed.receive);
    if (kind !== "raw") {
      const plain = scripts.seedScripts({ kind, flavour: cfg.database.flavour, databases: cfg.database.databases, compression: "none" });
      add(`seed-send-${kind}-uncompressed`, "seed-send.sh.hbs", plain.send);
      add(`seed-receive-${kind}-uncompressed`, "seed-receive.sh.hbs", plain.receive);
    }
  }
  for (const h of cfg.hosts.filter((x) => x.web)) {
    const site = scripts.siteAccountScripts({ role: h.role, flavour: cfg.database.flavour, user: "www-data", database: cfg.web.database });
    add(`site-account-${h.name}`, "site-account.sh.hbs", site.create);
    add(`site-account-remove-${h.name}`, "site-account-remove.sh.hbs", site.delete);
  }
  const push = cfg.backups.push;
  if (cfg.backups.enabled && push) {
    add("backup-push-key", "key-pair.sh.hbs", scripts.keyPairScript({ host: cfg.backups.host, key: PATHS.backupPushKey, comment: "mirrorstack-backup" }));
    add("backup-push-key-remove", "key-pair-remove.sh.hbs", scripts.removeKeyPairScript(PATHS.backupPushKey));
    add("backup-account", "backup-account.sh.hbs", scripts.backupAccountScript(push));
    add("backup-account-remove", "backup-account-remove.sh.hbs", scripts.removeBackupAccountScript(push));
    add("backup-push-check", "push-check.sh.hbs", scripts.pushCheckScript(push, cfg.backups.host, "files"));
  }
  return out;
}

/** Which template renders each host script (`#!` files) of renderStack and renderBackupHostFiles. */
const TEMPLATE_OF_PATH: Record<string, string> = {
  [PATHS.validateRsync]: "validate-rsync.sh.hbs",
  [PATHS.backupReceive]: "mirrorstack-backup-receive.sh.hbs",
  "/usr/local/sbin/mirrorstack-sync": "mirrorstack-sync.sh.hbs",
  "/usr/local/sbin/mirrorstack-backup": "mirrorstack-backup.sh.hbs",
  "/usr/local/sbin/mirrorstack-binlog-purge": "mirrorstack-binlog-purge.sh.hbs",
  "/usr/local/sbin/mirrorstack-health": "mirrorstack-health.sh.hbs",
};

/** The host scripts of a stack as rendered for its hosts (and its backup host). */
function hostScripts(stack: (typeof STACKS)[number], cfg: StackConfig): Script[] {
  const secrets = { replicationPassword: "[secret]", backupPassphrase: "[secret]" };
  const mirrorKeys = MIRROR_KEYS[stack];
  const files: { where: string; f: FileBody }[] = renderStack(cfg, { stack, secrets, ...(mirrorKeys ? { mirrorKeys } : {}) }).flatMap((p) =>
    p.files.map((f) => ({ where: p.host, f })),
  );
  if (cfg.backups.enabled && cfg.backups.push) files.push(...renderBackupHostFiles(cfg, KEY).map((f) => ({ where: cfg.backups.push!.name, f })));
  return files
    .filter(({ f }) => f.content.startsWith("#!"))
    .map(({ where, f }) => {
      const template = TEMPLATE_OF_PATH[f.path];
      if (!template) throw new Error(`${where}:${f.path} is a script with no entry in TEMPLATE_OF_PATH: add it (and its shellcheck exclusions)`);
      return { name: `${where}${f.path}`, template, text: f.content };
    });
}

/**
 * shellcheck codes left out per template, each for a reason that holds for every rendering; anything else at
 * `-S style` (the strictest level) fails the test. A directive inside a script would change its bytes (and so
 * run it again on every host, or redeploy the file); an exclusion here does not.
 */
const EXCLUDE: Record<string, { codes: string[]; why: string }> = {
  "mirrorstack-backup.sh.hbs": {
    codes: ["SC2015", "SC2317"],
    why: "every `A && B || fail` means fail when A or B fails; cleanup runs from the EXIT trap, which shellcheck 0.9 does not follow",
  },
  "mirrorstack-backup-receive.sh.hbs": {
    codes: ["SC2010", "SC2015"],
    why: "ls | grep keeps only names the receiver itself stored (the backup-name pattern); every `A && B || refuse` means refuse when A or B fails",
  },
  "mirrorstack-binlog-purge.sh.hbs": {
    codes: ["SC2015", "SC2043"],
    why: "`base=$(...) && [ -n ] || refuse` means refuse when either fails; the client list is rendered and holds one name for MySQL",
  },
  "mirrorstack-health.sh.hbs": {
    codes: ["SC2015", "SC2041", "SC2043", "SC2317"],
    why: "the client and mount lists are rendered from the config and may hold one item; partials/backup-names (on the backup host) uses `A && B || continue` to mean skip unless all hold, and defines backups_retain, which the health job does not call",
  },
  "steps/nfs-server.sh.hbs": {
    codes: ["SC2041"],
    why: "the export list is rendered from nfs.exports and may hold one path",
  },
  "steps/nfs-mount-remove.sh.hbs": {
    codes: ["SC2041"],
    why: "the mount list is rendered from nfs.exports and may hold one path",
  },
  "steps/sync-account-remove.sh.hbs": {
    codes: ["SC2015"],
    why: "partials/remove-account: `getent group && groupdel || true` means go on whether the group is absent or groupdel fails",
  },
  "steps/backup-account-remove.sh.hbs": {
    codes: ["SC2015"],
    why: "`[ -d ] && [ ! -L ] && chown || true` and partials/remove-account's groupdel go on when the test or the command fails",
  },
};

const stacks = STACKS.map((stack) => ({ stack, cfg: loadStack(stack) }));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-scripts-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.each(stacks)("step scripts of stack $stack", ({ stack, cfg }) => {
  const steps = stepScripts(cfg);

  it("match the file snapshots", async () => {
    expect(new Set(steps.map((s) => s.name)).size).toBe(steps.length);
    for (const s of steps) await expect(s.text).toMatchFileSnapshot(`__snapshots__/scripts/${stack}/${s.name}.sh`);
  });

  it("pass bash -n", () => {
    for (const s of steps) {
      const r = spawnSync("bash", ["-n"], { input: s.text, encoding: "utf8" });
      expect(r.stderr, s.name).toBe("");
      expect(r.status, s.name).toBe(0);
    }
  });
});

describe("step scripts", () => {
  it("refuse a missing value instead of rendering an empty word", () => {
    expect(() => scripts.removeSyncAccountScript(undefined as unknown as string)).toThrow(/missing value/);
    expect(() => scripts.nfsMountScript({ host: "m", mounts: [{ source: "a:/x" } as { source: string; target: string }], stamp: "" })).toThrow(/missing value/);
  });

  it("run again when the stamp changes, and only then", () => {
    const opts = { host: "m", user: "mirrorsync", mirrors: [{ name: "a", address: "192.0.2.1" }] };
    expect(scripts.syncCheckScript({ ...opts, stamp: "k1" })).toBe(scripts.syncCheckScript({ ...opts, stamp: "k1" }));
    expect(scripts.syncCheckScript({ ...opts, stamp: "k1" })).not.toBe(scripts.syncCheckScript({ ...opts, stamp: "k2" }));
  });
});

describe("shellcheck on every shell script", () => {
  it("passes -s bash -S style (exclusions per template in EXCLUDE, with the reason)", () => {
    const sc = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
    if (sc.error || sc.status !== 0) {
      throw new Error("shellcheck is not installed: `npm run setup` as root installs it (a lab tool: MACHINE_PACKAGES in lab/lab.sh)");
    }
    const all = stacks.flatMap(({ stack, cfg }) =>
      [...stepScripts(cfg), ...hostScripts(stack, cfg)].map((s) => ({ ...s, name: `${stack}/${s.name}` })),
    );
    all.push({ name: "infra/providers/hostfile.sh", template: "infra/providers/hostfile.sh", text: fs.readFileSync(path.join(ROOT, "infra/providers/hostfile.sh"), "utf8") });

    // Every shell template on disk is rendered here at least once, so a new one cannot escape the check.
    const onDisk = [
      ...fs.readdirSync(TEMPLATE_DIR).filter((f) => f.endsWith(".sh.hbs")),
      ...fs.readdirSync(path.join(TEMPLATE_DIR, "steps")).filter((f) => f.endsWith(".sh.hbs")).map((f) => `steps/${f}`),
    ].sort();
    expect([...new Set(all.map((s) => s.template))].filter((t) => t.endsWith(".sh.hbs")).sort()).toEqual(onDisk);
    for (const t of Object.keys(EXCLUDE)) expect(onDisk, `EXCLUDE names ${t}`).toContain(t);

    const failures: string[] = [];
    all.forEach((s, i) => {
      const file = path.join(tmp, `${i}.sh`);
      fs.writeFileSync(file, s.text);
      const codes = EXCLUDE[s.template]?.codes ?? [];
      const r = spawnSync("shellcheck", ["-s", "bash", "-S", "style", "-f", "gcc", ...(codes.length ? ["-e", codes.join(",")] : []), file], {
        encoding: "utf8",
      });
      if (r.status !== 0) failures.push(`${s.name} (${s.template}):\n${r.stdout.replaceAll(file, "line")}${r.stderr}`);
    });
    expect(failures.join("\n")).toBe("");
    expect(all.length).toBeGreaterThan(40);
  });
});
