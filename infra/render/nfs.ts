// NFS mode: exports, TCP wrappers, id mapping and the NFS server defaults on the master; fstab blocks on both sides.

import { isIP } from "node:net";
import { addressForHostPath } from "../config/checks";
import type { HostConfig, NfsConfig, NfsExportConfig, StackConfig } from "../config/types";
import type { FileBody } from "./types";
import {
  PATHS,
  VALIDATE_ENV_FILE,
  VALIDATE_EXPORTS,
  VALIDATE_HOSTS_ACCESS,
  VALIDATE_INI,
  header,
  nfsDefaultsPath,
  nobodyGroupDefault,
  validateFstab,
} from "./common";
import { renderTemplate } from "./templates";

function exportOptions(e: NfsExportConfig): string {
  return [
    e.access,
    e.sync ? "sync" : "async",
    e.rootSquash ? "root_squash" : "no_root_squash",
    e.subtreeCheck ? "subtree_check" : "no_subtree_check",
    e.secure ? "secure" : "insecure",
  ].join(",");
}

function prefixToMask(bits: number): string {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return [24, 16, 8, 0].map((s) => (mask >>> s) & 0xff).join(".");
}

/** A client in hosts_access(5) syntax: IPv6 in brackets, IPv4 networks as net/mask. */
export function tcpWrapperClient(c: string): string {
  const slash = c.indexOf("/");
  if (slash > 0) {
    const net = c.slice(0, slash);
    const bits = Number(c.slice(slash + 1));
    return isIP(net) === 6 ? `[${net}]/${bits}` : `${net}/${prefixToMask(bits)}`;
  }
  return isIP(c) === 6 ? `[${c}]` : c;
}

function masterNfsFiles(cfg: StackConfig, host: HostConfig, nfs: NfsConfig): FileBody[] {
  const files: FileBody[] = [];
  if (nfs.filesystem) {
    const fs = nfs.filesystem;
    files.push({
      path: PATHS.fstab,
      kind: "block",
      owner: "root",
      group: "root",
      mode: "0644",
      content: renderTemplate("fstab-export.hbs", {
        header: header(cfg.stack, "block"),
        device: fs.device,
        mountpoint: fs.mountpoint,
        fstype: fs.fstype,
        options: fs.options.join(","),
        dump: fs.dump,
        pass: fs.pass,
      }),
      secret: false,
      validate: validateFstab([fs.mountpoint]),
      // The apply layer runs `mount -a` for remount; the service only names whose logs to show on failure.
      onChange: [{ service: "nfs-server", action: "remount" }],
      description: `fstab line of the export filesystem ${fs.mountpoint} (${fs.fstype}, with acl)`,
    });
  }
  files.push(
    idmapdFile(cfg, host, nfs, [{ service: "idmapd", action: "restart" }], `NFSv4 id mapping (domain ${nfs.idmapDomain})`),
    {
      path: nfsDefaultsPath(host.osFamily),
      kind: "whole",
      owner: "root",
      group: "root",
      mode: "0644",
      content: renderTemplate("nfs-defaults.hbs", {
        header: header(cfg.stack),
        host: host.name,
        threads: nfs.threads,
        debian: host.osFamily === "debian",
        rhel: host.osFamily === "rhel",
      }),
      secret: false,
      validate: VALIDATE_ENV_FILE,
      onChange: [{ service: "nfs-server", action: "restart" }],
      description: `NFS server defaults (${nfs.threads} nfsd threads, mountd --manage-gids)`,
    },
    {
      path: PATHS.exports,
      kind: "whole",
      owner: "root",
      group: "root",
      mode: "0644",
      content: renderTemplate("exports.hbs", {
        header: header(cfg.stack),
        host: host.name,
        exports: nfs.exports.map((e) => ({
          path: e.path,
          clients: e.clients.map((c) => `${c}(${exportOptions(e)})`).join(" "),
        })),
      }),
      secret: false,
      validate: VALIDATE_EXPORTS,
      onChange: [{ service: "nfs-server", action: "exportfs" }],
      description: `NFS exports ${nfs.exports.map((e) => `${e.path} (${e.access})`).join(", ")} to the mirrors`,
    },
  );
  if (nfs.tcpWrappers.enabled) {
    const services = nfs.tcpWrappers.services.join(" ");
    const clients = ["127.0.0.1", "[::1]", ...nfs.tcpWrappers.clients.map(tcpWrapperClient)];
    files.push(
      {
        path: PATHS.hostsAllow,
        kind: "block",
        owner: "root",
        group: "root",
        mode: "0644",
        content: renderTemplate("hosts.allow.hbs", {
          header: header(cfg.stack, "block"),
          host: host.name,
          services,
          clients: clients.join(" "),
        }),
        secret: false,
        validate: VALIDATE_HOSTS_ACCESS,
        onChange: [],
        description: `TCP wrappers: ${services} allowed for the mirrors`,
      },
      {
        path: PATHS.hostsDeny,
        kind: "block",
        owner: "root",
        group: "root",
        mode: "0644",
        content: renderTemplate("hosts.deny.hbs", { header: header(cfg.stack, "block"), services }),
        secret: false,
        validate: VALIDATE_HOSTS_ACCESS,
        onChange: [],
        description: `TCP wrappers: ${services} refused to everyone else`,
      },
    );
  }
  return files;
}

function idmapdContent(cfg: StackConfig, host: HostConfig, nfs: NfsConfig): string {
  return renderTemplate("idmapd.conf.hbs", {
    header: header(cfg.stack),
    debian: host.osFamily === "debian",
    domain: nfs.idmapDomain,
    nobodyUser: nfs.nobodyUser,
    nobodyGroup: nfs.nobodyGroup ?? nobodyGroupDefault(host.osFamily),
  });
}

/** /etc/idmapd.conf: the same id mapping on the master and the mirrors, so names map to the same ids. */
function idmapdFile(cfg: StackConfig, host: HostConfig, nfs: NfsConfig, onChange: FileBody["onChange"], description: string): FileBody {
  return {
    path: PATHS.idmapd,
    kind: "whole",
    owner: "root",
    group: "root",
    mode: "0644",
    content: idmapdContent(cfg, host, nfs),
    secret: false,
    validate: VALIDATE_INI,
    onChange,
    description,
  };
}

function mirrorNfsFiles(cfg: StackConfig, host: HostConfig, nfs: NfsConfig): FileBody[] {
  const source = addressForHostPath(cfg.master.address);
  const mounts = nfs.exports.map((e) => ({
    source: `${source}:${e.path}`,
    target: e.mountPoint,
    options: [e.access, ...nfs.mountOptions].join(","),
  }));
  return [
    idmapdFile(cfg, host, nfs, [], `NFSv4 id mapping (domain ${nfs.idmapDomain}, same as the master)`),
    {
      path: PATHS.fstab,
      kind: "block",
      owner: "root",
      group: "root",
      mode: "0644",
      content: renderTemplate("fstab-nfs-mount.hbs", { header: header(cfg.stack, "block"), mounts }),
      secret: false,
      validate: validateFstab(mounts.map((m) => m.target)),
      onChange: [{ service: "rpcbind", action: "remount" }],
      description: `NFS mounts of the master's exports: ${mounts.map((m) => m.target).join(", ")}`,
    },
  ];
}

export function renderNfsFiles(cfg: StackConfig, host: HostConfig): FileBody[] {
  if (cfg.files.method !== "nfs" || !cfg.nfs) return [];
  return host.role === "master" ? masterNfsFiles(cfg, host, cfg.nfs) : mirrorNfsFiles(cfg, host, cfg.nfs);
}
