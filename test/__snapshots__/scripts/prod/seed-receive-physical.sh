set -euo pipefail
# `phase <name> <seconds>` lines on stdout say where the time went (the seed's output and the benchmark show them).
t=$EPOCHREALTIME
phase() { local now=$EPOCHREALTIME; printf 'phase %s %s\n' "$1" "$(awk -v a="$t" -v b="$now" 'BEGIN { printf "%.3f", b - a }')"; t=$now; }
# What seed-send tells, as the command: `seed-info bytes=<the size of the copy on the master> [upgrade=<its
# mysql_upgrade_info, base64>]` (physical: its data directory, and the file mariadb-backup leaves out; logical: the
# databases' data and indexes). Nothing (the benchmark's raw copy, a test) checks no room. Anything else is refused.
# shellcheck disable=SC2034 # upgraded: the physical copy's
upgraded='' need=0
bad() { echo "seed-receive: bad seed-info ($1)" >&2; exit 2; }
case ${SSH_ORIGINAL_COMMAND-} in
  '') ;;
  'seed-info '*)
    read -r -a words <<<"${SSH_ORIGINAL_COMMAND#seed-info }"
    for w in "${words[@]}"; do
      case $w in
        bytes=*)
          need=${w#bytes=}
          case $need in ''|*[!0-9]*|0?*) bad bytes ;; esac
          [ "${#need}" -le 18 ] || bad bytes ;;
        upgrade=*)
          upgraded=${w#upgrade=}
          case $upgraded in ''|*[!A-Za-z0-9+/=]*) bad upgrade ;; esac
          if [ "${#upgraded}" -gt 256 ] || ! printf '%s' "$upgraded" | base64 -d >/dev/null 2>&1; then bad upgrade; fi ;;
        *) bad "${w%%=*}" ;;
      esac
    done ;;
  *) echo "seed-receive: unexpected command" >&2; exit 2 ;;
esac
# Refused before anything is touched: a copy of $need bytes, a tenth more and $2 MiB, for which the file system of
# $1 has no room once the $3 bytes that the copy replaces there are gone.
room() {
  local avail want
  [ "$need" -gt 0 ] || return 0
  avail=$(df -P -B1 "$1" | awk 'NR == 2 { print $4 }')
  want=$((need + need / 10 + $2 * 1024 * 1024 - ${3:-0}))
  [ "${avail:-0}" -ge "$want" ] \
    || { echo "seed-receive: the copy needs about $((want >> 20)) MiB on the datadir's file system ($1), which has $((${avail:-0} >> 20)) MiB free" >&2; exit 1; }
}
# A physical copy: the old datadir is moved aside (not deleted) until the new one is prepared and MariaDB runs on
# it; on any failure, or when the script is stopped midway (SIGTERM, SIGHUP), it is put back and MariaDB started on
# it. Prints its phases, then the copy's binlog coordinates as the last line.
# Where the server will start: its datadir as its configuration (or the compiled-in default) names it, symbolic
# links resolved. The copy must land there, and a physical copy keeps all of InnoDB's files in it.
settings=$(mariadbd --verbose --help 2>/dev/null) || { echo "seed-receive: cannot read the server's settings (mariadbd --verbose --help)" >&2; exit 1; }
setting() { printf '%s\n' "$settings" | awk -v k="$1" '$1 == k && $2 != "(No" { sub(/^[^[:space:]]+[[:space:]]+/, ""); print }'; }
dd=$(setting datadir)
if ! dd=$(readlink -f "${dd:-/nonexistent}") || [ ! -d "$dd" ]; then
  echo "seed-receive: the server's datadir ($(setting datadir)) is not a directory here" >&2; exit 1
