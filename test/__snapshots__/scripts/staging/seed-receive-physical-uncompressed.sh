set -euo pipefail
# `phase <name> <seconds>` lines on stdout say where the time went (the seed's output and the benchmark show them).
t=$EPOCHREALTIME
phase() { local now=$EPOCHREALTIME; printf 'phase %s %s\n' "$1" "$(awk -v a="$t" -v b="$now" 'BEGIN { printf "%.3f", b - a }')"; t=$now; }
# A physical copy: the old datadir is moved aside (not deleted) until the new one is prepared and MariaDB runs on
# it; on any failure it is put back and MariaDB started on it. Prints its phases, then the copy's binlog
# coordinates as the last line.
dd=/var/lib/mysql; prev="$dd.mirrorstack-prev"; new="$dd.mirrorstack-new"
# The master's mysql_upgrade_info, base64, sent by seed-send as the command (mariadb-backup leaves the file out).
upgraded=
case ${SSH_ORIGINAL_COMMAND-} in
  '') ;;
  'upgrade-info '*)
    upgraded=${SSH_ORIGINAL_COMMAND#upgrade-info }
    case $upgraded in ''|*[!A-Za-z0-9+/=]*) echo "seed-receive: bad upgrade-info" >&2; exit 2 ;; esac
    if [ "${#upgraded}" -gt 256 ] || ! printf '%s' "$upgraded" | base64 -d >/dev/null 2>&1; then
      echo "seed-receive: bad upgrade-info" >&2; exit 2
    fi ;;
  *) echo "seed-receive: unexpected command" >&2; exit 2 ;;
esac
svc() { if [ -d /run/systemd/system ]; then systemctl "$1" mariadb; else service mariadb "$1" >/dev/null; fi; }
rm -rf "$new"; mkdir -p "$new"
mbstream -x -C "$new"
phase stream
mariadb-backup --prepare --target-dir="$new" >"$new.prepare.log" 2>&1 || { tail -n 20 "$new.prepare.log" >&2; exit 1; }
# With the master's own record of its system tables' version, the server's start (Debian's debian-start) does not
# run mariadb-upgrade on tables that are already upgraded; a mirror of another version still upgrades them.
[ -z "$upgraded" ] || printf '%s' "$upgraded" | base64 -d > "$new/mysql_upgrade_info"
chown -R mysql:mysql "$new"
phase prepare
# The old datadir is kept only to be put back should the new one fail to start: stop without flushing its pages
# (InnoDB recovers from its redo log if it is ever started again).
mariadb -e 'SET GLOBAL innodb_fast_shutdown=2' 2>/dev/null || true
svc stop
phase stop
rm -rf "$prev"; mv "$dd" "$prev"; mv "$new" "$dd"
if ! svc start; then
  rm -rf "$new"; mv "$dd" "$new"; mv "$prev" "$dd"; svc start || true
  echo "MariaDB did not start on the copied datadir; the previous one is back" >&2; exit 1
fi
phase start
rm -rf "$prev" "$new.prepare.log"
cat "$dd/mariadb_backup_binlog_info" 2>/dev/null || cat "$dd/xtrabackup_binlog_info"
