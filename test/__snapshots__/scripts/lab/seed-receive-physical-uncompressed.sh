set -euo pipefail
# A physical copy: the old datadir is moved aside (not deleted) until the new one is prepared and MariaDB runs on
# it; on any failure it is put back and MariaDB started on it. Prints the copy's binlog coordinates.
dd=/var/lib/mysql; prev="$dd.mirrorstack-prev"; new="$dd.mirrorstack-new"
svc() { if [ -d /run/systemd/system ]; then systemctl "$1" mariadb; else service mariadb "$1" >/dev/null; fi; }
rm -rf "$new"; mkdir -p "$new"
mbstream -x -C "$new"
mariadb-backup --prepare --target-dir="$new" >"$new.prepare.log" 2>&1 || { tail -n 20 "$new.prepare.log" >&2; exit 1; }
chown -R mysql:mysql "$new"
svc stop
rm -rf "$prev"; mv "$dd" "$prev"; mv "$new" "$dd"
if ! svc start; then
  rm -rf "$new"; mv "$dd" "$new"; mv "$prev" "$dd"; svc start || true
  echo "MariaDB did not start on the copied datadir; the previous one is back" >&2; exit 1
fi
rm -rf "$prev" "$new.prepare.log"
cat "$dd/mariadb_backup_binlog_info" 2>/dev/null || cat "$dd/xtrabackup_binlog_info"
