// Rules that span keys: uniqueness across hosts, server ids, NFS overrides, schedule aliases, secrets.
// They run on the parsed config with the schema's defaults filled in (parse.ts lenientParse), even when the schema
// found problems, so that one run reports everything: a value that failed the schema is missing from that view
// (and named in `failed`), and the rules that need it are skipped, leaving the error to the schema.

import { type ConfigIssue, formatKeyPath } from "./errors";
import {
  SECRET_PLACEHOLDER,
  canonicalAddress,
  checkSecretText,
  classifyClient,
  isWithin,
  normalizeCron,
  show,
} from "./checks";
import type { Lenient } from "./parse";
import { exportCopyTo, exportMountPoint, SECRET_KEYS, type StackParsed } from "./schema";

type Path = (string | number)[];
type View = Lenient<StackParsed>;

export const MIN_SECRET_LENGTH = 16;
/** CHANGE MASTER / CHANGE REPLICATION SOURCE accept at most 32 characters. */
export const MAX_REPLICATION_PASSWORD_LENGTH = 32;

/** Derived server ids: master 1, mirror i 100+i. */
export function defaultServerId(role: "master" | "mirror", index: number): number {
  return role === "master" ? 1 : 100 + index;
}

/** The versions the replication layer (infra/replication/dialect.ts) drives: MariaDB 10.5+, MySQL 8.0 and 8.4. */
export function supportedVersion(flavour: string, version: string): boolean {
  const m = /^([0-9]+)\.([0-9]+)$/.exec(version);
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (flavour === "mariadb") return (major === 10 && minor >= 5) || major === 11;
  return major === 8 && (minor === 0 || minor === 4);
}

/** An NFS export as the mirrors see it: where it is mounted and where its local copy goes (none: mount only). */
interface MirrorSidePaths {
  readonly path: string;
  readonly mount: string;
  readonly copy: string | undefined;
  readonly at: Path;
}

/** On a mirror, mount points and local copies must stay apart: a copy inside a mount would write to the master. */
function checkMirrorPaths(list: readonly MirrorSidePaths[], add: (path: Path, message: string) => void, what = "export"): void {
  const overlaps = (a: string, b: string) => a === b || isWithin(a, b) || isWithin(b, a);
  list.forEach((e, i) => {
    const mountKey = what === "export" ? [...e.at, "mountPoint"] : e.at;
    const copyKey = what === "export" ? [...e.at, "copyTo"] : e.at;
    if (e.copy !== undefined && overlaps(e.copy, e.mount)) {
      add(copyKey, `the local copy ${show(e.copy)} and the mount point ${show(e.mount)} contain each other; choose another copyTo or mountPoint, or set pull: false`);
    }
    for (let j = 0; j < i; j++) {
      const o = list[j]!;
      if (o.mount !== e.mount && overlaps(o.mount, e.mount)) add(mountKey, `mount point ${show(e.mount)} overlaps ${show(o.mount)} of ${formatKeyPath(o.at)}`);
      if (e.copy !== undefined && o.copy !== undefined && overlaps(o.copy, e.copy)) {
        add(copyKey, `local copy ${show(e.copy)} overlaps ${show(o.copy)} of ${formatKeyPath(o.at)}`);
      }
      if (e.copy !== undefined && overlaps(e.copy, o.mount)) add(copyKey, `local copy ${show(e.copy)} overlaps the mount point ${show(o.mount)} of ${formatKeyPath(o.at)}`);
      if (o.copy !== undefined && overlaps(o.copy, e.mount)) add(mountKey, `mount point ${show(e.mount)} overlaps the local copy ${show(o.copy)} of ${formatKeyPath(o.at)}`);
    }
  });
}

/** What the rules need besides the parsed view. */
export interface CrossInput {
  /** The input as given (after JSON decoding): which keys were set at all. */
  readonly raw: Readonly<Record<string, unknown>>;
  /** Key paths (formatKeyPath) whose values failed the schema and are missing from the view. */
  readonly failed: ReadonlySet<string>;
  /** Top-level keys that Pulumi holds as secrets. */
  readonly secretKeys: ReadonlySet<string>;
}

