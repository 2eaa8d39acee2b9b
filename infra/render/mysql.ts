// my.cnf drop-ins of the master and the mirrors.

import type { DatabaseConfig, HostConfig, StackConfig } from "../config/types";
import type { FileBody, ServiceAction } from "./types";
import { header, myCnfPath, mysqlLogDir, validateMyCnf } from "./common";
import { renderTemplate } from "./templates";
import { serverTlsSettings } from "./tls";

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = version.split(".").map(Number) as [number, number];
  return a > major || (a === major && b >= minor);
}

/** binlog_expire_logs_seconds exists in MariaDB 10.6+ and MySQL 8.0+; older servers only know expire_logs_days. */
export function retentionSetting(db: DatabaseConfig, days = db.binlogRetentionDays): { option: string; value: number } {
  const modern = db.flavour === "mariadb" ? versionAtLeast(db.version, 10, 6) : versionAtLeast(db.version, 8, 0);
  return modern ? { option: "binlog_expire_logs_seconds", value: days * 86400 } : { option: "expire_logs_days", value: days };
}

/** MySQL 8.4 and later dropped the "slave" spellings; MariaDB and older MySQL use them. */
function logReplicaUpdatesName(db: DatabaseConfig): string {
  return db.flavour === "mysql" && versionAtLeast(db.version, 8, 4) ? "log_replica_updates" : "log_slave_updates";
}

/** The option file's action: changed options go live where the server allows it, else the server restarts. */
function applySettings(db: DatabaseConfig): ServiceAction[] {
  return [{ service: db.flavour === "mysql" ? "mysql" : "mariadb", action: "settings" }];
}

export function renderMyCnf(cfg: StackConfig, host: HostConfig): FileBody {
  const db = cfg.database;
  const common = {
    header: header(cfg.stack),
    host: host.name,
    flavourName: db.flavour === "mariadb" ? "MariaDB" : "MySQL",
    version: db.version,
    serverId: host.serverId,
    bindAddress: host.bindAddress,
    port: db.port,
    skipNameResolve: db.skipNameResolve,
    databases: db.databases,
    mariadb: db.flavour === "mariadb",
    mysql: db.flavour === "mysql",
  };
  // Mirrors keep a binary log like the master's, so that one can be promoted (mirrorctl switchover / failover),
  // with a retention of their own: a change of the master's touches the master only.
  const r = retentionSetting(db, host.role === "master" ? db.binlogRetentionDays : db.mirrorBinlogRetentionDays);
  const binlog = {
    logBin: `${mysqlLogDir(host.osFamily)}/mysql-bin`,
    binlogFormat: db.binlogFormat,
    retentionOption: r.option,
    retentionValue: r.value,
  };
  let content: string;
  if (host.role === "master") {
    content = renderTemplate("mysql-master.cnf.hbs", {
      ...common,
      ...binlog,
      relayLog: `${mysqlLogDir(host.osFamily)}/relay-bin`,
      logReplicaUpdates: logReplicaUpdatesName(db),
      tls: serverTlsSettings(cfg),
    });
  } else {
    content = renderTemplate("mysql-mirror.cnf.hbs", {
      ...common,
      ...binlog,
      relayLog: `${mysqlLogDir(host.osFamily)}/relay-bin`,
      logReplicaUpdates: logReplicaUpdatesName(db),
      tls: serverTlsSettings(cfg),
    });
  }
  return {
    path: myCnfPath(host.osFamily, db.flavour),
    kind: "whole",
    owner: "root",
    group: "root",
    mode: "0644",
    content,
    secret: false,
    validate: validateMyCnf(db.flavour),
    onChange: applySettings(db),
    description:
      host.role === "master"
        ? `${common.flavourName} master settings: server_id ${host.serverId}, binary log of ${db.databases.join(", ")}`
        : `${common.flavourName} mirror settings: server_id ${host.serverId}, read-only replica of ${db.databases.join(", ")}`,
  };
}
