// rsync-ssh mode: the master's forced command, the sync account's authorized_keys and the sshd drop-in; the
// mirrors' sync script and its cron entry.

import { addressForHostPath, checkPublicKey } from "../config/checks";
import type { HostConfig, StackConfig } from "../config/types";
import type { FileBody } from "./types";
import {
  PATHS,
  VALIDATE_BASH,
  VALIDATE_CRON,
  VALIDATE_SSHD_DROPIN,
  header,
  rootScript,
  validateAuthorizedKeys,
} from "./common";
import { HOST_KEY_TYPES } from "../ssh/keys";
import { renderTemplate } from "./templates";
import { renderValidateRsync } from "./validate-rsync";

/** True when this stack pulls file trees over rsync+ssh. */
export function syncsFiles(cfg: StackConfig): boolean {
  return cfg.files.method === "rsync-ssh" && cfg.files.trees.length > 0;
}

/** The NFS exports that mirrors copy from their mount into a local tree. */
export function pulledExports(cfg: StackConfig): { path: string; mount: string; copyTo: string }[] {
  if (cfg.files.method !== "nfs" || !cfg.nfs) return [];
  return cfg.nfs.exports.flatMap((e) => (e.copyTo === undefined ? [] : [{ path: e.path, mount: e.mountPoint, copyTo: e.copyTo }]));
}

/** True when mirrors run mirrorstack-sync: rsync+ssh pulls, or copies of mounted NFS exports. */
export function pullsFiles(cfg: StackConfig): boolean {
  return syncsFiles(cfg) || pulledExports(cfg).length > 0;
}

/** rsync options for a copy between local paths: compression only costs CPU there. */
export function localCopyOptions(options: readonly string[]): string[] {
  return options.flatMap((o) => {
    if (/^--(compress|compress-level=.*|zc=.*|zl=.*|compress-choice=.*|new-compress|old-compress|skip-compress=.*)$/.test(o)) return [];
    if (/^-[A-Za-z]+$/.test(o)) {
      const letters = o.slice(1).replace(/z/g, "");
      return letters === "" ? [] : [`-${letters}`];
    }
    return [o];
  });
}

/** Refuses sync keys of hosts that are not mirrors of the stack, and text that is not one OpenSSH public key. */
export function checkMirrorKeys(cfg: StackConfig, mirrorKeys: Readonly<Record<string, string>>): void {
  const names = new Set(cfg.mirrors.map((m) => m.name));
  for (const [name, key] of Object.entries(mirrorKeys)) {
    if (!names.has(name)) throw new Error(`mirrorKeys: ${JSON.stringify(name)} is not a mirror of this stack`);
    const err = typeof key === "string" ? checkPublicKey(key) : "expected a string";
    if (err) throw new Error(`mirrorKeys.${name}: ${err}`);
  }
}

/** The sync account's authorized_keys: one restricted entry per mirror whose key is known. */
function syncKeyEntries(cfg: StackConfig, mirrorKeys: Readonly<Record<string, string>>) {
  return cfg.mirrors.map((m) => {
    const key = mirrorKeys[m.name];
    return { mirror: m.name, from: m.address, key: key === undefined ? "" : key.trim() };
  });
}

function authorizedKeysContent(cfg: StackConfig, host: HostConfig, mirrorKeys: Readonly<Record<string, string>>): string {
  return renderTemplate("authorized_keys.hbs", {
    header: header(cfg.stack),
    host: host.name,
    syncUser: cfg.files.syncUser,
    command: PATHS.validateRsync,
    entries: syncKeyEntries(cfg, mirrorKeys),
  });
}

