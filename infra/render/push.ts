// backups.push: what the separate backup host gets (the receive command, the account's root-owned key file, the
// sshd drop-in that makes sshd read it) and the backup-taking host's pin of the backup host's keys.

import type { BackupPushConfig, StackConfig } from "../config/types";
import type { FileBody } from "./types";
import { PATHS, VALIDATE_BASH, VALIDATE_SSHD_DROPIN, header, validateAuthorizedKeys } from "./common";
import { knownHostsFile } from "./sync";
import { renderTemplate } from "./templates";

/** The push settings, or an error naming the key when the stack has none. */
export function pushOf(cfg: StackConfig): BackupPushConfig {
  const p = cfg.backups.enabled ? cfg.backups.push : undefined;
  if (!p) throw new Error("internal: mirrorstack:backups.push is not set");
  return p;
}

/** The taker's address as the backup host's sshd sees it in from="...". */
function takerAddress(cfg: StackConfig): string {
  return cfg.hosts.find((h) => h.name === cfg.backups.host)!.address;
}

/**
 * Files of the backup host. `takerKey` is the backup-taking host's public push key ("" while unknown: the key
 * file then holds a comment and no key).
 */
export function renderBackupHostFiles(cfg: StackConfig, takerKey: string): FileBody[] {
  const push = pushOf(cfg);
  const common = { header: header(cfg.stack), name: push.name, user: push.user, taker: cfg.backups.host };
  const keyFile = (key: string) =>
    renderTemplate("authorized_keys-backup.hbs", { ...common, command: PATHS.backupReceive, from: takerAddress(cfg), key: key.trim() });
  return [
    {
      path: PATHS.backupReceive,
      kind: "whole",
      owner: "root",
      group: "root",
      mode: "0755",
      content: renderTemplate("mirrorstack-backup-receive.sh.hbs", {
        ...common,
        stack: cfg.stack,
        directory: push.directory,
        retention: push.retention,
        quotaMiB: push.quotaMiB,
        quotaBytes: push.quotaMiB * 1024 * 1024,
      }),
      secret: false,
      validate: VALIDATE_BASH,
      onChange: [],
      description: `forced command of the backup push key: stores backups in ${push.directory}, keeping ${push.retention} within ${push.quotaMiB} MiB`,
    },
    {
      path: `${PATHS.authorizedKeysDir}/${push.user}`,
      kind: "whole",
      owner: "root",
      group: "root",
      mode: "0644",
      content: keyFile(takerKey),
      completion: { needs: "taker-key", content: keyFile },
      secret: false,
      validate: validateAuthorizedKeys(PATHS.backupReceive),
      onChange: [],
      description: `the push key of ${cfg.backups.host} for ${push.user}, restricted to the receive command and its address`,
    },
    {
      path: PATHS.backupSshdDropIn,
      kind: "whole",
      owner: "root",
      group: "root",
      mode: "0644",
      content: renderTemplate("sshd-mirrorstack-backup.conf.hbs", { ...common, dir: PATHS.authorizedKeysDir }),
      secret: false,
      validate: VALIDATE_SSHD_DROPIN,
      onChange: [{ service: "ssh", action: "reload" }],
      description: `sshd also reads root-owned keys from ${PATHS.authorizedKeysDir}/<user>`,
    },
  ];
}

/** The backup-taking host's pin of the backup host's host keys (read over the deployment's pinned connection). */
export function renderPushKnownHosts(cfg: StackConfig, hostKeys: readonly string[]): FileBody {
  const push = pushOf(cfg);
  return knownHostsFile({
    stack: cfg.stack,
    path: PATHS.backupKnownHosts,
    of: `the backup host ${push.name} (mirrorstack:backups.push.address)`,
    address: push.address,
    port: push.sshPort,
    hostKeys,
    comment: [
      `# Host keys of the backup host ${push.name} for mirrorstack-backup's push from ${cfg.backups.host}, read over`,
      "# the deployment's pinned SSH connection. A changed key makes the push fail until the next deployment.",
    ],
    description: `pins the host keys of the backup host ${push.name}`,
  });
}
