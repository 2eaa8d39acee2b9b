// The scripts the deployment runs on hosts once per change (RemoteCommand create/delete, HostProbe script), as
// opposed to the files it leaves there: templates/steps/*.sh.hbs, with the fragments several of them share in
// templates/partials/. Pure: no Pulumi, no SSH. The components (files.ts, backupPush.ts, mirrorHost.ts) pass the
// text on; it is a resource input kept in state, so a changed byte runs the step again on every host.

import { createHash } from "node:crypto";
import { posix } from "node:path";
import type { SoftwareNeeds } from "../components/software";
import type { BackupPushConfig, OsFamily } from "../config/types";
import { PATHS } from "./common";
import { shq } from "../shell";
import { renderTemplate } from "./templates";

/** Oldest rsync the master may run without files.allowOldRsync (3.4.0 fixed CVE-2024-12084/12085). */
export const MIN_RSYNC = "3.4.0";

/** Comment (GECOS) of the sync account; destroy removes only an account carrying it. */
export const SYNC_ACCOUNT_COMMENT = "mirrorstack file sync (forced command, read-only)";

/** Comment (GECOS) of the receiving account; destroy removes only an account carrying it. */
export const BACKUP_ACCOUNT_COMMENT = "mirrorstack backup receiver (forced command, store only)";

/** Home of a mirrorstack account (sync or backup receiver): root-owned, empty, not writable by it (so it cannot add keys of its own). */
export function accountHome(user: string): string {
  return `/var/lib/${user}`;
}

/**
 * Services of the NFS server, per OS family. FileMirroring starts and checks them once their files are in place
 * (so the host's software step leaves them alone, and a server that cannot run is reported as such).
 */
export function nfsServerServices(os: OsFamily): { rpcbind: string; server: string; idmapd: string } {
  return os === "rhel"
    ? { rpcbind: "rpcbind", server: "nfs-server", idmapd: "nfs-idmapd" }
    : { rpcbind: "rpcbind", server: "nfs-kernel-server", idmapd: "nfs-idmapd" };
}

/** The line a step prints first so that its text (and so the resource) changes whenever `stamp` does. */
function stampHash(stamp: string): string {
  return createHash("sha256").update(stamp).digest("hex");
}

/**
 * Master (nfs): makes the NFS server serve the written files (templates/steps/nfs-server.sh.hbs). `stamp` (the
 * files' contents) makes it run again whenever one of them changes.
 */
export function nfsServerScript(opts: {
  host: string;
  os: OsFamily;
  exports: readonly string[];
  filesystem?: string;
  stamp: string;
}): string {
  return renderTemplate("steps/nfs-server.sh.hbs", {
    ...nfsServerServices(opts.os),
    host: opts.host,
    exports: opts.exports,
    filesystem: opts.filesystem ?? "",
    stampHash: stampHash(opts.stamp),
  });
}

/** Mirror (nfs): each export mounted where fstab says, as NFS, after the master serves it. */
export function nfsMountScript(opts: { host: string; mounts: readonly { source: string; target: string }[]; stamp: string }): string {
  return renderTemplate("steps/nfs-mount.sh.hbs", {
    host: opts.host,
    mounts: opts.mounts,
    targets: opts.mounts.map((m) => m.target),
    stampHash: stampHash(opts.stamp),
  });
}

/** Master (nfs), when it stops being the NFS source: each export withdrawn from each client (`exportfs -u`). */
export function nfsServerRemoveScript(opts: { host: string; exports: readonly { path: string; clients: readonly string[] }[] }): string {
  // exportfs takes client:path; an IPv6 client goes in brackets so the colon before the path stays unambiguous.
  const client = (c: string) => (c.includes(":") ? `[${c}]` : c);
  return renderTemplate("steps/nfs-server-remove.sh.hbs", {
    host: opts.host,
    unexports: opts.exports.flatMap((e) => e.clients.map((c) => `${client(c)}:${e.path}`)),
    paths: opts.exports.map((e) => e.path),
  });
}

/** Mirror (nfs), when it stops mounting the master's exports: each mount taken down (lazily if the server is gone). */
export function nfsMountRemoveScript(opts: { host: string; targets: readonly string[] }): string {
  return renderTemplate("steps/nfs-mount-remove.sh.hbs", { host: opts.host, targets: opts.targets });
}