function masterSyncFiles(cfg: StackConfig, host: HostConfig, mirrorKeys: Readonly<Record<string, string>>): FileBody[] {
  const trees = cfg.files.trees.map((t) => t.path);
  const syncUser = cfg.files.syncUser;
  const entries = syncKeyEntries(cfg, mirrorKeys);
  const missing = entries.filter((e) => e.key === "").map((e) => e.mirror);
  return [
    {
      path: PATHS.validateRsync,
      kind: "whole",
      owner: "root",
      group: "root",
      mode: "0755",
      content: renderValidateRsync({
        trees,
        rsyncPath: cfg.files.rsyncPath,
        confineRoot: cfg.files.confineRoot,
        stack: cfg.stack,
      }),
      secret: false,
      validate: VALIDATE_BASH,
      onChange: [],
      description: `forced command of the sync key: read-only rsync pulls of ${trees.join(", ")}`,
    },
    {
      path: `${PATHS.authorizedKeysDir}/${syncUser}`,
      kind: "whole",
      owner: "root",
      group: "root",
      mode: "0644",
      content: authorizedKeysContent(cfg, host, mirrorKeys),
      completion: {
        needs: "mirror-keys",
        content: (keys) => {
          checkMirrorKeys(cfg, keys);
          return authorizedKeysContent(cfg, host, keys);
        },
      },
      secret: false,
      validate: validateAuthorizedKeys(PATHS.validateRsync),
      onChange: [],
      description:
        `sync keys of ${entries.length} mirror(s) for ${syncUser}, each restricted to validate-rsync and its address` +
        (missing.length > 0 ? ` (not known yet: ${missing.join(", ")})` : ""),
    },
    {
      path: PATHS.sshdDropIn,
      kind: "whole",
      owner: "root",
      group: "root",
      mode: "0644",
      content: renderTemplate("sshd-mirrorstack.conf.hbs", {
        header: header(cfg.stack),
        dir: PATHS.authorizedKeysDir,
        syncUser,
      }),
      secret: false,
      validate: VALIDATE_SSHD_DROPIN,
      onChange: [{ service: "ssh", action: "reload" }],
      description: `sshd also reads root-owned keys from ${PATHS.authorizedKeysDir}/<user>`,
    },
  ];
}

function chownOption(cfg: StackConfig): string[] {
  const { owner, group } = cfg.files;
  return owner !== undefined || group !== undefined ? [`--chown=${owner ?? ""}${group !== undefined ? `:${group}` : ""}`] : [];
}

function syncCronFile(cfg: StackConfig, host: HostConfig, log: string, nfs: boolean): FileBody {
  return {
    path: "/etc/cron.d/mirrorstack-sync",
    kind: "whole",
    owner: "root",
    group: "root",
    mode: "0644",
    content: renderTemplate("cron-sync.hbs", {
      header: header(cfg.stack),
      host: host.name,
      nfs,
      logFile: log,
      status: PATHS.syncStatus,
      schedule: cfg.cron.sync,
      script: PATHS.syncScript,
    }),
    secret: false,
    validate: VALIDATE_CRON,
    onChange: [],
    description: `runs mirrorstack-sync at "${cfg.cron.sync}"`,
  };
}

/** NFS mode: copy each mounted export into its local tree (files.trees excludes apply to the export of that path). */
function mirrorNfsCopyFiles(cfg: StackConfig, host: HostConfig): FileBody[] {
  const exportsCopied = pulledExports(cfg);
  if (exportsCopied.length === 0) return [];
  const log = `${PATHS.logDir}/sync.log`;
  const trees = exportsCopied.map((e) => ({
    path: e.copyTo,
    mount: e.mount,
    export: e.path,
    excludes: (cfg.files.trees.find((t) => t.path === e.path)?.exclude ?? []).map((x) => `--exclude=${x}`),
  }));
  return [
    rootScript(
      PATHS.syncScript,
      renderTemplate("mirrorstack-sync.sh.hbs", {
        header: header(cfg.stack),
        nfs: true,
        stack: cfg.stack,
        host: host.name,
        masterName: cfg.master.name,
        lock: PATHS.syncLock,
        logFile: log,
        status: PATHS.syncStatus,
        options: [...localCopyOptions(cfg.files.rsyncOptions), ...chownOption(cfg)],
        trees,
      }),
      `copies the mounted exports into ${trees.map((t) => t.path).join(", ")}`,
    ),
    syncCronFile(cfg, host, log, true),
  ];
}

