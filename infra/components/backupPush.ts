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

import { createHash } from "crypto";
import * as pulumi from "../pulumi";
import type { BackupPushConfig, StackConfig } from "../config/types";
import { HostFile, pinFileArgs, renderedFileArgs } from "../providers/hostFile";
import { HostProbe } from "../providers/hostProbe";
import { RemoteCommand } from "../providers/remoteCommand";
import { PATHS } from "../render/common";
import { pushOf, renderBackupHostFiles, renderPushKnownHosts } from "../render/push";
import { shq, SshTarget } from "../ssh/exec";
import { HOST_KEYS_SCRIPT, keyPairScript, lockedAccountLines, removeAccountLines } from "./files";
import { pathSlug } from "./mirrorHost";
import { actionWords } from "./services";

/** Comment (GECOS) of the receiving account; destroy removes only an account carrying it. */
export const BACKUP_ACCOUNT_COMMENT = "mirrorstack backup receiver (forced command, store only)";

/** Backup host: the receiving account (locked, key only) owning the backup directory, nobody else reading it. */
export function backupAccountScript(push: BackupPushConfig): string {
  return `set -euo pipefail
host=${shq(push.name)} user=${shq(push.user)} home=${shq(`/var/lib/${push.user}`)} dir=${shq(push.directory)}
fail() { echo "[$host] $*" >&2; exit 1; }
${lockedAccountLines(BACKUP_ACCOUNT_COMMENT, "backup")}
install -d -o root -g root -m 0755 ${shq(PATHS.authorizedKeysDir)} ${shq(PATHS.backupReceive.replace(/\/[^/]+$/, ""))}
[ ! -L "$dir" ] || fail "$dir (backups.push.directory) is a symlink"
install -d -m 0755 "\${dir%/*}"
install -d -o "$user" -g "$user" -m 0700 "$dir"
echo "[$host] backup account $user (uid $(id -u "$user")) receives into $dir ($(df -h --output=avail "$dir" | tail -n 1 | tr -d ' ') free)"
`;
}

/** Destroy on the backup host: the account goes; the backups stay, handed to root. */
export function removeBackupAccountScript(push: BackupPushConfig): string {
  return `set -euo pipefail
user=${shq(push.user)} dir=${shq(push.directory)}
[ -d "$dir" ] && [ ! -L "$dir" ] && chown -R root:root "$dir" || true
${removeAccountLines(BACKUP_ACCOUNT_COMMENT)}
rmdir ${shq(`/var/lib/${push.user}`)} 2>/dev/null || true
`;
}

/** Taker, once everything is in place: the real key, through the real forced command, lists the backups. */
export function pushCheckScript(push: BackupPushConfig, taker: string, stamp: string): string {
  return `set -euo pipefail
# runs again when these change: ${createHash("sha256").update(stamp).digest("hex")}
out=$(ssh -i ${shq(PATHS.backupPushKey)} -p ${push.sshPort} -o UserKnownHostsFile=${shq(PATHS.backupKnownHosts)} \\
  -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=30 \\
  -- ${shq(`${push.user}@${push.address}`)} list 2>&1) || {
  echo "[${taker}] cannot reach the backup host ${push.name} as ${push.user} with the push key: $out" >&2; exit 1; }
echo "[${taker}] the push key reaches ${push.name}: $(printf '%s\\n' "$out" | grep -c . || true) backup(s) stored there"
`;
}

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
        delete: `rm -f ${shq(PATHS.backupPushKey)} ${shq(`${PATHS.backupPushKey}.pub`)}\n`,
      },
      { ...child, dependsOn: [args.taker] },
    );
    this.takerKey = key.value;
    const hostKeys = new HostProbe(
      `${push.name}-host-keys`,
      { target: args.backupTarget, what: "ssh host public keys", script: HOST_KEYS_SCRIPT },
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
