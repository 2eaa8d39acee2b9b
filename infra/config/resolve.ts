// Turns the schema's output into a StackConfig: fills in the defaults that depend on other keys and collects
// warnings. Runs only when the schema and the cross-key rules found no problem.

import { isDnsName, normalizeCron } from "./checks";
import { defaultServerId } from "./cross";
import { DEFAULT_SCHEDULES, DEFAULT_VERSION, exportCopyTo, exportMountPoint, nfsExportSchema, nfsSchema, type StackParsed } from "./schema";
import type { HostConfig, NfsConfig, StackConfig } from "./types";

export function resolveStackConfig(p: StackParsed, stack: string): StackConfig {
  const warnings: string[] = [];
  const host = (
    h: StackParsed["master"] | StackParsed["mirrors"][number],
    role: "master" | "mirror",
    index: number,
  ): HostConfig => ({
    name: h.name,
    role,
    address: h.address,
    serverId: h.serverId ?? defaultServerId(role, index),
    sshUser: h.sshUser ?? p.ssh.user,
    sshPort: h.sshPort ?? p.ssh.port,
    osFamily: h.osFamily,
    bindAddress: h.bindAddress ?? p.database.bindAddress ?? h.address,
    reseed: ("reseed" in h ? h.reseed : undefined) ?? "",
    web: h.web,
    changingAddress: ("changingAddress" in h ? h.changingAddress : undefined) ?? false,
  });
  const master = host(p.master, "master", 0);
  const mirrors = p.mirrors.map((m, i) => host(m, "mirror", i));
  const mirrorAddresses = mirrors.map((m) => m.address);

  const namedMirrors = mirrors.filter((m) => isDnsName(m.address));
  const skipNameResolve = namedMirrors.length === 0;
  if (!skipNameResolve) {
    warnings.push(
      `mirror address${namedMirrors.length > 1 ? "es" : ""} ${namedMirrors.map((m) => m.address).join(", ")} ` +
        "are DNS names: skip_name_resolve stays off so replication grants can match them, and the sync key's " +
        "from= restriction only matches if the master's sshd has UseDNS yes; prefer IP addresses",
    );
  }

  const flavour = p.database.flavour;
  if (p.database.binlogFormat !== "ROW") {
    warnings.push(
      `database.binlogFormat is ${p.database.binlogFormat} (allowed by allowUnsafeBinlogFormat): statements whose ` +
        "effect depends on row order (INSERT ... SELECT, DELETE/UPDATE ... LIMIT without ORDER BY) can leave mirrors " +
        "with different data than the master",
    );
  }

  let nfs: NfsConfig | undefined;
  if (p.files.method === "nfs") {
    const n = p.nfs ?? nfsSchema.parse({});
    // Without nfs.exports, one export per tree with the schema's export defaults.
    const exportsList = n.exports ?? p.files.trees.map((t) => nfsExportSchema.parse({ path: t.path }));
    nfs = {
      exportsGiven: n.exports !== undefined,
      exports: exportsList.map((e) => ({
        path: e.path,
        clients: e.clients ?? mirrorAddresses,
        access: e.access,
        sync: e.sync,
        rootSquash: e.rootSquash,
        subtreeCheck: e.subtreeCheck,
        secure: e.secure,
        mountPoint: exportMountPoint(e),
        copyTo: exportCopyTo(e),
        allowReadWrite: e.allowReadWrite,
        allowWildcard: e.allowWildcard,
        allowNoRootSquash: e.allowNoRootSquash,
      })),
      idmapDomain: n.idmapDomain,
      nobodyUser: n.nobodyUser,
      ...(n.nobodyGroup !== undefined ? { nobodyGroup: n.nobodyGroup } : {}),
      threads: n.threads,
      ...(n.filesystem !== undefined ? { filesystem: n.filesystem } : {}),
      mountOptions: n.mountOptions,
      tcpWrappers: {
        enabled: n.tcpWrappers.enabled,
        services: n.tcpWrappers.services,
        clients: n.tcpWrappers.clients ?? mirrorAddresses,
      },
    };
    for (const e of nfs.exports) {
      if (e.access === "rw") warnings.push(`nfs export ${e.path} is read-write (allowReadWrite): mirrors can change the master's files`);
      if (!e.rootSquash) warnings.push(`nfs export ${e.path} has no_root_squash (allowNoRootSquash): root on a client is root on the export`);
      const wild = e.clients.filter((c) => /[*?]/.test(c));
      if (wild.length > 0) warnings.push(`nfs export ${e.path} allows wildcard clients ${wild.join(", ")} (allowWildcard)`);
    }
  }

  if (p.files.allowOldRsync && p.files.method === "rsync-ssh" && p.files.trees.length > 0) {
    warnings.push("files.allowOldRsync: the master may run an rsync older than 3.4.0, whose sender side has known holes (CVE-2024-12084/12085)");
  }

  const backupHost = p.backups.host ?? mirrors[0]!.name;
  const cron = {
    sync: normalizeCron(p.files.schedule ?? p.cron.sync ?? DEFAULT_SCHEDULES.sync),
    backup: normalizeCron(p.backups.schedule ?? p.cron.backup ?? DEFAULT_SCHEDULES.backup),
    binlogPurge: normalizeCron(p.cron.binlogPurge ?? DEFAULT_SCHEDULES.binlogPurge),
    healthCheck: normalizeCron(p.cron.healthCheck ?? DEFAULT_SCHEDULES.healthCheck),
  };

  return {
    stack,
    master,
    mirrors,
    hosts: [master, ...mirrors],
    ssh: {
      user: p.ssh.user,
      port: p.ssh.port,
      ...(p.ssh.privateKeyPath !== undefined ? { privateKeyPath: p.ssh.privateKeyPath } : {}),
      ...(p.ssh.knownHostsPath !== undefined ? { knownHostsPath: p.ssh.knownHostsPath } : {}),
      privateKeyInline: p.sshPrivateKey !== undefined,
    },
    database: {
      flavour,
      version: p.database.version ?? DEFAULT_VERSION[flavour],
      databases: p.database.databases,
      binlogFormat: p.database.binlogFormat,
      allowUnsafeBinlogFormat: p.database.allowUnsafeBinlogFormat,
      binlogRetentionDays: p.database.binlogRetentionDays,
      mirrorBinlogRetentionDays: p.database.mirrorBinlogRetentionDays,
      replicationUser: p.database.replicationUser,
      port: p.database.port,
      skipNameResolve,
      seedMethod: p.database.seedMethod,
      seedCompression: p.database.seedCompression,
      catchUpTimeoutSeconds: p.database.catchUpTimeoutSeconds,
      switchoverDeadlineSeconds: p.database.switchoverDeadlineSeconds,
      switchoverMaxLagSeconds: p.database.switchoverMaxLagSeconds,
    },
    files: {
      method: p.files.method,
      trees: p.files.trees.map((t) => ({ path: t.path, exclude: t.exclude })),
      rsyncOptions: p.files.rsyncOptions,
      syncUser: p.files.syncUser,
      ...(p.files.owner !== undefined ? { owner: p.files.owner } : {}),
      ...(p.files.group !== undefined ? { group: p.files.group } : {}),
      rsyncPath: p.files.rsyncPath,
      confineRoot: p.files.confineRoot,
      allowOldRsync: p.files.allowOldRsync,
    },
    ...(nfs ? { nfs } : {}),
    cron,
    backups: {
      enabled: p.backups.enabled,
      schedule: cron.backup,
      retention: p.backups.retention,
      destination: p.backups.destination,
      host: backupHost,
      ...(p.backups.push
        ? {
            push: {
              name: p.backups.push.name,
              address: p.backups.push.address,
              sshUser: p.backups.push.sshUser ?? p.ssh.user,
              sshPort: p.backups.push.sshPort ?? p.ssh.port,
              osFamily: p.backups.push.osFamily,
              user: p.backups.push.user,
              directory: p.backups.push.directory,
              retention: p.backups.push.retention ?? p.backups.retention,
              quotaMiB: p.backups.push.quotaMiB,
            },
          }
        : {}),
    },
    health: p.health,
    web: { ...p.web, database: p.web.database ?? p.database.databases[0]! },
    tls: p.tls,
    warnings,
  };
}
