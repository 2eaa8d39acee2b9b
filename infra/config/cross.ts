// Rules that span keys: uniqueness across hosts, server ids, NFS overrides, schedule aliases, secrets.
// They run on the loosely typed input (after JSON decoding) even when the schema found problems, so that one run
// reports everything; each rule only looks at values of the right type and leaves type errors to the schema.

import { type ConfigIssue, formatKeyPath } from "./errors";
import {
  SECRET_PLACEHOLDER,
  canonicalAddress,
  checkAbsolutePath,
  checkCron,
  checkSecretText,
  classifyClient,
  isWithin,
  normalizeCron,
  show,
} from "./checks";
import { NFS_MOUNT_ROOT, SECRET_KEYS } from "./schema";

type Loose = Record<string, unknown>;
type Path = (string | number)[];

function obj(v: unknown): Loose | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Loose) : undefined;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}
function intish(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "string" && /^[0-9]+$/.test(v)) return Number(v);
  return undefined;
}
function boolish(v: unknown, dflt: boolean): boolean {
  if (v === true || v === "true") return true;
  if (v === false || v === "false") return false;
  return dflt;
}

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

export function crossCheck(input: Loose, secretKeys: ReadonlySet<string>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: Path, message: string) => issues.push({ path: formatKeyPath(path), message });

  // ----- hosts: unique names, addresses, server ids
  interface HostRef {
    path: Path;
    name?: string;
    address?: string;
    serverId: number;
    explicitId: boolean;
  }
  const hosts: HostRef[] = [];
  const master = obj(input["master"]);
  if (master) {
    const id = intish(master["serverId"]);
    hosts.push({
      path: ["master"],
      name: str(master["name"]),
      address: str(master["address"]),
      serverId: id ?? defaultServerId("master", 0),
      explicitId: id !== undefined,
    });
  }
  arr(input["mirrors"]).forEach((m, i) => {
    const mirror = obj(m);
    if (!mirror) return;
    const id = intish(mirror["serverId"]);
    hosts.push({
      path: ["mirrors", i],
      name: str(mirror["name"]),
      address: str(mirror["address"]),
      serverId: id ?? defaultServerId("mirror", i),
      explicitId: id !== undefined,
    });
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
  const ssh = obj(input["ssh"]) ?? {};
  if (input["sshPrivateKey"] !== undefined && ssh["privateKeyPath"] !== undefined) {
    add(["sshPrivateKey"], "set either mirrorstack:sshPrivateKey or mirrorstack:ssh.privateKeyPath, not both");
  }

  // ----- database
  const db = obj(input["database"]);
  if (db) {
    const format = str(db["binlogFormat"]);
    if ((format === "STATEMENT" || format === "MIXED") && !boolish(db["allowUnsafeBinlogFormat"], false)) {
      add(
        ["database", "binlogFormat"],
        `${format} can make mirrors diverge (non-deterministic statements, insert/delete ordering); use ROW, or set database.allowUnsafeBinlogFormat: true`,
      );
    }
    const flavour = str(db["flavour"]) ?? "mariadb";
    const version = str(db["version"]);
    if (version !== undefined && /^[0-9]{1,2}\.[0-9]{1,2}$/.test(version) && (flavour === "mariadb" || flavour === "mysql")) {
      if (!supportedVersion(flavour, version)) {
        add(["database", "version"], `${flavour} ${version} is not supported (MariaDB 10.5 or later, MySQL 8.0 or 8.4)`);
      }
    }
    const seenDb = new Map<string, number>();
    arr(db["databases"]).forEach((d, i) => {
      if (typeof d !== "string") return;
      const prev = seenDb.get(d);
      if (prev !== undefined) add(["database", "databases", i], `${show(d)} is listed twice (also at index ${prev})`);
      else seenDb.set(d, i);
    });
  }

  // ----- files
  const files = obj(input["files"]) ?? {};
  const method = str(files["method"]) ?? "rsync-ssh";
  const syncUser = str(files["syncUser"]) ?? "mirrorsync";
  const sshUsers = new Set<string>([str(ssh["user"]) ?? "root"]);
  for (const h of [master, ...arr(input["mirrors"]).map(obj)]) {
    const u = str(h?.["sshUser"]);
    if (u) sshUsers.add(u);
  }
  if (sshUsers.has(syncUser)) {
    add(["files", "syncUser"], `${show(syncUser)} is also an SSH login user; the sync account must be a dedicated account`);
  }
  const treePaths: { path: string; at: Path }[] = [];
  arr(files["trees"]).forEach((t, i) => {
    const p = typeof t === "string" ? t : str(obj(t)?.["path"]);
    if (p !== undefined && !checkAbsolutePath(p)) treePaths.push({ path: p, at: ["files", "trees", i, "path"] });
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
  const schedule = str(files["schedule"]);
  const cron = obj(input["cron"]) ?? {};
  const cronSync = str(cron["sync"]);
  if (schedule !== undefined && cronSync !== undefined && !checkCron(schedule) && !checkCron(cronSync)) {
    if (normalizeCron(schedule) !== normalizeCron(cronSync)) {
      add(["files", "schedule"], `is an alias of mirrorstack:cron.sync, which says ${show(cronSync)}; set only one of them`);
    }
  }

  // ----- nfs
  const nfs = obj(input["nfs"]);
  const exportPaths: MirrorSidePaths[] = [];
  if (method !== "nfs") {
    if (input["nfs"] !== undefined) add(["nfs"], `is only used when mirrorstack:files.method is nfs (it is ${show(method)}); remove it or set files.method: nfs`);
  } else {
    const exportsList = nfs?.["exports"];
    if (exportsList === undefined && treePaths.length === 0) {
      add(["nfs", "exports"], "is required when files.method is nfs and files.trees is empty (list the directories to export)");
    }
    if (nfs) {
      arr(exportsList).forEach((e, i) => {
        const ex = obj(e);
        if (!ex) return;
        const p = str(ex["path"]);
        const mount = str(ex["mountPoint"]) ?? (p === undefined ? undefined : `${NFS_MOUNT_ROOT}${p}`);
        const pull = boolish(ex["pull"], true);
        if (!pull && ex["copyTo"] !== undefined) add(["nfs", "exports", i, "copyTo"], "is only used when pull is true; remove it or set pull: true");
        const copy = pull ? (str(ex["copyTo"]) ?? p) : undefined;
        if (p !== undefined && mount !== undefined && !checkAbsolutePath(p) && !checkAbsolutePath(mount) && (copy === undefined || !checkAbsolutePath(copy))) {
          exportPaths.push({ path: p, mount, copy, at: ["nfs", "exports", i] });
        }
        if (str(ex["access"]) === "rw" && !boolish(ex["allowReadWrite"], false)) {
          add(["nfs", "exports", i, "access"], "rw lets mirrors change the master's files; use ro, or set allowReadWrite: true on this export");
        }
        if (!boolish(ex["rootSquash"], true) && !boolish(ex["allowNoRootSquash"], false)) {
          add(["nfs", "exports", i, "rootSquash"], "false (no_root_squash) gives mirrors' root full access; keep true, or set allowNoRootSquash: true");
        }
        arr(ex["clients"]).forEach((c, j) => {
          if (typeof c === "string" && classifyClient(c) === "wildcard" && !boolish(ex["allowWildcard"], false)) {
            add(["nfs", "exports", i, "clients", j], `${show(c)} is a wildcard that may match unknown hosts; list addresses, or set allowWildcard: true`);
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
      const fs = obj(nfs["filesystem"]);
      if (fs) {
        const opts = fs["options"];
        if (Array.isArray(opts) && !opts.includes("acl")) {
          add(["nfs", "filesystem", "options"], `${show(opts)} must include acl (the export filesystem needs POSIX ACLs)`);
        }
        const mp = str(fs["mountpoint"]);
        if (mp !== undefined) {
          for (const e of exportPaths) {
            if (!isWithin(e.path, mp)) add([...e.at, "path"], `${show(e.path)} is not on the export filesystem mounted at ${show(mp)} (nfs.filesystem.mountpoint)`);
          }
        }
      }
      const tw = obj(nfs["tcpWrappers"]);
      arr(tw?.["clients"]).forEach((c, j) => {
        if (typeof c === "string" && classifyClient(c) === "wildcard") {
          add(["nfs", "tcpWrappers", "clients", j], `${show(c)}: TCP wrappers take addresses, CIDR networks or host names here, not wildcards`);
        }
      });
    }
    if (exportsList === undefined) {
      // One export per tree, mounted under NFS_MOUNT_ROOT and copied to the tree's own path.
      checkMirrorPaths(
        treePaths.map((t) => ({ path: t.path, mount: `${NFS_MOUNT_ROOT}${t.path}`, copy: t.path, at: t.at.slice(0, -1) })),
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
  const backups = obj(input["backups"]) ?? {};
  const backupsEnabled = boolish(backups["enabled"], true);
  const bhost = str(backups["host"]);
  if (bhost !== undefined && hostNames.length > 0 && !hostNames.includes(bhost)) {
    add(["backups", "host"], `${show(bhost)} is not one of the hosts (${hostNames.join(", ")})`);
  }
  const bschedule = str(backups["schedule"]);
  const cronBackup = str(cron["backup"]);
  if (bschedule !== undefined && cronBackup !== undefined && !checkCron(bschedule) && !checkCron(cronBackup)) {
    if (normalizeCron(bschedule) !== normalizeCron(cronBackup)) {
      add(["backups", "schedule"], `is an alias of mirrorstack:cron.backup, which says ${show(cronBackup)}; set only one of them`);
    }
  }
  const push = obj(backups["push"]);
  if (push) {
    if (!backupsEnabled) add(["backups", "push"], "is only used when backups.enabled is true; remove it or enable backups");
    const pname = str(push["name"]) ?? "backup";
    if (hostNames.includes(pname)) add(["backups", "push", "name"], `${show(pname)} is a host of this stack; the backup host needs a name of its own`);
    const paddr = str(push["address"]);
    if (paddr !== undefined) {
      const owner = hosts.find((h) => h.address !== undefined && canonicalAddress(h.address) === canonicalAddress(paddr));
      if (owner) add(["backups", "push", "address"], `${show(paddr)} is the address of ${formatKeyPath(owner.path)}; push backups to a separate host (a copy on a stack host dies with it)`);
    }
    const puser = str(push["user"]) ?? "mirrorbackup";
    const login = str(push["sshUser"]) ?? str(ssh["user"]) ?? "root";
    if (puser === login) add(["backups", "push", "user"], `${show(puser)} is also the deployment's login on the backup host; the receiving account must be a dedicated account`);
  }
  const dest = str(backups["destination"]) ?? "/var/backups/mirrorstack";
  for (const t of [...treePaths.map((t) => ({ p: t.path, at: t.at })), ...exportPaths.flatMap((e) => [{ p: e.path, at: e.at }, { p: e.mount, at: e.at }])]) {
    if (isWithin(dest, t.p) || isWithin(t.p, dest)) {
      add(["backups", "destination"], `${show(dest)} overlaps the mirrored directory ${show(t.p)} (${formatKeyPath(t.at)}); keep backups outside mirrored trees`);
      break;
    }
  }

  // ----- secrets
  for (const key of SECRET_KEYS) {
    const v = input[key];
    if (v !== undefined && typeof v === "string" && !secretKeys.has(key)) {
      add([key], `must be set with --secret (pulumi config set --secret ${key} ...); it is stored in clear text`);
    }
  }
  const rp = str(input["replicationPassword"]);
  if (rp !== undefined) {
    const m = checkSecretText(rp, "the replication password", MIN_SECRET_LENGTH, MAX_REPLICATION_PASSWORD_LENGTH);
    if (m) add(["replicationPassword"], m);
  }
  const bp = str(input["backupPassphrase"]);
  if (bp !== undefined) {
    const m = checkSecretText(bp, "the backup passphrase", MIN_SECRET_LENGTH);
    if (m) add(["backupPassphrase"], m);
  } else if (backupsEnabled && input["backupPassphrase"] === undefined) {
    add(["backupPassphrase"], "is required while backups.enabled is true (pulumi config set --secret backupPassphrase ...), or set backups.enabled: false");
  }
  const key = str(input["sshPrivateKey"]);
  if (key !== undefined && key !== SECRET_PLACEHOLDER && !/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(key.trim())) {
    add(["sshPrivateKey"], "is not a PEM/OpenSSH private key (expected -----BEGIN ... PRIVATE KEY-----)");
  }

  return issues;
}