/** Master: refuse an old rsync (unless allowed), then make the locked sync account with read access to the trees. */
export function syncAccountScript(opts: {
  host: string;
  user: string;
  rsyncPath: string;
  allowOldRsync: boolean;
  trees: readonly string[];
}): string {
  return renderTemplate("steps/sync-account.sh.hbs", {
    host: opts.host,
    user: opts.user,
    rsyncPath: opts.rsyncPath,
    home: accountHome(opts.user),
    allowOldRsync: opts.allowOldRsync,
    trees: opts.trees,
    minRsync: MIN_RSYNC,
    comment: SYNC_ACCOUNT_COMMENT,
    authorizedKeysDir: PATHS.authorizedKeysDir,
    validateRsyncDir: posix.dirname(PATHS.validateRsync),
  });
}

/** Destroy: remove the sync account if mirrorstack made it (its comment says so), and its empty home. */
export function removeSyncAccountScript(user: string): string {
  return renderTemplate("steps/sync-account-remove.sh.hbs", {
    user,
    comment: SYNC_ACCOUNT_COMMENT,
    home: accountHome(user),
    authorizedKeysDir: PATHS.authorizedKeysDir,
    validateRsyncDir: posix.dirname(PATHS.validateRsync),
  });
}

/**
 * Master, after its sync files are in place: what sshd will really do for the account from each mirror. `stamp`
 * (the authorized_keys content) makes it run again whenever the keys change.
 */
export function syncCheckScript(opts: { host: string; user: string; mirrors: readonly { name: string; address: string }[]; stamp: string }): string {
  return renderTemplate("steps/sync-check.sh.hbs", {
    host: opts.host,
    user: opts.user,
    keys: `${PATHS.authorizedKeysDir}/${opts.user}`,
    home: accountHome(opts.user),
    mirrors: opts.mirrors,
    mirrorNames: opts.mirrors.map((m) => m.name),
    authorizedKeysDir: PATHS.authorizedKeysDir,
    sshdDropIn: PATHS.sshdDropIn,
    validateRsync: PATHS.validateRsync,
    stampHash: stampHash(opts.stamp),
  });
}

/**
 * A host's own ed25519 key pair at `key`; prints the public key, `<type> <base64> <comment>@<host>`. `accounts`
 * (the sync key only) adds the check that files.owner / files.group exist on the host.
 */
export function keyPairScript(opts: {
  host: string;
  key: string;
  comment: string;
  accounts?: { owner?: string | undefined; group?: string | undefined };
}): string {
  const a = opts.accounts;
  return renderTemplate("steps/key-pair.sh.hbs", {
    host: opts.host,
    key: opts.key,
    comment: opts.comment,
    checkAccounts: a !== undefined,
    checkOwner: a?.owner !== undefined,
    owner: a?.owner ?? "",
    checkGroup: a?.group !== undefined,
    group: a?.group ?? "",
  });
}

/** Mirror: its own sync key pair, and the check that the configured owner/group of mirrored files exist there. */
export function syncKeyScript(opts: { host: string; owner?: string | undefined; group?: string | undefined }): string {
  return keyPairScript({ host: opts.host, key: PATHS.syncKey, comment: "mirrorstack-sync", accounts: { owner: opts.owner, group: opts.group } });
}

/** Destroy of a key-pair probe: the key pair at `key` goes. */
export function removeKeyPairScript(key: string): string {
  return renderTemplate("steps/key-pair-remove.sh.hbs", { key, publicKey: `${key}.pub` });
}

/** The public host keys sshd really serves, one per line (read over the pinned deployment connection). */
export function hostKeysScript(): string {
  return renderTemplate("steps/host-keys.sh.hbs", {});
}

/** Backup host: the receiving account (locked, key only) owning the backup directory, nobody else reading it. */
export function backupAccountScript(push: BackupPushConfig): string {
  return renderTemplate("steps/backup-account.sh.hbs", {
    host: push.name,
    user: push.user,
    home: accountHome(push.user),
    directory: push.directory,
    comment: BACKUP_ACCOUNT_COMMENT,
    authorizedKeysDir: PATHS.authorizedKeysDir,
    receiveDir: posix.dirname(PATHS.backupReceive),
  });
}

/** Destroy on the backup host: the account goes; the backups stay, handed to root. */
export function removeBackupAccountScript(push: BackupPushConfig): string {
  return renderTemplate("steps/backup-account-remove.sh.hbs", {
    user: push.user,
    directory: push.directory,
    comment: BACKUP_ACCOUNT_COMMENT,
    home: accountHome(push.user),
  });
}

/** Taker, once everything is in place: the real key, through the real forced command, lists the backups. */
export function pushCheckScript(push: BackupPushConfig, taker: string, stamp: string): string {
  return renderTemplate("steps/push-check.sh.hbs", {
    taker,
    name: push.name,
    user: push.user,
    port: push.sshPort,
    login: `${push.user}@${push.address}`,
    pushKey: PATHS.backupPushKey,
    knownHosts: PATHS.backupKnownHosts,
    stampHash: stampHash(stamp),
  });
}

