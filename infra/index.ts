// mirrorstack: config -> validate -> render -> apply. Each step is one call below.
import * as path from "path";
import * as pulumi from "./pulumi";
import { ConfigError, type ConfigIssue, namespaceIssues, parseStackConfig, StackConfig } from "./config";
import { renderStack } from "./render";
import { nfsServerServices } from "./render/scripts";
import { BackupPush } from "./components/backupPush";
import { FileMirroring, sharesNfs } from "./components/files";
import { MirrorHost } from "./components/mirrorHost";
import { OsFamily } from "./components/services";
import { SoftwareNeeds, softwareFor } from "./components/software";
import { MirrorReplication } from "./providers/mirrorReplication";
import { SshTarget } from "./ssh/exec";
import { PROJECT_ROOT } from "./paths";

const NS = "mirrorstack";
const stack = pulumi.getStack();

// 1. config: every `mirrorstack:*` key of the stack, plus which ones Pulumi holds as secrets.
function readConfig(): { raw: Record<string, unknown>; secretKeys: Set<string> } {
  const raw: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const [k, v] of Object.entries(pulumi.allConfig())) {
    if (!k.startsWith(`${NS}:`)) continue;
    const key = k.slice(NS.length + 1);
    raw[key] = v;
    if (pulumi.isConfigSecret(k)) secretKeys.add(key);
  }
  return { raw, secretKeys };
}

// 2. validate: all problems at once, before any resource exists, so a bad config touches no host.
function validate(): StackConfig {
  const { raw, secretKeys } = readConfig();
  // A key in a misspelt namespace (`mirrorstak:backups`) would be ignored and its defaults deployed.
  const misspelt = namespaceIssues(Object.keys(pulumi.allConfig()));
  const invalid = (issues: ConfigIssue[]) =>
    new pulumi.RunError(`stack ${stack} has an invalid config:\n  ${issues.map((i) => `${i.path}: ${i.message}`).join("\n  ")}`);
  let parsed: StackConfig;
  try {
    parsed = parseStackConfig(raw, { stack, secretKeys });
  } catch (e) {
    if (e instanceof ConfigError) throw invalid([...misspelt, ...e.issues]);
    throw e;
  }
  if (misspelt.length > 0) throw invalid(misspelt);
  return parsed;
}

const cfg = validate();
for (const w of cfg.warnings) pulumi.log.warn(w);

// 3. render: pure, once. File structure never depends on secret values, so we render with placeholders (what
// previews show); the files that hold a secret, or the mirrors' sync keys, carry their renderer's completion,
// which the component applying them calls with the real values inside Outputs.
const conf = new pulumi.Config(NS);
const secrets = pulumi
  .all([conf.getSecret("replicationPassword"), conf.getSecret("backupPassphrase")])
  .apply(([replicationPassword, backupPassphrase]) => ({
    replicationPassword: replicationPassword ?? "",
    backupPassphrase: backupPassphrase ?? "",
  }));
const plans = renderStack(cfg, { stack, secrets: { replicationPassword: "[secret]", backupPassphrase: "[secret]" } });

// 4. apply: one component per host; hosts are independent, so the engine works them in parallel.
const sshKey = conf.getSecret("sshPrivateKey");
function targetFor(name: string): pulumi.Input<SshTarget> {
  const h = cfg.hosts.find((x) => x.name === name) ?? (cfg.backups.push?.name === name ? cfg.backups.push : undefined);
  if (!h) throw new Error(`internal: no host ${name}`);
  // Relative paths in a stack config are relative to the project root (where Pulumi.yaml is), whatever the cwd.
  const abs = (p?: string) => (p ? path.resolve(PROJECT_ROOT, p) : undefined);
  const base: SshTarget = {
    host: h.name,
    address: h.address,
    user: h.sshUser,
    port: h.sshPort,
    privateKeyPath: abs(cfg.ssh.privateKeyPath),
    knownHostsPath: abs(cfg.ssh.knownHostsPath),
  };
  return sshKey ? pulumi.secret(sshKey.apply((k) => ({ ...base, privateKey: k }))) : base;
}

