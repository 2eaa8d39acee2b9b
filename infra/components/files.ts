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

import { createHash } from "crypto";
import * as pulumi from "../pulumi";
import { addressForHostPath } from "../config/checks";
import type { HostConfig, StackConfig } from "../config/types";
import { HostFile, pinFileArgs, renderedFileArgs } from "../providers/hostFile";
import { HostProbe } from "../providers/hostProbe";
import { RemoteCommand } from "../providers/remoteCommand";
import { PATHS } from "../render/common";
import { renderMirrorKnownHosts, syncsFiles } from "../render/sync";
import type { HostPlan, RenderedFile } from "../render/types";
import { shq, SshTarget } from "../ssh/exec";
import { pathSlug } from "./mirrorHost";
import { actionWords, OsFamily } from "./services";

/** Oldest rsync the master may run without files.allowOldRsync (3.4.0 fixed CVE-2024-12084/12085). */
export const MIN_RSYNC = "3.4.0";

/** Comment (GECOS) of the sync account; destroy removes only an account carrying it. */
export const SYNC_ACCOUNT_COMMENT = "mirrorstack file sync (forced command, read-only)";

/** Home of the sync account: root-owned, empty, not writable by it (so it cannot add keys of its own). */
export function syncHome(user: string): string {
  return `/var/lib/${user}`;
}

