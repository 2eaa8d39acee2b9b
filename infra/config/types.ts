// The parsed, fully resolved stack config: every default filled in, every derived value computed.
// Secret values are not part of it: the program reads them as Pulumi secrets and passes them to renderStack.

export type OsFamily = "debian" | "rhel";
export type Flavour = "mariadb" | "mysql";
export type BinlogFormat = "ROW" | "STATEMENT" | "MIXED";
export type FilesMethod = "rsync-ssh" | "nfs";
export type RpcService = "portmap" | "rpcbind" | "mountd" | "lockd" | "statd" | "rquotad";

export interface HostConfig {
  readonly name: string;
  readonly role: "master" | "mirror";
  readonly address: string;
  /** MariaDB/MySQL server_id (master 1, mirrors 100+index unless set). */
  readonly serverId: number;
  readonly sshUser: string;
  readonly sshPort: number;
  readonly osFamily: OsFamily;
  /** bind_address of this host's database server. */
  readonly bindAddress: string;
  /** Re-seed token of a mirror ("" when not set): a new value copies the master again. */
  readonly reseed: string;
}

export interface SshConfig {
  readonly user: string;
  readonly port: number;
  readonly privateKeyPath?: string;
  readonly knownHostsPath?: string;
  /** True when the key is given inline as the secret `mirrorstack:sshPrivateKey`. */
  readonly privateKeyInline: boolean;
}

export interface DatabaseConfig {
  readonly flavour: Flavour;
  /** Major version, e.g. "10.11", "8.0". */
  readonly version: string;
  readonly databases: readonly string[];
  readonly binlogFormat: BinlogFormat;
  readonly allowUnsafeBinlogFormat: boolean;
  readonly binlogRetentionDays: number;
  readonly replicationUser: string;
  readonly port: number;
  /** skip_name_resolve is set when every mirror address is an IP address. */
  readonly skipNameResolve: boolean;
  /** How a new mirror gets its initial copy. */
  readonly seedMethod: "logical" | "physical";
  /** Seconds a new mirror may take to catch up after seeding. */
  readonly catchUpTimeoutSeconds: number;
}

export interface TreeConfig {
  readonly path: string;
  readonly exclude: readonly string[];
}

export interface FilesConfig {
  readonly method: FilesMethod;
  readonly trees: readonly TreeConfig[];
  readonly rsyncOptions: readonly string[];
  readonly syncUser: string;
  readonly owner?: string;
  readonly group?: string;
  readonly rsyncPath: string;
  readonly confineRoot: boolean | "auto";
  /** Accept a master rsync older than 3.4.0 (the apply step refuses it otherwise). */
  readonly allowOldRsync: boolean;
}

export interface NfsExportConfig {
  readonly path: string;
  readonly clients: readonly string[];
  readonly access: "ro" | "rw";
  readonly sync: boolean;
  readonly rootSquash: boolean;
  readonly subtreeCheck: boolean;
  readonly secure: boolean;
  /** Where mirrors mount the export. */
  readonly mountPoint: string;
  /** Where mirrors copy the mounted export on cron.sync; undefined: no copy (files.nfs.exports[].pull false). */
  readonly copyTo: string | undefined;
}

export interface NfsFilesystemConfig {
  readonly device: string;
  readonly mountpoint: string;
  readonly fstype: "ext4" | "ext3" | "btrfs";
  readonly options: readonly string[];
  readonly dump: number;
  readonly pass: number;
}

export interface NfsConfig {
  readonly exports: readonly NfsExportConfig[];
  readonly idmapDomain: string;
  readonly nobodyUser: string;
  /** When not set, each host uses its family's default (nogroup on debian, nobody on rhel). */
  readonly nobodyGroup?: string;
  readonly threads: number;
  readonly filesystem?: NfsFilesystemConfig;
  readonly mountOptions: readonly string[];
  readonly tcpWrappers: {
    readonly enabled: boolean;
    readonly services: readonly RpcService[];
    readonly clients: readonly string[];
  };
}

export interface CronConfig {
  readonly sync: string;
  readonly backup: string;
  readonly binlogPurge: string;
  readonly healthCheck: string;
}

export interface BackupsConfig {
  readonly enabled: boolean;
  readonly schedule: string;
  readonly retention: number;
  readonly destination: string;
  /** Name of the host that runs the backup. */
  readonly host: string;
  /** Where each backup is pushed too, if anywhere. */
  readonly push?: BackupPushConfig;
}

/** A separate host that receives each backup over SSH (backups.push). */
export interface BackupPushConfig {
  readonly name: string;
  readonly address: string;
  /** Login of the deployment (ssh.user unless set). */
  readonly sshUser: string;
  readonly sshPort: number;
  readonly osFamily: OsFamily;
  /** The receiving account, whose only key runs the receive command. */
  readonly user: string;
  readonly directory: string;
  readonly retention: number;
}

export interface HealthConfig {
  readonly maxReplicationLagSeconds: number;
  readonly maxSyncAgeMinutes: number;
}

export interface StackConfig {
  readonly stack: string;
  readonly master: HostConfig;
  readonly mirrors: readonly HostConfig[];
  /** Master first, then the mirrors in config order. */
  readonly hosts: readonly HostConfig[];
  readonly ssh: SshConfig;
  readonly database: DatabaseConfig;
  readonly files: FilesConfig;
  /** Present only when files.method is nfs. */
  readonly nfs?: NfsConfig;
  readonly cron: CronConfig;
  readonly backups: BackupsConfig;
  readonly health: HealthConfig;
  /** Accepted but risky settings, one sentence each (e.g. a non-ROW binlog format). */
  readonly warnings: readonly string[];
}
