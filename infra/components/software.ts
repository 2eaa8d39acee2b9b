import { OsFamily } from "./services";

/** What a host needs installed and running for its role. */
export interface SoftwareNeeds {
  /** Package names for the host's OS family. */
  readonly packages: readonly string[];
  /** Service names that must be enabled and running. */
  readonly services: readonly string[];
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
  const base = [...db, "rsync", "socat", "zstd", "gnupg", deb ? "cron" : "cronie", role === "master" ? "openssh-server" : deb ? "openssh-client" : "openssh-clients"];
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
  return { packages: base, services };
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
for s in ${svcs}; do
  if [ -d /run/systemd/system ]; then systemctl enable --now "$s" >/dev/null
  else service "$s" status >/dev/null 2>&1 || service "$s" start; fi
done
echo "packages: ${pkgs}; services running: ${svcs}"
`;
}
