// The parsed, fully resolved stack config: every default filled in, every derived value computed.
// Secret values are not part of it: the program reads them as Pulumi secrets and passes them to renderStack.
// Shapes that the schema gives as they are come from it (z.output), so a key added there cannot be missed here;
// what resolve.ts derives from other keys is written out below.

import type { RPC_SERVICES, StackParsed } from "./schema";

/** The schema's output, readonly all the way down (a resolved config is never changed). */
type Frozen<T> = T extends (infer E)[] ? readonly Frozen<E>[] : T extends object ? { readonly [K in keyof T]: Frozen<T[K]> } : T;

type Parsed = Frozen<StackParsed>;
type ParsedExport = NonNullable<NonNullable<Parsed["nfs"]>["exports"]>[number];

export type OsFamily = Parsed["master"]["osFamily"];
export type Flavour = Parsed["database"]["flavour"];
export type BinlogFormat = Parsed["database"]["binlogFormat"];
export type FilesMethod = Parsed["files"]["method"];
export type RpcService = (typeof RPC_SERVICES)[number];

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
  /** This host serves the site (web). */
  readonly web: boolean;
  /** Mirrors: the address changes; the replication account matches any address and the TLS certificate is the identity. */
  readonly changingAddress: boolean;
}

/** web, with the site's database resolved; documentRoot is set whenever a host has web: true. */
export type WebConfig = Omit<Parsed["web"], "database"> & {
  /** The site's database (web.database, else the first replicated database). */
  readonly database: string;
};

export interface SshConfig {
  readonly user: string;
  readonly port: number;
  readonly privateKeyPath?: string;
  readonly knownHostsPath?: string;
  /** True when the key is given inline as the secret `mirrorstack:sshPrivateKey`. */
  readonly privateKeyInline: boolean;
}

/** database, with the version resolved and the name-resolution choice made (bindAddress goes to each host). */
export type DatabaseConfig = Omit<Parsed["database"], "version" | "bindAddress"> & {
  /** Major version, e.g. "10.11", "8.0". */
  readonly version: string;
  /** skip_name_resolve is set when every mirror address is an IP address. */
  readonly skipNameResolve: boolean;
};

export type TreeConfig = Parsed["files"]["trees"][number];

/** files, without schedule (resolved into cron.sync). */
export type FilesConfig = Omit<Parsed["files"], "schedule">;

/** One NFS export with its clients, mount point and local copy resolved. */
export type NfsExportConfig = Omit<ParsedExport, "clients" | "mountPoint" | "copyTo" | "pull"> & {
  readonly clients: readonly string[];
  /** Where mirrors mount the export. */
  readonly mountPoint: string;
  /** Where mirrors copy the mounted export on cron.sync; undefined: no copy (files.nfs.exports[].pull false). */
  readonly copyTo: string | undefined;
};

export type NfsFilesystemConfig = NonNullable<NonNullable<Parsed["nfs"]>["filesystem"]>;

type ParsedNfs = NonNullable<Parsed["nfs"]>;

/** nfs, with the exports and the TCP wrappers' clients resolved. */
export type NfsConfig = Omit<ParsedNfs, "exports" | "tcpWrappers"> & {
  /** True when nfs.exports was given; false: one export per files.trees entry. */
  readonly exportsGiven: boolean;
  readonly exports: readonly NfsExportConfig[];
  readonly tcpWrappers: Omit<ParsedNfs["tcpWrappers"], "clients"> & { readonly clients: readonly string[] };
};

export interface CronConfig {
  readonly sync: string;
  readonly backup: string;
  readonly binlogPurge: string;
  readonly healthCheck: string;
}

/** backups, with the schedule, the backup-taking host and the push target resolved. */
export type BackupsConfig = Omit<Parsed["backups"], "schedule" | "host" | "push"> & {
  readonly schedule: string;
  /** Name of the host that runs the backup. */
  readonly host: string;
  /** Where each backup is pushed too, if anywhere. */
  readonly push?: BackupPushConfig;
};

/** A separate host that receives each backup over SSH (backups.push). */
export type BackupPushConfig = Omit<NonNullable<Parsed["backups"]["push"]>, "sshUser" | "sshPort" | "retention"> & {
  /** Login of the deployment (ssh.user unless set). */
  readonly sshUser: string;
  readonly sshPort: number;
  readonly retention: number;
};

export type HealthConfig = Parsed["health"];
export type TlsConfig = Parsed["tls"];

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
  readonly web: WebConfig;
  readonly tls: TlsConfig;
  /** Accepted but risky settings, one sentence each (e.g. a non-ROW binlog format). */
  readonly warnings: readonly string[];
}