// NFS server services start once their files are written, in FileMirroring, which reports one that cannot run.
const withoutNfsServices = (sw: SoftwareNeeds, os: OsFamily): SoftwareNeeds => {
  const nfs = Object.values(nfsServerServices(os));
  return { ...sw, services: sw.services.filter((s) => !nfs.includes(s)) };
};

const hostComponents: Record<string, MirrorHost> = {};
const hosts = plans.map((plan) => {
  const h = cfg.hosts.find((x) => x.name === plan.host)!;
  const fileMethod = sharesNfs(cfg) ? "nfs" : cfg.files.trees.length === 0 ? "none" : cfg.files.method;
  // Each file says who applies it: this host's step, or FileMirroring below (after the mirrors' keys exist).
  hostComponents[plan.host] = new MirrorHost(plan.host, {
    plan,
    target: targetFor(plan.host),
    stack,
    osFamily: h.osFamily,
    software: withoutNfsServices(softwareFor(plan.role, h.osFamily, cfg.database.flavour, fileMethod), h.osFamily),
    secrets,
  });
  return { name: plan.host, role: plan.role, address: plan.address, files: plan.files.map((f) => f.path) };
});

// File mirroring. rsync-ssh: each mirror's own sync key, the master's locked sync account behind validate-rsync,
// the pinned master host key and the scheduled pull. nfs: the server's files, then the server itself, then the
// mirrors' mounts. Nothing here touches a database server.
const files = new FileMirroring("files", {
  cfg,
  stack,
  plans,
  target: targetFor,
  hosts: hostComponents,
});

// Backups pushed to a separate host: the taker's own key, the backup host's locked receiving account behind
// its store-only command, the pinned host key, and a check that the key really gets through.
const backupPush = cfg.backups.enabled && cfg.backups.push
  ? new BackupPush("backup-push", {
      cfg,
      stack,
      takerTarget: targetFor(cfg.backups.host),
      backupTarget: targetFor(cfg.backups.push.name),
      taker: hostComponents[cfg.backups.host]!,
    })
  : undefined;

// Replication, per mirror, once both ends run with their rendered my.cnf: account, consistent copy, start,
// caught-up proof. Adding mirror N+1 creates only its own resource; no other host is touched.
const replicationPassword = conf.requireSecret("replicationPassword");
const replication = cfg.mirrors.map((m) => {
  const r = new MirrorReplication(
    `${m.name}-replication`,
    {
      master: targetFor(cfg.master.name),
      mirror: targetFor(m.name),
      sourceHost: cfg.master.address,
      sourcePort: cfg.database.port,
      mirrorAddress: m.address,
      engine: { flavour: cfg.database.flavour, version: cfg.database.version },
      user: cfg.database.replicationUser,
      password: replicationPassword,
      databases: [...cfg.database.databases],
      method: cfg.database.seedMethod,
      catchUpTimeoutSeconds: cfg.database.catchUpTimeoutSeconds,
      seedToken: m.reseed,
    },
    { dependsOn: [hostComponents[cfg.master.name], hostComponents[m.name]], additionalSecretOutputs: ["password"] },
  );
  return { mirror: m.name, seed: r.seed, status: r.status };
});

// 5. outputs: what `mirrorctl` and reviews read.
const fileSync = { method: sharesNfs(cfg) ? "nfs" : cfg.files.trees.length === 0 ? "none" : cfg.files.method, mirrorKeys: files.mirrorKeys };
const backups = {
  host: cfg.backups.enabled ? cfg.backups.host : null,
  pushedTo: backupPush ? { name: cfg.backups.push!.name, address: cfg.backups.push!.address, takerKey: backupPush.takerKey } : null,
};
export { hosts, replication, fileSync, backups };
