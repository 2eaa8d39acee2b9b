import { ServiceAction } from "../render/types";

/** Operating-system families whose package and service names mirrorstack knows. */
export type OsFamily = "debian" | "rhel";

const NAMES: Record<OsFamily, Record<ServiceAction["service"], string>> = {
  debian: {
    mariadb: "mariadb",
    mysql: "mysql",
    ssh: "ssh",
    cron: "cron",
    "nfs-server": "nfs-kernel-server",
    rpcbind: "rpcbind",
    idmapd: "nfs-idmapd",
    apache: "apache2",
    nginx: "nginx",
  },
  rhel: {
    mariadb: "mariadb",
    mysql: "mysqld",
    ssh: "sshd",
    cron: "crond",
    "nfs-server": "nfs-server",
    rpcbind: "rpcbind",
    idmapd: "nfs-idmapd",
    apache: "httpd",
    nginx: "nginx",
  },
};

/** Turns logical service actions into the `service:action` words the host script runs. */
export function actionWords(actions: readonly ServiceAction[], os: OsFamily): string[] {
  return actions.map((a) => `${NAMES[os][a.service]}:${a.action}`);
}
