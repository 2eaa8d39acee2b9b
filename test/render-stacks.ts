// Stacks the render tests share: the example stacks, a lab-like stack and a RHEL/MySQL variant.
import { join } from "node:path";
import { parseStackConfig, parseStackText, readStackFile } from "../infra/config";
import type { StackConfig } from "../infra/config/types";

export const ROOT = join(__dirname, "..");

/** What lab/lab.sh writes (master, mirrors, ssh) plus the keys the lead adds (database, secrets). */
export const LAB_LIKE_YAML = `config:
  mirrorstack:master:
    name: master
    address: 10.250.0.10
  mirrorstack:mirrors:
    - name: mirror1
      address: 10.250.0.11
    - name: mirror2
      address: 10.250.0.12
    - name: mirror3
      address: 10.250.0.13
      changingAddress: true
  mirrorstack:ssh:
    user: root
    port: 22
    privateKeyPath: .lab/id_ed25519
    knownHostsPath: .lab/known_hosts
  mirrorstack:database:
    databases: [wiki]
  mirrorstack:files:
    trees: [/srv/www]
  mirrorstack:tls:
    enabled: true
  mirrorstack:replicationPassword:
    secure: v1:AAAABBBBCCCC
  mirrorstack:backupPassphrase:
    secure: v1:DDDDEEEEFFFF
`;

/** RHEL hosts, MySQL 8.4, an IPv6 master, NFS with every override, backups on the master. */
export const RHEL_MYSQL_YAML = `config:
  mirrorstack:master: {name: web-master, address: "2001:db8:5::10", osFamily: rhel, sshUser: cloud-user}
  mirrorstack:tls: {enabled: true, validityDays: 90, renewBeforeDays: 20}
  mirrorstack:mirrors:
    - {name: web-a, address: 203.0.113.21, osFamily: rhel}
    - {name: web-b, address: web-b.example.org, osFamily: debian, serverId: 500}
  mirrorstack:database:
    flavour: mysql
    version: "8.4"
    databases: [shop, shop_archive]
    binlogFormat: MIXED
    allowUnsafeBinlogFormat: true
    binlogRetentionDays: 3
    bindAddress: 0.0.0.0
    replicationUser: repl_shop
    port: 3307
  mirrorstack:files:
    method: nfs
    trees: [/data/exports/shop]
  mirrorstack:nfs:
    exports:
      - path: /data/exports/shop
        clients: [203.0.113.0/24, "2001:db8:5::/64", "*.example.org"]
        allowWildcard: true
        access: rw
        allowReadWrite: true
        sync: false
        mountPoint: /var/www/shop
    idmapDomain: example.org
    nobodyUser: nfsnobody
    mountOptions: [hard, vers=4.1, _netdev]
    tcpWrappers:
      services: [portmap, mountd]
      clients: [203.0.113.0/24, "2001:db8:5::/64", web-b.example.org]
  mirrorstack:backups: {host: web-master, retention: 3, destination: /srv/backups}
  mirrorstack:health: {maxReplicationLagSeconds: 30, maxSyncAgeMinutes: 60}
  mirrorstack:replicationPassword: {secure: v1:x}
  mirrorstack:backupPassphrase: {secure: v1:y}
`;

export const MIRROR_KEYS: Record<string, Record<string, string>> = {
  staging: { "stg-db2": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGQAe3XHIafWlVz4yhKVLChGdRHrcGw7QtoOL5qnhr1D stg-db2-sync" },
  lab: { mirror1: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAwWoxiIdDBPICL2CyNXthZ2DyYnyXb/28DLh4Ou/oNa mirror1-sync" },
};

export function loadStack(stack: "staging" | "prod" | "lab" | "rhel-mysql"): StackConfig {
  const { raw, secretKeys } =
    stack === "lab"
      ? parseStackText(LAB_LIKE_YAML, "lab-like")
      : stack === "rhel-mysql"
        ? parseStackText(RHEL_MYSQL_YAML, "rhel-mysql")
        : readStackFile(join(ROOT, `stacks/Pulumi.${stack}.yaml`));
  return parseStackConfig(raw, { stack, secretKeys });
}

export const STACKS = ["staging", "prod", "lab", "rhel-mysql"] as const;