export function crossCheck(view: View, { raw, failed, secretKeys }: CrossInput): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: Path, message: string) => issues.push({ path: formatKeyPath(path), message });
  const bad = (path: Path) => failed.has(formatKeyPath(path));
  const given = (v: unknown) => v !== undefined;

  // ----- hosts: unique names, addresses, server ids
  interface HostRef {
    path: Path;
    name?: string;
    address?: string;
    sshUser?: string;
    serverId: number;
    explicitId: boolean;
  }
  type HostView = NonNullable<View["master"]> | NonNullable<NonNullable<View["mirrors"]>[number]>;
  const hostRef = (h: HostView, path: Path, role: "master" | "mirror", index: number): HostRef => ({
    path,
    name: h.name,
    address: h.address,
    sshUser: h.sshUser,
    serverId: h.serverId ?? defaultServerId(role, index),
    explicitId: h.serverId !== undefined,
  });
  const hosts: HostRef[] = [];
  if (view.master) hosts.push(hostRef(view.master, ["master"], "master", 0));
  (view.mirrors ?? []).forEach((m, i) => {
    if (m) hosts.push(hostRef(m, ["mirrors", i], "mirror", i));
  });
  const seenName = new Map<string, Path>();
  const seenAddress = new Map<string, Path>();
  const seenId = new Map<number, HostRef>();
  for (const h of hosts) {
    if (h.name !== undefined) {
      const prev = seenName.get(h.name);
      if (prev) add([...h.path, "name"], `${show(h.name)} is already the name of ${formatKeyPath(prev)}; host names must be unique`);
      else seenName.set(h.name, h.path);
    }
    if (h.address !== undefined) {
      const key = canonicalAddress(h.address);
      const prev = seenAddress.get(key);
      if (prev) add([...h.path, "address"], `${show(h.address)} is already the address of ${formatKeyPath(prev)}; addresses must be unique`);
      else seenAddress.set(key, h.path);
    }
    const prev = seenId.get(h.serverId);
    if (prev) {
      const how = h.explicitId ? "" : " (derived: master 1, mirrors 100 + index; set serverId explicitly)";
      add([...h.path, "serverId"], `server id ${h.serverId}${how} is already used by ${formatKeyPath(prev.path)}; server ids must be unique`);
    } else seenId.set(h.serverId, h);
  }
  const hostNames = hosts.map((h) => h.name).filter((n): n is string => n !== undefined);

  // ----- ssh
  const ssh = view.ssh ?? {};
  if (given(raw["sshPrivateKey"]) && given(obj(raw["ssh"])?.["privateKeyPath"])) {
    add(["sshPrivateKey"], "set either mirrorstack:sshPrivateKey or mirrorstack:ssh.privateKeyPath, not both");
  }

  // ----- database
  const db = view.database;
  if (db) {
    const format = db.binlogFormat;
    if ((format === "STATEMENT" || format === "MIXED") && db.allowUnsafeBinlogFormat !== true) {
      add(
        ["database", "binlogFormat"],
        `${format} can make mirrors diverge (non-deterministic statements, insert/delete ordering); use ROW, or set database.allowUnsafeBinlogFormat: true`,
      );
    }
    if (db.flavour !== undefined && db.version !== undefined && !supportedVersion(db.flavour, db.version)) {
      add(["database", "version"], `${db.flavour} ${db.version} is not supported (MariaDB 10.5 or later, MySQL 8.0 or 8.4)`);
    }
    const seenDb = new Map<string, number>();
    (db.databases ?? []).forEach((d, i) => {
      if (d === undefined) return;
      const prev = seenDb.get(d);
      if (prev !== undefined) add(["database", "databases", i], `${show(d)} is listed twice (also at index ${prev})`);
      else seenDb.set(d, i);
    });
  }

  // ----- tls
  const tls = view.tls ?? {};
  (view.mirrors ?? []).forEach((m, i) => {
    // '%' as the account host is safe only because the certificate is then the identity.
    if (m?.changingAddress === true && tls.enabled !== true) {
      add(["mirrors", i, "changingAddress"], "needs tls.enabled: true (the account then matches any address, so the mirror's certificate must be its identity)");
    }
  });
  if (tls.renewBeforeDays !== undefined && tls.validityDays !== undefined && tls.renewBeforeDays >= tls.validityDays) {
    add(["tls", "renewBeforeDays"], `${tls.renewBeforeDays} must be below tls.validityDays (${tls.validityDays}), or every up would sign the certificates again`);
  }

  // ----- files
  const files = view.files ?? {};
  const method = files.method;
  const sshUsers = new Set<string>([ssh.user, ...hosts.map((h) => h.sshUser)].filter((u): u is string => u !== undefined));
  if (files.syncUser !== undefined && sshUsers.has(files.syncUser)) {
    add(["files", "syncUser"], `${show(files.syncUser)} is also an SSH login user; the sync account must be a dedicated account`);
  }
  const treePaths: { path: string; at: Path }[] = [];
  (files.trees ?? []).forEach((t, i) => {
    if (t?.path !== undefined) treePaths.push({ path: t.path, at: ["files", "trees", i, "path"] });
  });
  treePaths.forEach((t, i) => {
    for (let j = 0; j < i; j++) {
      const o = treePaths[j]!;
      if (o.path === t.path) add(t.at, `${show(t.path)} is listed twice`);
      else if (isWithin(t.path, o.path) || isWithin(o.path, t.path)) {
        add(t.at, `${show(t.path)} overlaps ${formatKeyPath(o.at)} (${show(o.path)}); trees must not contain each other`);
      }
    }
  });
  const cron = view.cron ?? {};
  if (files.schedule !== undefined && cron.sync !== undefined && normalizeCron(files.schedule) !== normalizeCron(cron.sync)) {
    add(["files", "schedule"], `is an alias of mirrorstack:cron.sync, which says ${show(cron.sync)}; set only one of them`);
  }

  // ----- nfs
  const nfsGiven = obj(raw["nfs"]);
  const exportsGiven = given(nfsGiven?.["exports"]);
  const nfs = view.nfs;
  const exportPaths: MirrorSidePaths[] = [];
  if (method !== "nfs") {
    if (given(raw["nfs"]) && method !== undefined) add(["nfs"], `is only used when mirrorstack:files.method is nfs (it is ${show(method)}); remove it or set files.method: nfs`);
  } else {
    if (!exportsGiven && treePaths.length === 0) {
      add(["nfs", "exports"], "is required when files.method is nfs and files.trees is empty (list the directories to export)");
    }
    if (nfs) {
      (nfs.exports ?? []).forEach((ex, i) => {
        if (!ex) return;
        const at: Path = ["nfs", "exports", i];
        if (ex.pull === false && ex.copyTo !== undefined) add([...at, "copyTo"], "is only used when pull is true; remove it or set pull: true");
        if (ex.path !== undefined && ex.pull !== undefined && !["path", "mountPoint", "copyTo"].some((k) => bad([...at, k]))) {
          const e = { path: ex.path, mountPoint: ex.mountPoint, pull: ex.pull, copyTo: ex.copyTo };
          exportPaths.push({ path: e.path, mount: exportMountPoint(e), copy: exportCopyTo(e), at });
        }
        if (ex.access === "rw" && ex.allowReadWrite !== true) {
          add([...at, "access"], "rw lets mirrors change the master's files; use ro, or set allowReadWrite: true on this export");
        }
        if (ex.rootSquash === false && ex.allowNoRootSquash !== true) {
          add([...at, "rootSquash"], "false (no_root_squash) gives mirrors' root full access; keep true, or set allowNoRootSquash: true");
        }
        (ex.clients ?? []).forEach((c, j) => {
          if (c !== undefined && classifyClient(c) === "wildcard" && ex.allowWildcard !== true) {
            add([...at, "clients", j], `${show(c)} is a wildcard that may match unknown hosts; list addresses, or set allowWildcard: true`);
          }
        });
      });
      exportPaths.forEach((e, i) => {
        for (let j = 0; j < i; j++) {
          const o = exportPaths[j]!;
          if (o.path === e.path) add([...e.at, "path"], `${show(e.path)} is exported twice`);
          if (o.mount === e.mount) add([...e.at, "mountPoint"], `${show(e.mount)} is already the mount point of ${formatKeyPath(o.at)}`);
        }
      });
      checkMirrorPaths(exportPaths, add);
      const fs = nfs.filesystem;
      if (fs) {
        if (fs.options !== undefined && !fs.options.includes("acl")) {
          add(["nfs", "filesystem", "options"], `${show(fs.options)} must include acl (the export filesystem needs POSIX ACLs)`);
        }
        if (fs.mountpoint !== undefined) {
          for (const e of exportPaths) {
            if (!isWithin(e.path, fs.mountpoint)) add([...e.at, "path"], `${show(e.path)} is not on the export filesystem mounted at ${show(fs.mountpoint)} (nfs.filesystem.mountpoint)`);
          }
        }
      }
      (nfs.tcpWrappers?.clients ?? []).forEach((c, j) => {
        if (c !== undefined && classifyClient(c) === "wildcard") {
          add(["nfs", "tcpWrappers", "clients", j], `${show(c)}: TCP wrappers take addresses, CIDR networks or host names here, not wildcards`);
        }
      });
    }
    if (!exportsGiven) {
      // One export per tree (resolve.ts): its path goes into /etc/exports and the mirrors' fstab, which would need
      // their own escapes for a space.
      for (const t of treePaths) {
        if (t.path.includes(" ")) add(t.at, `${show(t.path)} holds a space, which an NFS export cannot; use files.method: rsync-ssh, or list nfs.exports`);
      }
      // One export per tree (resolve.ts), mounted under the mount root and copied to the tree's own path.
      checkMirrorPaths(
        treePaths.map((t) => ({ path: t.path, mount: exportMountPoint({ path: t.path }), copy: t.path, at: t.at.slice(0, -1) })),
        add,
        "files.trees entry",
      );
    } else if (exportPaths.length > 0) {
      for (const t of treePaths) {
        if (!exportPaths.some((e) => isWithin(t.path, e.path))) {
          add(t.at, `${show(t.path)} is not inside any of mirrorstack:nfs.exports (${exportPaths.map((e) => e.path).join(", ")})`);
        }
      }
    }
  }

  // ----- backups
  const backups = view.backups ?? {};
  if (backups.host !== undefined && hostNames.length > 0 && !hostNames.includes(backups.host)) {
    add(["backups", "host"], `${show(backups.host)} is not one of the hosts (${hostNames.join(", ")})`);
  }
  if (backups.schedule !== undefined && cron.backup !== undefined && normalizeCron(backups.schedule) !== normalizeCron(cron.backup)) {
    add(["backups", "schedule"], `is an alias of mirrorstack:cron.backup, which says ${show(cron.backup)}; set only one of them`);
  }
  const push = view.backups?.push;
  if (push) {
    if (backups.enabled === false) add(["backups", "push"], "is only used when backups.enabled is true; remove it or enable backups");
    if (push.name !== undefined && hostNames.includes(push.name)) add(["backups", "push", "name"], `${show(push.name)} is a host of this stack; the backup host needs a name of its own`);
    const paddr = push.address;
    if (paddr !== undefined) {
      const owner = hosts.find((h) => h.address !== undefined && canonicalAddress(h.address) === canonicalAddress(paddr));
      if (owner) add(["backups", "push", "address"], `${show(paddr)} is the address of ${formatKeyPath(owner.path)}; push backups to a separate host (a copy on a stack host dies with it)`);
    }
    const login = push.sshUser ?? ssh.user;
    if (push.user !== undefined && push.user === login) {
      add(["backups", "push", "user"], `${show(push.user)} is also the deployment's login on the backup host; the receiving account must be a dedicated account`);
    }
  }
  const dest = backups.destination;
  if (dest !== undefined) {
    for (const t of [...treePaths.map((t) => ({ p: t.path, at: t.at })), ...exportPaths.flatMap((e) => [{ p: e.path, at: e.at }, { p: e.mount, at: e.at }])]) {
      if (isWithin(dest, t.p) || isWithin(t.p, dest)) {
        add(["backups", "destination"], `${show(dest)} overlaps the mirrored directory ${show(t.p)} (${formatKeyPath(t.at)}); keep backups outside mirrored trees`);
        break;
      }
    }
  }

  // ----- health
  const h = view.health;
  if (h?.diskWarnPercent !== undefined && h.diskCritPercent !== undefined && h.diskCritPercent >= h.diskWarnPercent) {
    add(["health", "diskCritPercent"], `${h.diskCritPercent} must be below health.diskWarnPercent (${h.diskWarnPercent})`);
  }

  // ----- web: a web host serves its own copy of the site, so the site lives in the trees rsync mirrors
  const webHosts = [view.master, ...(view.mirrors ?? [])].filter((x) => x?.web === true);
  const web = view.web;
  if (webHosts.length > 0 && web) {
    const trees = (view.files?.trees ?? []).map((t) => t?.path).filter((p): p is string => typeof p === "string");
    const where = `a host has web: true (${webHosts.map((x) => x?.name).join(", ")})`;
    if (view.files?.method !== undefined && view.files.method !== "rsync-ssh") {
      add(["files", "method"], `must be rsync-ssh while ${where}: each web host serves its own synced copy of the site`);
    }
    if (web.documentRoot === undefined && !bad(["web", "documentRoot"])) add(["web", "documentRoot"], `is required while ${where}`);
    for (const key of ["documentRoot", "uploadsPath"] as const) {
      const p = web[key];
      if (p !== undefined && !trees.some((t) => isWithin(p, t))) {
        add(["web", key], `${show(p)} is not inside any of files.trees (${trees.map(show).join(", ") || "none"}): a mirror would have nothing to serve`);
      }
    }
    const dbs = view.database?.databases ?? [];
    if (web.database !== undefined && dbs.length > 0 && !dbs.includes(web.database)) {
      add(["web", "database"], `${show(web.database)} is not one of database.databases (${dbs.map(show).join(", ")})`);
    }
  }

  // ----- secrets (as given: whether a key was set, and how, is not a schema default)
  for (const key of SECRET_KEYS) {
    const v = raw[key];
    if (v !== undefined && typeof v === "string" && !secretKeys.has(key)) {
      add([key], `must be set with --secret (pulumi config set --secret ${key} ...); it is stored in clear text`);
    }
  }
  const rp = raw["replicationPassword"];
  if (typeof rp === "string") {
    const m = checkSecretText(rp, "the replication password", MIN_SECRET_LENGTH, MAX_REPLICATION_PASSWORD_LENGTH);
    if (m) add(["replicationPassword"], m);
  }
  const bp = raw["backupPassphrase"];
  if (typeof bp === "string") {
    const m = checkSecretText(bp, "the backup passphrase", MIN_SECRET_LENGTH);
    if (m) add(["backupPassphrase"], m);
  } else if (backups.enabled !== false && bp === undefined) {
    add(["backupPassphrase"], "is required while backups.enabled is true (pulumi config set --secret backupPassphrase ...), or set backups.enabled: false");
  }
  const key = raw["sshPrivateKey"];
  if (typeof key === "string" && key !== SECRET_PLACEHOLDER && !/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(key.trim())) {
    add(["sshPrivateKey"], "is not a PEM/OpenSSH private key (expected -----BEGIN ... PRIVATE KEY-----)");
  }

  return issues;
}

/** A map as given, or undefined. */
function obj(v: unknown): Readonly<Record<string, unknown>> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
