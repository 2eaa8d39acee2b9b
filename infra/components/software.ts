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
): SoftwareNeeds {
  const deb = os === "debian";
  const db = flavour === "mariadb" ? ["mariadb-server", "mariadb-backup"] : deb ? ["mysql-server"] : ["mysql-server"];
  const dbService = flavour === "mariadb" ? "mariadb" : deb ? "mysql" : "mysqld";
  // socat relays the database socket to mysql2 over SSH; zstd compresses the seeding stream; gnupg encrypts backups.
  // logrotate: /etc/logrotate.d/mirrorstack is validated with `logrotate -d` and rotated by it.
  const base = [...db, "rsync", "socat", "zstd", "gnupg", "logrotate", deb ? "cron" : "cronie", role === "master" ? "openssh-server" : deb ? "openssh-client" : "openssh-clients"];
  const services = [dbService, deb ? "cron" : "crond"];
  if (role === "master") services.push(deb ? "ssh" : "sshd");
  if (fileMethod === "nfs") {
    if (role === "master") {
      base.push(deb ? "nfs-kernel-server" : "nfs-utils");
      services.push(deb ? "nfs-kernel-server" : "nfs-server", "rpcbind");
    } else {
      base.push(deb ? "nfs-common" : "nfs-utils");
    }
  }
  // The binary and relay logs live in the database log directory; Debian 12's MariaDB logs to the journal and
  // no longer creates /var/log/mysql, so the server would refuse to start with the master's my.cnf.
  const logDir = mysqlLogDir(os);
  const directories = deb ? [{ path: logDir, owner: "mysql", group: "adm", mode: "2750" }] : [];
  return { packages: base, services, directories };
}

/**
 * Idempotent script: installs what is missing (nothing when all is there), then makes sure each service is
 * enabled and running, through systemctl where the host runs systemd and `service` where it does not.
 */
export function ensureSoftwareScript(needs: SoftwareNeeds, os: OsFamily): string {
  const pkgs = needs.packages.join(" ");
  const svcs = needs.services.join(" ");
  const check =
    os === "debian"
      ? `dpkg-query -W -f='\${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'`
      : `rpm -q "$p" >/dev/null 2>&1`;
  const install =
    os === "debian"
      ? `DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "\${missing[@]}"`
      : `dnf install -y "\${missing[@]}"`;
  return `set -euo pipefail
missing=()
for p in ${pkgs}; do ${check} || missing+=("$p"); done
if [ \${#missing[@]} -gt 0 ]; then echo "installing: \${missing[*]}"; ${install}; fi
${needs.directories.map((d) => `[ -d ${d.path} ] || install -d -o ${d.owner} -g ${d.group} -m ${d.mode} ${d.path}`).join("\n")}
for s in ${svcs}; do
  if [ -d /run/systemd/system ]; then systemctl enable --now "$s" >/dev/null
  else service "$s" status >/dev/null 2>&1 || service "$s" start; fi
done
echo "packages: ${pkgs}; services running: ${svcs}"
`;
}
