set -euo pipefail
# `phase <name> <seconds>` lines on stdout say where the time went (the seed's output and the benchmark show them).
t=$EPOCHREALTIME
phase() { local now=$EPOCHREALTIME; printf 'phase %s %s\n' "$1" "$(awk -v a="$t" -v b="$now" 'BEGIN { printf "%.3f", b - a }')"; t=$now; }
# A physical copy: the old datadir is moved aside (not deleted) until the new one is prepared and MariaDB runs on
# it; on any failure it is put back and MariaDB started on it. Prints its phases, then the copy's binlog
# coordinates as the last line.
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
# The datadir as the server names it, symbolic links resolved: the copy lands on the datadir's own file system.
dd=$(mariadb -N -B -e 'SELECT @@datadir' 2>/dev/null) || dd=
dd=$(readlink -f "${dd:-/var/lib/mysql}")
# Every move below is a rename on that file system. When the datadir is a mount point (a volume of its own), which
# cannot be renamed (EBUSY), the copy is staged inside it and the entries are swapped one by one (lost+found stays).
if mountpoint -q "$dd"; then
  prev="$dd/.mirrorstack-prev"; new="$dd/.mirrorstack-new"
  entries() { find "$1" -mindepth 1 -maxdepth 1 ! -name '.mirrorstack-*' ! -name lost+found; }
  # $moved says how far the swap got, so that putting back never moves the old entries anywhere but home.
  swap_in() {
    mkdir "$prev" && moved=old && entries "$dd" | xargs -r -d '\n' mv -t "$prev" \
      && moved=all && entries "$new" | xargs -r -d '\n' mv -t "$dd"
  }
  swap_back() {
    [ -n "$moved" ] || return 0
    mkdir -p "$new"
    [ "$moved" != all ] || entries "$dd" | xargs -r -d '\n' mv -t "$new"
    entries "$prev" | xargs -r -d '\n' mv -t "$dd" && rmdir "$prev"
  }
else
  prev="$dd.mirrorstack-prev"; new="$dd.mirrorstack-new"
  swap_in() { mv "$dd" "$prev" && mv "$new" "$dd"; }
  swap_back() { [ -e "$prev" ] || return 0; rm -rf "$new"; [ ! -e "$dd" ] || mv "$dd" "$new"; mv "$prev" "$dd"; }
fi
moved=
svc() { if [ -d /run/systemd/system ]; then systemctl "$1" mariadb; else service mariadb "$1" >/dev/null; fi; }
# Under SELinux (RHEL) a copy written beside the datadir carries /var/lib's label, which mariadbd may not read: it
# gets the datadir's own before the server starts on it.
relabel() { command -v restorecon >/dev/null 2>&1 && [ -d /sys/fs/selinux ] || return 0; restorecon -R "$dd"; }
rm -rf "$new"; mkdir -p "$new"
# Whatever happens from here, the copy does not stay behind to fill the datadir's disk (after a swap, $new holds
# nothing but a copy that was moved back out).
trap 'rm -rf "$new" "$new.prepare.log"' EXIT
zstd -d -q | mbstream -x -C "$new"
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
rm -rf "$prev"
if ! swap_in || ! relabel || ! svc start; then
  svc stop 2>/dev/null || true
  swap_back || { echo "putting the previous datadir back failed: it is in $prev" >&2; exit 1; }
  svc start || true
  echo "MariaDB did not start on the copied datadir; the previous one is back" >&2; exit 1
fi
phase start
rm -rf "$prev"
cat "$dd/mariadb_backup_binlog_info" 2>/dev/null || cat "$dd/xtrabackup_binlog_info"
