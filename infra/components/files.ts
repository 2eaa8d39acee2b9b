// File mirroring over rsync+ssh (files.method = rsync-ssh): the apply side of what infra/render/sync.ts renders.
//
//   mirror  <m>-sync-key       HostProbe: makes /root/.ssh/mirrorstack_sync once, prints only the PUBLIC key
//   master  <master>-host-keys HostProbe: the master's host public keys, read over the pinned deployment connection
//   master  <master>-sync-account  RemoteCommand: rsync >= 3.4.0 check, the locked sync account, its read access
//   master  validate-rsync, authorized_keys/<user> (rendered with the mirrors' keys), sshd drop-in (HostFiles)
//   master  <master>-sync-check RemoteCommand: sshd really reads the root-owned key file for the account, etc.
//   mirror  /etc/mirrorstack/known_hosts, mirrorstack-sync, its cron entry (HostFiles)
//
//   nfs: the exports/wrappers/idmapd/defaults and the mirrors' fstab blocks (HostFiles, no service actions), then
//   <master>-nfs-server (starts and checks the server), then <mirror>-nfs-mount (RemoteCommands).
//
// The private key never leaves the mirror and never enters state. Only these resources change when sync settings
// change, so such an `up` touches no database server.

import * as pulumi from "../pulumi";
import { addressForHostPath } from "../config/checks";
import type { HostConfig, StackConfig } from "../config/types";
import { HostFile, pinFileArgs, renderedFileArgs } from "../providers/hostFile";
import { HostProbe } from "../providers/hostProbe";
import { RemoteCommand } from "../providers/remoteCommand";
import { PATHS } from "../render/common";
import {
  hostKeysScript,
  nfsMountRemoveScript,
  nfsMountScript,
  nfsServerRemoveScript,
  nfsServerScript,
  removeKeyPairScript,
  removeSyncAccountScript,
  syncAccountScript,
  syncCheckScript,
  syncKeyScript,
} from "../render/scripts";
import { renderMirrorKnownHosts, syncsFiles } from "../render/sync";
import type { HostPlan, RenderedFile } from "../render/types";
import type { SshTarget } from "../ssh/exec";
import { pathSlug } from "./mirrorHost";
import { actionWords } from "./services";

/** True when this stack shares file trees over NFS. */
export function sharesNfs(cfg: StackConfig): boolean {
  return cfg.files.method === "nfs" && cfg.nfs !== undefined;
}

export interface FileMirroringArgs {
  readonly cfg: StackConfig;
  /** Stack name, for block markers (none here) and headers. */
  readonly stack: string;
  /** The rendered plans; this component applies the files marked appliedBy "file-mirroring". */
  readonly plans: readonly HostPlan[];
  /** How to reach each host. */
  readonly target: (host: string) => pulumi.Input<SshTarget>;
  /** Each host's MirrorHost: packages and services are in place once it is done. */
  readonly hosts: Readonly<Record<string, pulumi.Resource>>;
}

/** Everything file mirroring adds to the master and the mirrors (rsync-ssh or nfs). */
export class FileMirroring extends pulumi.ComponentResource {
  /** The mirrors' sync public keys, by mirror name. */
  public readonly mirrorKeys: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: FileMirroringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mirrorstack:index:FileMirroring", name, {}, opts);
    const { cfg } = args;
    const master = cfg.master;
    const child = { parent: this };
    // This component's files of one host, in apply order.
    const own = (host: HostConfig): RenderedFile[] =>
      (args.plans.find((p) => p.host === host.name)?.files ?? []).filter((f) => f.appliedBy === "file-mirroring");
    const ownAt = (host: HostConfig, path: string): RenderedFile => {
      const f = own(host).find((x) => x.path === path);
      if (!f) throw new Error(`internal: no rendered ${path} for ${host.name} in file mirroring`);
      return f;
    };
    const hostFile = (
      host: HostConfig,
      f: RenderedFile,
      content: pulumi.Input<string>,
      dependsOn: pulumi.Resource[],
      withActions = true,
    ) =>
      new HostFile(
        `${host.name}-${pathSlug(f.path)}`,
        renderedFileArgs(f, args.target(host.name), args.stack, content, withActions ? actionWords(f.onChange, host.osFamily) : []),
        // Earlier versions applied these files inside the host's MirrorHost.
        { ...child, dependsOn, aliases: [{ parent: args.hosts[host.name] }] },
      );

