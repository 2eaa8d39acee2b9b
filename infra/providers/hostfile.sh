#!/usr/bin/env bash
# Applies, removes or reads one file (or managed block) that mirrorstack owns on a host. Sent as the ssh
# command by infra/providers/hostFile.ts; content always arrives on stdin, never in this text. Parameters are
# shell assignments the provider puts in front: OP P KIND OWNER GROUP MODE VALIDATE STACK ACTIONS HOSTNAME_CFG
# LIVE_SQL PREV_SHA.
set -euo pipefail
umask 077
# MIRRORSTACK_STATE_ROOT: only test/hostfile-script.test.ts sets it, to run this as an ordinary user in a temp dir.
STATE_ROOT=${MIRRORSTACK_STATE_ROOT:-/var/lib/mirrorstack}
STATE=$STATE_ROOT/originals
# Shell built-ins where they do: this runs once per file per run, and a process start is what a run on a host
# mostly costs (3 ms each on the lab's machine).
case $P in /?*) ;; *) echo "not an absolute path: $P" >&2; exit 2 ;; esac
install -d -m 700 "$STATE_ROOT" "$STATE"
key=${P//\//%}
BEGIN_PREFIX="# BEGIN mirrorstack managed block"
END_LINE="# END mirrorstack managed block"
dir=${P%/*}
dir=${dir:-/}
tmps=()
cleanup() { rm -f "${tmps[@]+"${tmps[@]}"}"; }
trap cleanup EXIT
# Sets TMP to a new temp file beside the target (same filesystem: the final mv is an atomic rename) and
# registers it for removal on exit. Not used in $(...): that would register it in a subshell.
newtmp() { TMP=$(mktemp "$dir/.mirrorstack.XXXXXX"); tmps+=("$TMP"); }

# Real service name per OS family is resolved by the provider; here only the init system differs.
svc() {
  if [ -d /run/systemd/system ]; then systemctl "$2" "$1"; else service "$1" "$2"; fi
}
# Before a database restart, while the server still serves: write its dirty pages out at a boosted rate, so that
# the shutdown, which writes whatever is left while no client is served, is short. At default io_capacity the
# flush took 12 s and never finished under a writer; at 20000 about 1 s. Bounded to 5 s; the restart ends the
# boost (the settings come from the option files again).
db_preflush() {
  local cli=$1 n
  "$cli" -e "SET GLOBAL innodb_io_capacity_max = 20000; SET GLOBAL innodb_io_capacity = 20000; SET GLOBAL innodb_max_dirty_pages_pct_lwm = 0; SET GLOBAL innodb_max_dirty_pages_pct = 0" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    n=$("$cli" -N -B -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" 2>/dev/null | cut -f2)
    case "$n" in '' | *[!0-9]*) return 0 ;; esac
    [ "$n" -lt 128 ] && return 0
    sleep 0.1
  done
}
# Database restart with the shortest outage clients can see: dirty pages written first (db_preflush), then shut
# down and started again the moment the old process is gone (init scripts poll with 1-second sleeps; systemd
# waits for the process itself).
db_restart() {
  local name=$1 cli=mariadb pidf pid
  [ "$name" = mariadb ] || cli=mysql
  db_preflush "$cli"
  if [ -d /run/systemd/system ]; then systemctl restart "$name"; return; fi
  pidf=$(my_print_defaults mysqld 2>/dev/null | sed -n 's/^--pid[-_]file=//p' | tail -n 1)
  pid=$(cat "${pidf:-/run/mysqld/mysqld.pid}" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && "$cli" -e "SHUTDOWN" 2>/dev/null; then
    for _ in $(seq 1 6000); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
    service "$name" start
  else
    service "$name" restart
  fi
}
# Option changes the running server takes (SET GLOBAL, chosen by infra/render/live-settings.ts), as the root
# client over the local socket. A restart instead when the file on the host was not the one the change was
# planned against (edited by hand), when putting back a previous file, or when the server refuses a statement.
db_live() {
  local name=$1 cli=mariadb
  [ "$name" = mariadb ] || cli=mysql
  if [ -z "${ROLLING_BACK:-}" ] && [ -n "$LIVE_SQL" ] && [ "${old_sha:-}" = "$PREV_SHA" ] && "$cli" -e "$LIVE_SQL"; then
    echo "[$HOSTNAME_CFG] applied live: $LIVE_SQL" >&2
    return 0
  fi
  db_restart "$name"
}
svc_logs() {
  echo "--- last log lines of $1 on $(hostname) ---" >&2
  if [ -d /run/systemd/system ]; then journalctl -u "$1" -n 30 --no-pager >&2 || true; fi
  for f in /var/log/mysql/error.log /var/lib/mysql/$(hostname).err /var/log/syslog /var/log/messages; do
    [ -r "$f" ] && tail -n 30 "$f" >&2 && break
  done
  return 0
}
run_actions() {
  local a name act
  for a in $ACTIONS; do
    name=${a%%:*}; act=${a#*:}
    case "$act" in
      exportfs) exportfs -ra ;;
      remount) mount -a ;;
      restart) case "$name" in mariadb|mysql|mysqld) db_restart "$name" ;; *) svc "$name" restart ;; esac ;;
      live) db_live "$name" ;;
      reload) svc "$name" reload ;;
      *) echo "unknown action $a" >&2; return 1 ;;
    esac || { echo "[$HOSTNAME_CFG] $act of $name failed" >&2; svc_logs "$name"; return 1; }
  done
}
# Prints the file without the managed block (block kind).
strip_block() {
  awk -v bp="$BEGIN_PREFIX" -v el="$END_LINE" 'index($0,bp)==1{skip=1;next} skip&&$0==el{skip=0;next} !skip{print}' "$1"
}
# Prints the managed block only.
only_block() {
  awk -v bp="$BEGIN_PREFIX" -v el="$END_LINE" 'index($0,bp)==1{on=1;next} on&&$0==el{on=0;next} on{print}' "$1"
}
# Sets SHA to the file's sha256 (a variable, not $(...): no subshell).
sha_of() { SHA=$(sha256sum "$1"); SHA=${SHA%% *}; }

case "$OP" in
read)
  if [ ! -e "$P" ]; then echo "MIRRORSTACK_ABSENT"; exit 0; fi
  echo "MIRRORSTACK_PRESENT $(stat -c '%U %G %a' "$P")"
  if [ "$KIND" = block ]; then only_block "$P"; else cat "$P"; fi
  ;;
apply)
  [ -d "$dir" ] || (umask 022; mkdir -p "$dir")   # new parent dirs readable (sshd reads /etc/ssh/authorized_keys as the user)
  newtmp; new=$TMP
  if [ "$KIND" = whole ]; then
    cat > "$new"
  else
    newtmp; blk=$TMP; cat > "$blk"
    [ -s "$blk" ] && [ -n "$(tail -c1 "$blk")" ] && echo >> "$blk"
    # Keep every other line byte for byte; the block goes where it was, or at the end.
    if [ -e "$P" ]; then
      awk -v bp="$BEGIN_PREFIX" -v el="$END_LINE" -v stack="$STACK" -v b="$blk" '
        function emit() { printf "%s (stack %s)\n", bp, stack; while ((getline l < b) > 0) print l; print el; done=1 }
        index($0,bp)==1 { skip=1; if (!done) emit(); next }
        skip && $0==el { skip=0; next }
        skip { next }
        { print }
        END { if (!done) emit() }' "$P" > "$new"
    else
      { printf '%s (stack %s)\n' "$BEGIN_PREFIX" "$STACK"; cat "$blk"; echo "$END_LINE"; } > "$new"
    fi
  fi
  # Remember the original once, before mirrorstack first changes it; destroy puts it back.
  if [ ! -e "$STATE/$key.orig" ] && [ ! -e "$STATE/$key.absent" ]; then
    if [ -e "$P" ]; then cp -a "$P" "$STATE/$key.orig"; else : > "$STATE/$key.absent"; fi
  fi
  if [ "$KIND" = block ] && [ -e "$P" ]; then
    chown --reference="$P" "$new"; chmod --reference="$P" "$new"
  else
    chown "$OWNER:$GROUP" "$new"; chmod "$MODE" "$new"
  fi
  if [ -n "$VALIDATE" ]; then
    if ! vout=$(FILE="$new" bash -c "$VALIDATE" 2>&1); then
      echo "[$HOSTNAME_CFG] $P rejected by its validator; the old file and the service are untouched:" >&2
      echo "$vout" >&2
      exit 3
    fi
  fi
  # A run killed between the swap and the service action leaves this marker: the action is still owed.
  pending="$STATE/$key.pending"
  if [ -e "$P" ] && cmp -s "$new" "$P"; then
    # Same content: fix ownership/mode in place if they drifted; restart only if a killed run still owes it.
    if [ "$KIND" = whole ]; then chown "$OWNER:$GROUP" "$P"; chmod "$MODE" "$P"; fi
    if [ -e "$pending" ]; then run_actions; rm -f "$pending"; fi
    sha_of "$P"
    echo "MIRRORSTACK_RESULT unchanged $SHA"
    exit 0
  fi
  prev="" old_sha=""
  if [ -e "$P" ]; then newtmp; prev=$TMP; cp -a "$P" "$prev"; sha_of "$P"; old_sha=$SHA; fi
  sync "$new"
  [ -n "$ACTIONS" ] && : > "$pending"
  mv -f "$new" "$P"
  if ! run_actions; then
    # The service refused the new file: put the previous one back and bring the service up again.
    if [ -n "$prev" ]; then mv -f "$prev" "$P"; else rm -f "$P"; fi
    ROLLING_BACK=1 run_actions >/dev/null 2>&1 || echo "[$HOSTNAME_CFG] the service did not come back with the previous file either" >&2
    echo "[$HOSTNAME_CFG] restored the previous $P" >&2
    rm -f "$pending"
    exit 4
  fi
  rm -f "$pending"
  sha_of "$P"
  echo "MIRRORSTACK_RESULT changed $SHA"
  ;;
remove)
  changed=0
  if [ "$KIND" = block ]; then
    if [ -e "$P" ] && grep -q "^$BEGIN_PREFIX" "$P"; then
      newtmp; new=$TMP; strip_block "$P" > "$new"
      chown --reference="$P" "$new"; chmod --reference="$P" "$new"; sync "$new"; mv -f "$new" "$P"; changed=1
    fi
  elif [ -e "$STATE/$key.orig" ]; then
    newtmp; new=$TMP; cp -a "$STATE/$key.orig" "$new"
    if ! cmp -s "$new" "$P" 2>/dev/null; then sync "$new"; mv -f "$new" "$P"; changed=1; fi
  elif [ -e "$STATE/$key.absent" ] && [ -e "$P" ]; then
    rm -f "$P"; changed=1
  fi
  if [ "$changed" = 1 ]; then run_actions; fi
  rm -f "$STATE/$key.orig" "$STATE/$key.absent"
  echo "MIRRORSTACK_RESULT removed"
  ;;
*) echo "unknown op $OP" >&2; exit 2 ;;
esac
