set -euo pipefail
missing=()
for p in mysql-server rsync socat zstd gnupg2 logrotate cronie openssh-clients nfs-utils; do rpm -q "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then echo "installing: ${missing[*]}"; dnf install -y "${missing[@]}"; fi

for s in mysqld crond; do
  if [ -d /run/systemd/system ]; then systemctl enable --now "$s" >/dev/null
  else service "$s" status >/dev/null 2>&1 || service "$s" start; fi
done
echo "packages: mysql-server rsync socat zstd gnupg2 logrotate cronie openssh-clients nfs-utils; services running: mysqld crond"
