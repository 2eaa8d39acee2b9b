// backups.push: a copy of each backup on a separate backup host, sent with a key that can do nothing else.
//
//   taker   <taker>-backup-push-key       HostProbe: makes /root/.ssh/mirrorstack_backup_push once, prints the PUBLIC key
//   backup  <backup>-host-keys            HostProbe: the backup host's host public keys (pinned deployment connection)
//   backup  <backup>-backup-account       RemoteCommand: the locked receiving account and its 0700 directory
//   backup  backup-receive, authorized_keys/<user> (with the taker's key), sshd drop-in (HostFiles)
//   taker   /etc/mirrorstack/backup_known_hosts (HostFile), then <taker>-backup-push-check: `list` over the real key
//
// The private key never leaves the backup-taking host and never enters state. The backup script itself (which
// pushes after each backup) is part of the taker's plan, applied by its MirrorHost.

import * as pulumi from "../pulumi";
import type { StackConfig } from "../config/types";
import { HostFile, pinFileArgs, renderedFileArgs } from "../providers/hostFile";
import { HostProbe } from "../providers/hostProbe";
import { RemoteCommand } from "../providers/remoteCommand";
import { PATHS } from "../render/common";
import { pushOf, renderBackupHostFiles, renderPushKnownHosts } from "../render/push";
import {
  backupAccountScript,
  hostKeysScript,
  keyPairScript,
  pushCheckScript,
  removeBackupAccountScript,
  removeKeyPairScript,
} from "../render/scripts";
import type { SshTarget } from "../ssh/exec";
import { pathSlug } from "./mirrorHost";
import { actionWords } from "./services";

export interface BackupPushArgs {
  readonly cfg: StackConfig;
  /** Stack name, for file headers. */
  readonly stack: string;
  /** How to reach the backup-taking host. */
  readonly takerTarget: pulumi.Input<SshTarget>;
  /** How the deployment reaches the backup host. */
  readonly backupTarget: pulumi.Input<SshTarget>;
  /** The backup-taking host's MirrorHost (ssh client and the backup script in place). */
  readonly taker: pulumi.Resource;
}

/** Everything backups.push adds to the backup-taking host and the backup host. */
export class BackupPush extends pulumi.ComponentResource {
  /** The backup-taking host's public push key. */
  public readonly takerKey: pulumi.Output<string>;

  constructor(name: string, args: BackupPushArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mirrorstack:index:BackupPush", name, {}, opts);
    const { cfg } = args;
    const push = pushOf(cfg);
    const taker = cfg.backups.host;
    const child = { parent: this };

    const key = new HostProbe(
      `${taker}-backup-push-key`,
      {
        target: args.takerTarget,
        what: "backup push public key",
        script: keyPairScript({ host: taker, key: PATHS.backupPushKey, comment: "mirrorstack-backup" }),
        delete: removeKeyPairScript(PATHS.backupPushKey),
      },
      { ...child, dependsOn: [args.taker] },
    );
    this.takerKey = key.value;
    const hostKeys = new HostProbe(
      `${push.name}-host-keys`,
      { target: args.backupTarget, what: "ssh host public keys", script: hostKeysScript() },
      child,
    );
    const account = new RemoteCommand(
      `${push.name}-backup-account`,
      { target: args.backupTarget, create: backupAccountScript(push), delete: removeBackupAccountScript(push) },
      child,
    );

    // The backup host's files; the key file waits for the taker's key.
    const plain = renderBackupHostFiles(cfg, "");
    const keyed = key.value.apply((k) => renderBackupHostFiles(cfg, k));
    const backupFiles = plain.map((f, i) => {
      const content = f.path.startsWith(`${PATHS.authorizedKeysDir}/`) ? keyed.apply((fs) => fs[i]!.content) : f.content;
      return new HostFile(
        `${push.name}-${pathSlug(f.path)}`,
        renderedFileArgs(f, args.backupTarget, args.stack, content, actionWords(f.onChange, push.osFamily)),
        { ...child, dependsOn: [account] },
      );
    });

    const known = hostKeys.value.apply((v) => renderPushKnownHosts(cfg, v.split("\n").map((l) => l.trim()).filter((l) => l !== "")));
    const knownFile = new HostFile(
      `${taker}-${pathSlug(PATHS.backupKnownHosts)}`,
      pinFileArgs(PATHS.backupKnownHosts, known, args.takerTarget, args.stack),
      { ...child, dependsOn: [args.taker] },
    );
    new RemoteCommand(
      `${taker}-backup-push-check`,
      {
        target: args.takerTarget,
        create: pulumi
          .all([keyed, known])
          .apply(([fs, kh]) => pushCheckScript(push, taker, [...fs.map((f) => f.content), kh.content].join("\n"))),
      },
      { ...child, dependsOn: [...backupFiles, knownFile] },
    );
    this.registerOutputs({ takerKey: this.takerKey });
  }
}