fi
for k in innodb-data-home-dir innodb-log-group-home-dir innodb-undo-directory; do
  v=$(setting "$k")
  case $v in ''|.|./) continue ;; /*) ;; *) v="$dd/$v" ;; esac
  [ "$(readlink -f "$v")" = "$dd" ] \
    || { echo "seed-receive: $k is $v, outside the datadir $dd, where a physical copy puts InnoDB's files; seed this mirror with database.seedMethod: logical" >&2; exit 1; }
done
# Every move below is a rename on the datadir's file system. When the datadir is a mount point (a volume of its own),
# which cannot be renamed (EBUSY), the copy is staged inside it and the entries are swapped one by one (lost+found
# stays). $moved says how far the swap got, so that putting back only ever moves the old datadir home.
moved=
if mountpoint -q "$dd"; then
  prev="$dd/.mirrorstack-prev"; new="$dd/.mirrorstack-new"
  entries() { find "$1" -mindepth 1 -maxdepth 1 ! -name '.mirrorstack-*' ! -name lost+found -print0; }
  swap_in() {
    mkdir "$prev" && moved=old && entries "$dd" | xargs -0 -r mv -t "$prev" \
      && moved=all && entries "$new" | xargs -0 -r mv -t "$dd"
  }
  swap_back() {
    [ -n "$moved" ] || return 0
    mkdir -p "$new" || return 1
    if [ "$moved" = all ]; then entries "$dd" | xargs -0 -r mv -t "$new" || return 1; fi
    entries "$prev" | xargs -0 -r mv -t "$dd" && rmdir "$prev"
  }
else
  prev="$dd.mirrorstack-prev"; new="$dd.mirrorstack-new"
  swap_in() { moved=old && mv -T "$dd" "$prev" && moved=all && mv -T "$new" "$dd"; }
  swap_back() {
    [ -n "$moved" ] || return 0
    if [ "$moved" = all ] && [ -e "$dd" ]; then mv -T "$dd" "$new" || return 1; fi
    [ -e "$dd" ] || mv -T "$prev" "$dd"
  }
fi
# Room for the copy beside the old datadir, which stays until MariaDB runs on the copy, and for the redo log the
# server makes at its first start.
room "$(dirname "$new")" 128
# An old datadir kept aside by a seed that was killed outright, or could not put it back, is not for this one to
# delete: the operator decides which datadir MariaDB runs on.
[ ! -e "$prev" ] || { echo "seed-receive: $prev is there, left by a seed that was killed or could not put it back: see which datadir MariaDB should run on, remove $prev, and seed again" >&2; exit 1; }
svc() { if [ -d /run/systemd/system ]; then systemctl "$1" mariadb; else service mariadb "$1" >/dev/null; fi; }
running() { if [ -d /run/systemd/system ]; then systemctl is-active --quiet mariadb; else service mariadb status >/dev/null 2>&1; fi; }
mainpid() { { [ -d /run/systemd/system ] && systemctl show -p MainPID --value mariadb; } || pidof -s mariadbd; }
# Under SELinux (RHEL) a copy written beside the datadir carries /var/lib's label, which mariadbd may not read: it
# gets the datadir's own before the server starts on it.
relabel() { command -v restorecon >/dev/null 2>&1 && [ -d /sys/fs/selinux ] || return 0; restorecon -R "$dd"; }
# The server on the copy: started in the background and waited for, so that a signal is handled at once; it must
# run in $dd (mariadbd works in its datadir: a server that runs elsewhere did not take the copy).
startpid=''
start_copy() {
  svc start & startpid=$!
  wait "$startpid" || return 1
  startpid=''
  [ "$(readlink -f "/proc/$(mainpid)/cwd")" = "$dd" ] || { echo "seed-receive: MariaDB started, but not in $dd" >&2; return 1; }
}
# Whatever ends the script from here (a failure, a signal), a server this script stopped and did not start on the
# copy gets its previous datadir back and is started on it, and the copy does not stay behind to fill the disk
# ($new never holds the old datadir). Signals wait for the command at hand (a rename half done is not put back). A
# server found stopped (a seed killed outright between its stop and its start) counts as stopped by this one.
stopped='' started='' at=''
running || stopped=1
finish() {
  set +e
  trap '' TERM HUP INT PIPE
  local msg=''
  if [ -n "$stopped" ] && [ -z "$started" ]; then
    # A start still under way (the signal came while waiting for it) is stopped first, and waited for.
    svc stop >/dev/null 2>&1
    if [ -n "$startpid" ]; then wait "$startpid" 2>/dev/null; svc stop >/dev/null 2>&1; fi
    if running; then
      msg="MariaDB could not be stopped to put the previous datadir back; it is left as it is (the old datadir in $prev if that is there)"
    elif ! swap_back; then
      msg="putting the previous datadir back failed: it is in $prev, and MariaDB is stopped"
    elif ! svc start; then
      msg="the previous datadir is back, but MariaDB does not start on it"
    elif [ "$at" = start ]; then
      msg="MariaDB did not start on the copied datadir; the previous one is back"
    else
      msg="the seed stopped before MariaDB ran on the copy; MariaDB runs on the previous datadir"
    fi
  fi
  rm -rf "$new" "$new.prepare.log"
  [ -z "$msg" ] || echo "seed-receive: $msg" >&2
}
trap finish EXIT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
rm -rf "$new"; mkdir -p "$new"
zstd -d -q | mbstream -x -C "$new"
phase stream
mariadb-backup --prepare --target-dir="$new" >"$new.prepare.log" 2>&1 || { tail -n 20 "$new.prepare.log" >&2; exit 1; }
# With the master's own record of its system tables' version, the server's start (Debian's debian-start) does not
# run mariadb-upgrade on tables that are already upgraded; a mirror of another version still upgrades them.
[ -z "$upgraded" ] || printf '%s' "$upgraded" | base64 -d > "$new/mysql_upgrade_info"
# The copy's binlog coordinates, which replication starts from, must be there before the old datadir goes.
[ -s "$new/mariadb_backup_binlog_info" ] || [ -s "$new/xtrabackup_binlog_info" ] \
  || { echo "seed-receive: the copy holds no binlog coordinates (mariadb_backup_binlog_info); is the master's binary log on?" >&2; exit 1; }
chown -R mysql:mysql "$new"
phase prepare
# The old datadir is kept only to be put back should the new one fail to start: stop without flushing its pages
# (InnoDB recovers from its redo log if it is ever started again).
mariadb -e 'SET GLOBAL innodb_fast_shutdown=2' 2>/dev/null || true
stopped=1
svc stop
phase stop
at=start
if ! { swap_in && relabel && start_copy; }; then exit 1; fi
started=1
rm -rf "$prev"
phase start
cat "$dd/mariadb_backup_binlog_info" 2>/dev/null || cat "$dd/xtrabackup_binlog_info"