/**
 * Idempotent script: installs what is missing (nothing when all is there), then makes sure each service is
 * enabled and running, through systemctl where the host runs systemd and `service` where it does not.
 */
export function ensureSoftwareScript(needs: SoftwareNeeds, os: OsFamily): string {
  return renderTemplate("steps/ensure-software.sh.hbs", {
    debian: os === "debian",
    packages: needs.packages,
    services: needs.services,
    directories: needs.directories,
  });
}

/** What a seed streams: a logical dump, a physical backup (MariaDB), or, for the benchmarks, the raw data directory. */
export type SeedKind = "logical" | "physical" | "raw";

/** The scripts of one host-to-host seed (infra/replication/seed.ts, copyFromMaster runs them in this order). */
export interface SeedScripts {
  /** Master: makes the one-seed key pair, prints its public key. */
  readonly key: string;
  /** Each new mirror: lets that key in, for this seed, to run `receive` only; prints the host keys. */
  readonly authorize: string;
  /** Each new mirror: the key's forced command, which takes the stream in. */
  readonly receive: string;
  /** Master: one copy, streamed to every new mirror at once. */
  readonly send: string;
  /** Master and each new mirror, always: the seed's key, directory and authorized_keys entry go. */
  readonly cleanup: string;
}

/**
 * A logical copy's rows go to the mirror's loaders in chunks of about this size: big enough that a session per chunk
 * costs nothing, small enough that several loaders share even one large table.
 */
const LOAD_CHUNK_BYTES = 16 * 1024 * 1024;

/** Renders the seed scripts for one kind of copy of `databases` (logical) or of the whole instance. */
export function seedScripts(opts: {
  kind: SeedKind;
  flavour: "mariadb" | "mysql";
  databases: readonly string[];
  /** database.seedCompression; the raw copy is never compressed. */
  compression?: "zstd" | "none";
  /** Size of the chunks a logical copy's rows are loaded in; small in tests, to make many. */
  loadChunkBytes?: number;
}): SeedScripts {
  const maria = opts.flavour === "mariadb";
  const kinds = {
    logical: opts.kind === "logical",
    physical: opts.kind === "physical",
    raw: opts.kind === "raw",
    compress: opts.kind !== "raw" && (opts.compression ?? "zstd") === "zstd",
  };
  const runDir = PATHS.seedRunDir;
  const cli = maria ? "mariadb" : "mysql";
  // The databases' data and indexes, which the master tells each mirror and the mirror counts as its own copies' room
  // (names validated as letters, digits and '_'; quoted as SQL strings all the same).
  const sqlDatabases = opts.databases.map((d) => `'${d.replace(/[\\']/g, "\\$&")}'`).join(", ");
  const sizeQuery = `SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema IN (${sqlDatabases})`;
  return {
    key: renderTemplate("steps/seed-key.sh.hbs", { runDir }),
    authorize: renderTemplate("steps/seed-authorize.sh.hbs", { runDir }),
    receive: renderTemplate("steps/seed-receive.sh.hbs", { ...kinds, cli, sizeQuery, loadChunkBytes: opts.loadChunkBytes ?? LOAD_CHUNK_BYTES }),
    send: renderTemplate("steps/seed-send.sh.hbs", {
      ...kinds,
      runDir,
      cli,
      sizeQuery,
      dump: maria ? "mariadb-dump" : "mysqldump",
      coordinates: maria ? "--master-data=2" : "--source-data=2 --set-gtid-purged=COMMENTED",
      databases: opts.databases.map(shq).join(" "),
    }),
    cleanup: renderTemplate("steps/seed-cleanup.sh.hbs", { runDir }),
  };
}

/** The site's database account on a web host and its removal (templates/steps/site-account*.sh.hbs). */
export function siteAccountScripts(opts: {
  role: "master" | "mirror";
  flavour: "mariadb" | "mysql";
  user: string;
  database: string;
}): { create: string; delete: string } {
  const ctx = {
    role: opts.role,
    mariadb: opts.flavour === "mariadb",
    cli: opts.flavour === "mariadb" ? "mariadb" : "mysql",
    user: opts.user,
    database: opts.database,
    // A mirror's site reads only: the server is read_only too, and the account could not write if it were not.
    privileges: opts.role === "master" ? "ALL PRIVILEGES" : "SELECT",
  };
  return { create: renderTemplate("steps/site-account.sh.hbs", ctx), delete: renderTemplate("steps/site-account-remove.sh.hbs", ctx) };
}