    if (sharesNfs(cfg)) {
      // NFS: the files land (validated) without service actions; one step per host then makes them live and
      // says plainly what cannot run. Mirrors mount only once the master serves.
      const nfs = cfg.nfs!;
      const masterNfs = own(master);
      const masterFiles = masterNfs.map((f) => hostFile(master, f, f.content, [args.hosts[master.name]!], false));
      // A mirror's NFS files, and with them the copy job (mirrorstack-sync and its cron entry): it skips exports
      // that are not mounted.
      const mirrorFiles = cfg.mirrors.map((m) => ({
        m,
        written: own(m).map((f) => hostFile(m, f, f.content, [args.hosts[m.name]!], false)),
      }));
      // Every NFS file everywhere is written and validated before anything starts using them.
      const server = new RemoteCommand(
        `${master.name}-nfs-server`,
        {
          target: args.target(master.name),
          create: nfsServerScript({
            host: master.name,
            os: master.osFamily,
            exports: nfs.exports.map((e) => e.path),
            ...(nfs.filesystem ? { filesystem: nfs.filesystem.mountpoint } : {}),
            stamp: masterNfs.map((f) => `${f.path}\n${f.content}`).join("\n"),
          }),
          delete: nfsServerRemoveScript({ host: master.name, exports: nfs.exports.map((e) => ({ path: e.path, clients: [...e.clients] })) }),
        },
        { ...child, dependsOn: [...masterFiles, ...mirrorFiles.flatMap((x) => x.written)] },
      );
      for (const { m, written } of mirrorFiles) {
        const fstab = ownAt(m, PATHS.fstab);
        new RemoteCommand(
          `${m.name}-nfs-mount`,
          {
            target: args.target(m.name),
            create: nfsMountScript({
              host: m.name,
              mounts: nfs.exports.map((e) => ({ source: `${addressForHostPath(master.address)}:${e.path}`, target: e.mountPoint })),
              stamp: fstab.content,
            }),
            delete: nfsMountRemoveScript({ host: m.name, targets: nfs.exports.map((e) => e.mountPoint) }),
          },
          { ...child, dependsOn: [...written, server] },
        );
      }
    }

    if (!syncsFiles(cfg)) {
      this.mirrorKeys = pulumi.output<Record<string, string>>({});
      this.registerOutputs({});
      return;
    }

    // Mirrors: their keys first (everything on the master's side waits for them).
    const keyProbes = cfg.mirrors.map(
      (m) =>
        new HostProbe(
          `${m.name}-sync-key`,
          {
            target: args.target(m.name),
            what: "sync public key",
            script: syncKeyScript({ host: m.name, owner: cfg.files.owner, group: cfg.files.group }),
            delete: removeKeyPairScript(PATHS.syncKey),
          },
          { ...child, dependsOn: [args.hosts[m.name]!] },
        ),
    );
    this.mirrorKeys = pulumi
      .all(keyProbes.map((p) => p.value))
      .apply((values) => Object.fromEntries(cfg.mirrors.map((m, i) => [m.name, values[i]!])));

    // Master.
    const trees = cfg.files.trees.map((t) => t.path);
    const account = new RemoteCommand(
      `${master.name}-sync-account`,
      {
        target: args.target(master.name),
        create: syncAccountScript({
          host: master.name,
          user: cfg.files.syncUser,
          rsyncPath: cfg.files.rsyncPath,
          allowOldRsync: cfg.files.allowOldRsync,
          trees,
        }),
        delete: removeSyncAccountScript(cfg.files.syncUser),
      },
      { ...child, dependsOn: [args.hosts[master.name]!] },
    );
    // The sync account's authorized_keys is completed with the mirrors' keys (its renderer's own completion).
    const masterFiles = own(master).map((f) => {
      const c = f.completion;
      const content = c?.needs === "mirror-keys" ? this.mirrorKeys.apply((keys) => c.content(keys)) : f.content;
      return { file: f, res: hostFile(master, f, content, [account]), content };
    });
    const keysFile = masterFiles.find((x) => x.file.completion?.needs === "mirror-keys");
    if (!keysFile) throw new Error(`internal: no rendered authorized_keys for ${master.name} in file mirroring`);
    const check = new RemoteCommand(
      `${master.name}-sync-check`,
      {
        target: args.target(master.name),
        create: pulumi.output(keysFile.content).apply((stamp) =>
          syncCheckScript({
            host: master.name,
            user: cfg.files.syncUser,
            mirrors: cfg.mirrors.map((m) => ({ name: m.name, address: m.address })),
            stamp: `${stamp}\n${ownAt(master, PATHS.sshdDropIn).content}`,
          }),
        ),
      },
      { ...child, dependsOn: masterFiles.map((f) => f.res) },
    );
    const hostKeys = new HostProbe(
      `${master.name}-host-keys`,
      { target: args.target(master.name), what: "ssh host public keys", script: hostKeysScript() },
      { ...child, dependsOn: [args.hosts[master.name]!] },
    );

    // Mirrors: the pinned master key, then the job (its first run finds the master ready).
    for (const m of cfg.mirrors) {
      const kh = hostKeys.value.apply((v) => renderMirrorKnownHosts(cfg, m, v.split("\n").map((l) => l.trim()).filter((l) => l !== "")));
      const known = new HostFile(
        `${m.name}-${pathSlug(PATHS.knownHosts)}`,
        pinFileArgs(PATHS.knownHosts, kh, args.target(m.name), args.stack),
        { ...child, dependsOn: [args.hosts[m.name]!] },
      );
      for (const f of own(m)) hostFile(m, f, f.content, [known, check]);
    }
    this.registerOutputs({ mirrorKeys: this.mirrorKeys });
  }
}
