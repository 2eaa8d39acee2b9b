set -euo pipefail
missing=()
for p in mariadb-server mariadb-backup rsync socat zstd gnupg logrotate cron openssh-server nfs-kernel-server kmod; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then echo "installing: ${missing[*]}"; DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; fi
[ -d /var/log/mysql ] || install -d -o mysql -g adm -m 2750 /var/log/mysql
for s in mariadb cron ssh nfs-kernel-server rpcbind; do
  if [ -d /run/systemd/system ]; then systemctl enable --now "$s" >/dev/null
  else service "$s" status >/dev/null 2>&1 || service "$s" start; fi
done
echo "packages: mariadb-server mariadb-backup rsync socat zstd gnupg logrotate cron openssh-server nfs-kernel-server kmod; services running: mariadb cron ssh nfs-kernel-server rpcbind"
