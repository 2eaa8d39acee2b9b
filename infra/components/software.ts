import { mysqlLogDir } from "../render/common";
import { OsFamily } from "./services";

/** A directory a rendered file points at that no package makes (created when missing, never changed after). */
export interface NeededDirectory {
  readonly path: string;
  readonly owner: string;
  readonly group: string;
  readonly mode: string;
}

/** What a host needs installed and running for its role. */
export interface SoftwareNeeds {
  /** Package names for the host's OS family. */
  readonly packages: readonly string[];
  /** Service names that must be enabled and running. */
  readonly services: readonly string[];
  /** Directories the rendered files need before their services restart. */
  readonly directories: readonly NeededDirectory[];
}

/** Packages and services per role, database flavour and file-mirroring method. */
export function softwareFor(
  role: "master" | "mirror",
  os: OsFamily,
  flavour: "mariadb" | "mysql",
  fileMethod: "rsync-ssh" | "nfs" | "none",
  /** web.server when the host has web: true. */
  web?: "apache" | "nginx",
): SoftwareNeeds {
  const deb = os === "debian";
  const db = flavour === "mariadb" ? ["mariadb-server", "mariadb-backup"] : deb ? ["mysql-server"] : ["mysql-server"];
  const dbService = flavour === "mariadb" ? "mariadb" : deb ? "mysql" : "mysqld";
  // Every program a rendered script or validator calls on the host, beyond a minimal install (Debian minbase):
  // socat relays the database socket to mysql2 over SSH; zstd compresses the seeding stream; gnupg encrypts backups
  // (RHEL names it gnupg2); logrotate validates (`logrotate -d`) and rotates /etc/logrotate.d/mirrorstack; the
  // ssh client pulls files and pushes backups (RHEL's openssh-server does not bring it).
  const ssh = deb ? (role === "master" ? ["openssh-server"] : ["openssh-client"]) : role === "master" ? ["openssh-server", "openssh-clients"] : ["openssh-clients"];
  const base = [...db, "rsync", "socat", "zstd", deb ? "gnupg" : "gnupg2", "logrotate", deb ? "cron" : "cronie", ...ssh];
  const services = [dbService, deb ? "cron" : "crond"];
  if (role === "master") services.push(deb ? "ssh" : "sshd");
  if (fileMethod === "nfs") {
    if (role === "master") {
      // kmod: the NFS step loads nfsd with modprobe before it starts the server.
      base.push(deb ? "nfs-kernel-server" : "nfs-utils", "kmod");
      services.push(deb ? "nfs-kernel-server" : "nfs-server", "rpcbind");
    } else {
      base.push(deb ? "nfs-common" : "nfs-utils");
    }
  }
  // The site (web: true): the server with PHP and its MySQL driver. php-fpm stands for the installed version's unit
  // (php8.2-fpm on Debian 12); steps/ensure-software resolves it on the host.
  if (web === "apache") {
    base.push(...(deb ? ["apache2", "libapache2-mod-php", "php-mysql"] : ["httpd", "php", "php-mysqlnd"]));
    services.push(deb ? "apache2" : "httpd");
  } else if (web === "nginx") {
    base.push(...(deb ? ["nginx", "php-fpm", "php-mysql"] : ["nginx", "php-fpm", "php-mysqlnd"]));
    services.push("nginx", "php-fpm");
  }
  // The binary and relay logs live in the database log directory; Debian 12's MariaDB logs to the journal and
  // no longer creates /var/log/mysql, so the server would refuse to start with the master's my.cnf.
  const logDir = mysqlLogDir(os);
  const directories = deb ? [{ path: logDir, owner: "mysql", group: "adm", mode: "2750" }] : [];
  return { packages: base, services, directories };
}
