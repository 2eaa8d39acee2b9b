set -euo pipefail
missing=()
# One dpkg-query for all of them: on a host a process start costs more than the query. Installed is the state,
# whatever is wanted: a package on hold ("hold ok installed", usual for a database server) is there, and apt-get
# would refuse to touch it.
declare -A installed=()
while read -r p st; do case $st in *" ok installed") installed[$p]=1 ;; esac; done < <(dpkg-query -W -f='${Package} ${Status}\n' mysql-server rsync socat zstd gnupg logrotate cron openssh-client nfs-common 2>/dev/null || true)
for p in mysql-server rsync socat zstd gnupg logrotate cron openssh-client nfs-common; do [ -n "${installed[$p]:-}" ] || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then echo "installing: ${missing[*]}"; DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; fi
[ -d /var/log/mysql ] || install -d -o mysql -g adm -m 2750 /var/log/mysql
for s in mysql cron; do
  # php-fpm: the unit of the PHP version the packages installed (php8.2-fpm on Debian 12, php-fpm on RHEL).
  if [ "$s" = php-fpm ] && [ ! -e /lib/systemd/system/php-fpm.service ] && [ ! -e /etc/init.d/php-fpm ]; then
    s=$(find /lib/systemd/system /etc/init.d -maxdepth 1 -name 'php*-fpm*' 2>/dev/null | sed -n '1{s#.*/##;s#\.service$##;p}')
    [ -n "$s" ] || { echo "php-fpm is installed but has no service unit" >&2; exit 1; }
  fi
  # `systemctl enable --now` takes about a second even when there is nothing to do (systemd-sysv-install and a
  # daemon reload), for each service of each host (issue 15): asked only when the service is not enabled and running.
  if [ -d /run/systemd/system ]; then
    if ! { systemctl is-enabled -q "$s" 2>/dev/null && systemctl is-active -q "$s"; }; then systemctl enable --now "$s" >/dev/null; fi
  else service "$s" status >/dev/null 2>&1 || service "$s" start; fi
done
echo "packages: mysql-server rsync socat zstd gnupg logrotate cron openssh-client nfs-common; services running: mysql cron"