/** True when this stack shares file trees over NFS. */
export function sharesNfs(cfg: StackConfig): boolean {
  return cfg.files.method === "nfs" && cfg.nfs !== undefined;
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

/**
 * Master (nfs): after the exports, wrappers, idmapd and defaults are written (their validators passed), make
 * the NFS server serve them: the export directories exist, the export filesystem is mounted, the kernel has an
 * NFS server, rpcbind, idmapd and the server are (re)started and enabled, `exportfs -ra`, and every export is
 * really exported and nfsd registered with rpcbind. Any step that cannot happen fails the deployment with the
 * reason, naming the host; what was already written stays (it is valid and is what the next run starts from).
 * `stamp` (the files' contents) makes it run again whenever one of them changes.
 */
export function nfsServerScript(opts: {
  host: string;
  os: OsFamily;
  exports: readonly string[];
  filesystem?: string;
  stamp: string;
}): string {
  const svc = nfsServerServices(opts.os);
  return `set -euo pipefail
# files: ${createHash("sha256").update(opts.stamp).digest("hex")}
host=${shq(opts.host)}
fail() { echo "[$host] $*" >&2; exit 1; }
svc() { # svc NAME ACTION
  if [ -d /run/systemd/system ]; then
    if [ "$2" != status ]; then systemctl enable "$1" >/dev/null 2>&1 || true; fi
    systemctl "$2" "$1"
  else
    service "$1" "$2"
  fi
}
logs() {
  if [ -d /run/systemd/system ]; then journalctl -u "$1" -n 20 --no-pager 2>&1 || true; fi
}
${opts.filesystem ? `mountpoint -q ${shq(opts.filesystem)} || mount ${shq(opts.filesystem)} || fail "cannot mount the export filesystem ${opts.filesystem} (nfs.filesystem)"` : ""}
for e in ${opts.exports.map(shq).join(" ")}; do
  [ -d "$e" ] || { install -d -m 0755 "$e"; echo "created the export directory $e (root, 0755)"; }
done
# The kernel's NFS server: without it nothing can serve the exports, whatever the files say.
grep -qw nfsd /proc/filesystems || modprobe nfsd >/dev/null 2>&1 || true
grep -qw nfsd /proc/filesystems ||
  fail "the NFS server cannot run: this kernel has no nfsd (no nfsd in /proc/filesystems; modprobe nfsd failed). The exports, TCP wrappers, idmapd and NFS server defaults are written and validated; nothing serves them until the kernel has an NFS server."
out=$(svc ${svc.rpcbind} restart 2>&1) || fail "${svc.rpcbind} did not start: $out $(logs ${svc.rpcbind})"
if [ -d /run/systemd/system ]; then
  out=$(svc ${svc.idmapd} restart 2>&1) || fail "${svc.idmapd} did not start: $out $(logs ${svc.idmapd})"
fi
out=$(svc ${svc.server} restart 2>&1) || fail "${svc.server} did not start: $out $(logs ${svc.server})"
out=$(exportfs -ra 2>&1) || fail "exportfs -ra failed: $out"
rpcinfo -p 127.0.0.1 2>/dev/null | grep -qw nfs || fail "${svc.server} is not serving: nfs is not registered with rpcbind ($out)"
for e in ${opts.exports.map(shq).join(" ")}; do
  exportfs -s | awk '{print $1}' | grep -qxF "$e" || fail "$e is not exported (exportfs -s: $(exportfs -s | tr '\\n' ' '))"
done
echo "[$host] NFS server running; exported: ${opts.exports.join(", ")}"
`;
}

/** Mirror (nfs): each export mounted where fstab says, as NFS, after the master serves it. */
export function nfsMountScript(opts: { host: string; mounts: readonly { source: string; target: string }[]; stamp: string }): string {
  const lines = opts.mounts.map((m) => `mount_one ${shq(m.source)} ${shq(m.target)}`).join("\n");
  return `set -euo pipefail
# fstab: ${createHash("sha256").update(opts.stamp).digest("hex")}
host=${shq(opts.host)}
fail() { echo "[$host] $*" >&2; exit 1; }
mount_one() { # SOURCE TARGET
  install -d "$2"
  if mountpoint -q "$2"; then
    out=$(mount -o remount "$2" 2>&1) || fail "cannot remount $2 with its new options: $out"
  else
    out=$(mount "$2" 2>&1) || fail "cannot mount $1 on $2: $out"
  fi
  case "$(findmnt -n -o FSTYPE --target "$2")" in nfs|nfs4) ;; *) fail "$2 is not an NFS mount after mounting" ;; esac
}
${lines}
echo "[$host] mounted: ${opts.mounts.map((m) => m.target).join(", ")}"
`;
}

/**
 * Master: refuse an old rsync (unless allowed), then make the sync account: a system account with its own
 * group and no other, no usable password ('*': no password matches, and unlike '!' sshd does not treat it as
 * locked when UsePAM is off), the login shell /bin/sh (dash on Debian, bash-as-sh on RHEL: neither reads an rc
 * file for `sh -c <forced command>`), a root-owned home it cannot write. It gets read access to nothing beyond
 * what any account has; each configured tree must be readable by it (checked here, with the fix in the message).
 */
export function syncAccountScript(opts: {
  host: string;
  user: string;
  rsyncPath: string;
  allowOldRsync: boolean;
  trees: readonly string[];
}): string {
  const home = syncHome(opts.user);
  return `set -euo pipefail
host=${shq(opts.host)} user=${shq(opts.user)} rsync=${shq(opts.rsyncPath)} home=${shq(home)} allow_old=${opts.allowOldRsync ? 1 : 0}
trees=(${opts.trees.map(shq).join(" ")})
fail() { echo "[$host] $*" >&2; exit 1; }

# 1. rsync: the sender side of rsync < ${MIN_RSYNC} is reachable by a pulling client (CVE-2024-12084/12085).
[ -x "$rsync" ] || fail "$rsync (files.rsyncPath) is missing or not executable; install rsync ${MIN_RSYNC} or later"
ver=$("$rsync" --version 2>/dev/null | sed -n '1s/^rsync[[:space:]]*version[[:space:]]*v\\{0,1\\}\\([0-9][0-9.]*\\).*/\\1/p')
[ -n "$ver" ] || fail "cannot read the version of $rsync"
if [ "$(printf '%s\\n%s\\n' ${MIN_RSYNC} "$ver" | sort -V | head -n1)" != ${MIN_RSYNC} ]; then
  if [ "$allow_old" = 1 ]; then
    echo "WARNING: [$host] rsync $ver is older than ${MIN_RSYNC}; installing anyway (files.allowOldRsync)"
  else
    fail "refusing to install the file sync account: rsync $ver at $rsync is older than ${MIN_RSYNC} (CVE-2024-12084/12085 are reachable by the pulling side). Upgrade rsync on $host, or accept the risk with mirrorstack:files.allowOldRsync: true"
  fi
fi

# 2. The account.
${lockedAccountLines(SYNC_ACCOUNT_COMMENT, "sync")}
install -d -o root -g root -m 0755 ${shq(PATHS.authorizedKeysDir)}
install -d -o root -g root -m 0755 ${shq(PATHS.validateRsync.replace(/\/[^/]+$/, ""))}

# 3. Read access: the account must be able to read each tree (it can write nowhere in them).
for t in "\${trees[@]}"; do
  if [ ! -e "$t" ]; then echo "note: [$host] $t does not exist yet; mirrors pull it once it does"; continue; fi
  runuser -u "$user" -- test -d "$t" -a -r "$t" -a -x "$t" ||
    fail "the sync account $user cannot read $t ($(stat -c '%A %U:%G' "$t")); make it readable, e.g. setfacl -R -m u:$user:rX -m d:u:$user:rX $t"
  if runuser -u "$user" -- test -w "$t"; then fail "the sync account $user can write $t; it must only read it"; fi
done
echo "[$host] sync account $user (uid $(id -u "$user"), shell /bin/sh -> $(readlink -f /bin/sh), home $home), rsync $ver"
`;
}

/** Destroy: remove the sync account if mirrorstack made it (its comment says so), and its empty home. */
/**
 * Shell lines (using $user, $home and fail) that make $user a system account with its own group and no other,
 * no usable password ('*': no password matches, and unlike '!' sshd does not treat it as locked when UsePAM is
 * off), the login shell /bin/sh and a root-owned home it cannot write. `comment` marks it as mirrorstack's.
 */
export function lockedAccountLines(comment: string, what: string): string {
  return `if ! getent passwd "$user" >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir "$home" --shell /bin/sh --comment ${shq(comment)} "$user"
fi
[ "$(id -u "$user")" != 0 ] || fail "the ${what} account $user has uid 0"
IFS=: read -r _ _ _ gid _ cur_home cur_shell < <(getent passwd "$user")
[ "$cur_home" = "$home" ] || usermod --home "$home" "$user"
[ "$cur_shell" = /bin/sh ] || usermod --shell /bin/sh "$user"
usermod --password '*' "$user"           # no password can match; key only
usermod --groups '' "$user"              # its own group, no other
[ "$(id -g "$user")" = "$gid" ]
install -d -o root -g root -m 0755 "$home"`;
}

/** Removes a mirrorstack account (only one carrying `comment`), and its home when empty. */
export function removeAccountLines(comment: string): string {
  return `if getent passwd "$user" | cut -d: -f5 | grep -qxF ${shq(comment)}; then
  pkill -KILL -u "$user" 2>/dev/null || true
  userdel "$user"
  getent group "$user" >/dev/null && groupdel "$user" 2>/dev/null || true
fi`;
}

export function removeSyncAccountScript(user: string): string {
  return `set -euo pipefail
user=${shq(user)}
${removeAccountLines(SYNC_ACCOUNT_COMMENT)}
rmdir ${shq(syncHome(user))} 2>/dev/null || true
rmdir ${shq(PATHS.authorizedKeysDir)} 2>/dev/null || true
rmdir ${shq(PATHS.validateRsync.replace(/\/[^/]+$/, ""))} 2>/dev/null || true
`;
}

/**
 * Master, after its sync files are in place: what sshd will really do for the account, from each mirror's
 * address (sshd -T with the connection's user/host/address, so Match blocks count), and the ownership that
 * keeps the account from changing its own keys. `stamp` (the authorized_keys content) makes it run again
 * whenever the keys change.
 */
export function syncCheckScript(opts: { host: string; user: string; mirrors: readonly { name: string; address: string }[]; stamp: string }): string {
  const keys = `${PATHS.authorizedKeysDir}/${opts.user}`;
  const checks = opts.mirrors
    .map((m) => `check_from ${shq(m.name)} ${shq(m.address)}`)
    .join("\n");
  return `set -euo pipefail
# keys: ${createHash("sha256").update(opts.stamp).digest("hex")}
host=${shq(opts.host)} user=${shq(opts.user)} keys=${shq(keys)} home=${shq(syncHome(opts.user))}
fail() { echo "[$host] $*" >&2; exit 1; }
sshd=$(command -v sshd || echo /usr/sbin/sshd)
mkdir -p /run/sshd
check_from() {
  local eff akf addr=$2
  # sshd -T needs an IP address; a mirror given by name is looked up the way this host resolves it.
  case "$addr" in *[!0-9A-Fa-f.:]*) addr=$(getent ahosts "$addr" | awk 'NR == 1 { print $1 }') ;; esac
  [ -n "$addr" ] || fail "cannot resolve the mirror address $2"
  eff=$("$sshd" -T -C "user=$user,host=$1,addr=$addr" 2>&1) || fail "sshd -T failed: $eff"
  akf=$(printf '%s\\n' "$eff" | awk '$1 == "authorizedkeysfile" { $1 = ""; print }')
  case " $akf " in
    *" ${PATHS.authorizedKeysDir}/%u "*) ;;
    *) fail "sshd does not read ${PATHS.authorizedKeysDir}/%u for $user from $1 ($2) (effective AuthorizedKeysFile:$akf); an earlier AuthorizedKeysFile in sshd_config or a Match block wins over ${PATHS.sshdDropIn}" ;;
  esac
  printf '%s\\n' "$eff" | grep -qx 'pubkeyauthentication yes' || fail "PubkeyAuthentication is off for $user from $1"
}
${checks}
[ "$(stat -c '%U %a' "$keys")" = "root 644" ] || fail "$keys must be root-owned 0644 (is $(stat -c '%U %a' "$keys"))"
[ "$(stat -c '%U %a' ${shq(PATHS.authorizedKeysDir)})" = "root 755" ] || fail "${PATHS.authorizedKeysDir} must be root-owned 0755"
for p in "$keys" ${shq(PATHS.authorizedKeysDir)} "$home" ${shq(PATHS.validateRsync)}; do
  if runuser -u "$user" -- test -w "$p"; then fail "the sync account $user can write $p"; fi
done
[ -x ${shq(PATHS.validateRsync)} ] || fail "${PATHS.validateRsync} is not executable"
echo "[$host] sshd reads $keys for $user from ${opts.mirrors.map((m) => m.name).join(", ")}; the account cannot change it"
`;
}

/**
 * Mirror: its own sync key pair, made once (ed25519, no passphrase, 0600, root's), and the check that the
 * configured owner/group of mirrored files exist here. Prints the public key only.
 */
export function syncKeyScript(opts: { host: string; owner?: string; group?: string }): string {
  return keyPairScript({
    host: opts.host,
    key: PATHS.syncKey,
    comment: "mirrorstack-sync",
    checks: [
      opts.owner !== undefined ? `getent passwd ${shq(opts.owner)} >/dev/null || { echo "[$host] files.owner ${opts.owner} is not a user on $host" >&2; exit 1; }` : "",
      opts.group !== undefined ? `getent group ${shq(opts.group)} >/dev/null || { echo "[$host] files.group ${opts.group} is not a group on $host" >&2; exit 1; }` : "",
    ],
  });
}

/**
 * A host's own ed25519 key pair at `key` (made once, kept while it is valid; the private key never leaves the
 * host). Prints the public key, `<type> <base64> <comment>@<host>`, for the other side's authorized_keys.
 */
export function keyPairScript(opts: { host: string; key: string; comment: string; checks?: readonly string[] }): string {
  return `set -euo pipefail
host=${shq(opts.host)} key=${shq(opts.key)}
umask 077
install -d -m 0700 "\${key%/*}"
if [ ! -s "$key" ] || ! ssh-keygen -y -f "$key" >/dev/null 2>&1; then
  rm -f "$key" "$key.pub"
  ssh-keygen -q -t ed25519 -N '' -C "${opts.comment}@$host" -f "$key" >/dev/null
fi
chown root:root "$key"; chmod 0600 "$key"
pub="$(ssh-keygen -y -f "$key" | cut -d' ' -f1,2) ${opts.comment}@$host"
printf '%s\\n' "$pub" > "$key.pub"; chmod 0644 "$key.pub"
${(opts.checks ?? []).join("\n")}
printf '%s\\n' "$pub"
`;
}

/** Destroy on a mirror: the key pair goes (the mirrored trees stay: they are data). */
export const REMOVE_SYNC_KEY_SCRIPT = `rm -f ${shq(PATHS.syncKey)} ${shq(`${PATHS.syncKey}.pub`)}\n`;

/**
 * Master: the public host keys sshd really serves (its HostKey settings), derived from the private keys so
 * they cannot disagree. Read over the deployment's connection, which already checked this host's key.
 */
export const HOST_KEYS_SCRIPT = `set -euo pipefail
sshd=$(command -v sshd || echo /usr/sbin/sshd)
mkdir -p /run/sshd
keys=$("$sshd" -T 2>/dev/null | awk '$1 == "hostkey" { print $2 }') || true
[ -n "$keys" ] || keys=$(ls /etc/ssh/ssh_host_*_key)
for k in $keys; do
  [ -r "$k" ] || continue
  ssh-keygen -y -f "$k" | cut -d' ' -f1,2
done | sort -u
`;

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
            delete: REMOVE_SYNC_KEY_SCRIPT,
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
      { target: args.target(master.name), what: "ssh host public keys", script: HOST_KEYS_SCRIPT },
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