function mirrorSyncFiles(cfg: StackConfig, host: HostConfig): FileBody[] {
  const master = cfg.master;
  const sshCommand = [
    "ssh",
    `-i ${PATHS.syncKey}`,
    `-p ${master.sshPort}`,
    `-o UserKnownHostsFile=${PATHS.knownHosts}`,
    "-o StrictHostKeyChecking=yes",
    "-o BatchMode=yes",
    "-o IdentitiesOnly=yes",
    "-o ConnectTimeout=30",
  ].join(" ");
  const options = [...cfg.files.rsyncOptions, ...chownOption(cfg)];
  const log = `${PATHS.logDir}/sync.log`;
  // A tree with a space is named on the remote side as validate-rsync accepts it ("\ "): see the template.
  const trees = cfg.files.trees.map((t) => ({
    path: t.path,
    excludes: t.exclude.map((e) => `--exclude=${e}`),
    ...(t.path.includes(" ") ? { remote: t.path.replace(/ /g, "\\ ") } : {}),
  }));
  return [
    rootScript(
      PATHS.syncScript,
      renderTemplate("mirrorstack-sync.sh.hbs", {
        header: header(cfg.stack),
        nfs: false,
        stack: cfg.stack,
        host: host.name,
        masterName: master.name,
        lock: PATHS.syncLock,
        logFile: log,
        status: PATHS.syncStatus,
        source: `${cfg.files.syncUser}@${addressForHostPath(master.address)}`,
        sshCommand,
        options,
        trees,
      }),
      `pulls ${trees.map((t) => t.path).join(", ")} from ${master.name} with rsync over ssh`,
    ),
    syncCronFile(cfg, host, log, false),
  ];
}

export function renderSyncFiles(
  cfg: StackConfig,
  host: HostConfig,
  mirrorKeys: Readonly<Record<string, string>>,
): FileBody[] {
  if (host.role === "mirror" && cfg.files.method === "nfs") return mirrorNfsCopyFiles(cfg, host);
  if (!syncsFiles(cfg)) return [];
  return host.role === "master" ? masterSyncFiles(cfg, host, mirrorKeys) : mirrorSyncFiles(cfg, host);
}

/**
 * The mirror's pin of the master's host keys (PATHS.knownHosts), which mirrorstack-sync's ssh checks strictly.
 * `hostKeys` are `<type> <base64>` lines read from the master over the deployment's own SSH connection (itself
 * pinned by the stack's known_hosts), so the mirror never has to trust a key on first use.
 */
export function renderMirrorKnownHosts(cfg: StackConfig, host: HostConfig, hostKeys: readonly string[]): FileBody {
  const master = cfg.master;
  return knownHostsFile({
    stack: cfg.stack,
    path: PATHS.knownHosts,
    of: master.name,
    address: master.address,
    port: master.sshPort,
    hostKeys,
    comment: [
      `# Host keys of the master ${master.name} for mirrorstack-sync on ${host.name}, read from the master over the`,
      "# deployment's pinned SSH connection. A changed key makes the pull fail until the next deployment.",
    ],
    description: `pins the host keys of ${master.name} for the sync pull`,
  });
}

/** A known_hosts file pinning one host's keys (`<type> <base64>` lines), checked by ssh-keygen on the host. */
export function knownHostsFile(o: {
  stack: string;
  path: string;
  of: string;
  address: string;
  port: number;
  hostKeys: readonly string[];
  comment: readonly string[];
  description: string;
}): FileBody {
  if (o.hostKeys.length === 0) throw new Error(`no host keys read from ${o.of}`);
  for (const k of o.hostKeys) {
    const [type, blob, ...more] = k.split(" ");
    if (!HOST_KEY_TYPES.includes(type!) || !/^[A-Za-z0-9+/]+={0,3}$/.test(blob ?? "") || more.length > 0) {
      throw new Error(`host key of ${o.of} is not "<type> <base64>": ${JSON.stringify(k.slice(0, 80))}`);
    }
  }
  // ssh looks a host up as written on its command line: the bare address on port 22, [address]:port otherwise.
  const pattern = o.port === 22 ? o.address : `[${o.address}]:${o.port}`;
  return {
    path: o.path,
    kind: "whole",
    owner: "root",
    group: "root",
    mode: "0644",
    content: [header(o.stack), ...o.comment, ...[...o.hostKeys].sort().map((k) => `${pattern} ${k}`), ""].join("\n"),
    secret: false,
    validate: `ssh-keygen -l -f "$FILE" >/dev/null`,
    onChange: [],
    description: o.description,
  };
}
