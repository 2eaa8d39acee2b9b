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
# A logical copy, loaded by several sessions at once (one session is the whole limit of a logical seed: measured,
# 953 MiB loaded in 44 s by one, 22 s by two on two cores). awk splits the dump as it arrives:
#  * schema (CREATE DATABASE, USE, a view's placeholder) runs at once, in order, in one session, before the rows of
#    the tables that follow it;
#  * a table's rows are held until they end or reach 16777216 bytes. A table whose rows end first (a small
#    one) goes, its own DROP and CREATE TABLE first, into a pack: a chunk shared with the next small tables, closed
#    at a sixteenth of that size (two sessions per table, its structure and its rows, made 400 small tables take
#    7.4-8.5 s, against 2.2-3 s in one session and 1.7-2.3 s in packs). A larger table's DROP and CREATE run at
#    once, and its rows go to chunk files of about that size, this table's rows only;
#  * each chunk carries the dump's session settings and its database; up to one loader per CPU (2 to 8) loads them,
#    each chunk in its own session, each table's rows as one transaction. Two loaders whose first inserts reach the
#    same empty table at once deadlock (InnoDB's bulk insert into an empty table takes a table lock; seen in CI and
#    in the live test), so a chunk of an InnoDB table that fails with a deadlock or a lock wait timeout, rolled back
#    whole (its transaction; the session closed), is tried again, up to 5 tries, after a pause that differs between
#    loaders. Other engines' chunks (named *-once.sql) are tried once: what they wrote before an error stays. A
#    pack is tried again whatever its engines: it drops and makes its tables again first (a pack with a table the
#    dump does not drop first is tried once);
#  * what follows a table's rows (its triggers), the routines, events and views run last, in order, once every row
#    is in: a trigger or an event must not fire on the rows being loaded, and a view reads tables a pack makes.
# The dump's LOCK TABLES and ALTER TABLE ... DISABLE/ENABLE KEYS are left out: they would serialise the loaders and
# only speed up MyISAM. Relaxed durability while loading; the setting is put back on exit. sql_log_bin=0: the copy
# is the master's history, not this host's own transactions, so it stays out of a binary log this host may keep
# (a mirror that can be promoted), where it would show as errant transactions.
old=$(mariadb -N -B -e 'SELECT @@GLOBAL.innodb_flush_log_at_trx_commit')
workers=$(nproc 2>/dev/null || echo 2)
[ "$workers" -ge 2 ] || workers=2
[ "$workers" -le 8 ] || workers=8
# Room for the rows, and for the chunks waiting (when /var/tmp shares the file system): each table is dropped before
# its rows load again, so what this server's own copies of the databases take counts as free (with a file per
# table; a shared system tablespace does not shrink).
read -r datadir own < <(mariadb -N -B -e "SELECT @@datadir, IF(@@innodb_file_per_table, (SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema IN ('wiki')), 0)") \
  || { echo "seed-receive: cannot read the server's datadir" >&2; exit 1; }
room "$datadir" $((64 + workers * 2 * 16777216 / 1048576)) "$own"
tmp=${TMPDIR:-/var/tmp}
# A load killed midway left its chunks behind: any older than two hours go.
find "$tmp" -maxdepth 1 -name 'mirrorstack-load.*' -mmin +120 -exec rm -rf {} +
work=$(mktemp -d "$tmp/mirrorstack-load.XXXXXX")
loaders=
cleanup() {
  [ -z "$loaders" ] || kill "$loaders" 2>/dev/null || true
  mariadb -e "SET GLOBAL innodb_flush_log_at_trx_commit=$old" || true
  rm -rf "$work"
}
trap cleanup EXIT
mariadb -e 'SET GLOBAL innodb_flush_log_at_trx_commit=2'
load="mariadb --binary-mode --init-command='SET SESSION sql_log_bin=0'"
mkdir "$work/c"
mkfifo "$work/queue"
# The loaders take chunk names from the queue. One that fails marks it and exits 255, which stops xargs.
# shellcheck disable=SC2016 # expanded by the loader's own shell
xargs -r -P "$workers" -n 1 sh -c 'e="$0/err-${1##*/}" n=1
  until '"$load"' < "$1" 2>"$e"; do
    if [ $n -lt 5 ] && [ "${1%-once.sql}" = "$1" ] && grep -qE "^ERROR 12(13|05) " "$e"; then
      echo "seed-receive: ${1##*/} loaded again after: $(grep -m 1 "^ERROR" "$e")" >&2; n=$((n + 1)); sleep "0.$n$(($$ % 10))"; continue
    fi
    cat "$e" >>"$0/err"; touch "$0/failed"; exit 255
  done
  rm -f "$1" "$e"' "$work" < "$work/queue" &
loaders=$!
# This shell holds the queue open too, so that the loaders see its end even when awk never opened it.
exec 3>"$work/queue"
# Room for the next chunk: at most two per loader on disk; gives up when a loader failed or they are gone.
room="while [ \$(ls '$work/c' | wc -l) -ge $((workers * 2)) ]; do [ ! -e '$work/failed' ] && kill -0 $loaders 2>/dev/null || exit 1; sleep 0.05; done; [ ! -e '$work/failed' ]"
split_rc=0
zstd -d -q | LC_ALL=C awk -v work="$work" -v sqlcmd="$load" -v room="$room" -v size=16777216 '
  function fail(m) { failed = 1; print "seed-receive: " m >"/dev/stderr"; exit 1 }
  # Each schema batch, each chunk and the last part run in sessions of their own: each starts with the dump head.
  function schema(l) { if (!npre++) { printf "%s", head >pre; if (db != "") print db >pre }; print l >pre }
  function run_schema() { if (npre) { close(pre); npre = 0; if (system(sqlcmd " <" pre " 2>>" work "/err")) fail("a schema statement failed") } }
  function end_chunk() { if (cur != "") { print "COMMIT;" >cur; close(cur); print cur >queue; fflush(queue); cur = "" } }
  function new_chunk() {
    end_chunk()
    if (system(room)) fail("a loading session failed")
    cur = sprintf("%s/c/%06d%s.sql", work, ++n, innodb ? "" : "-once"); printf "%s", head >cur; print db >cur
    print "START TRANSACTION;" >cur; clen = 0
  }
  function row(l) { print l >cur; clen += length(l) + 1 }
  # The rows of a table are held (tb) while it may be a small one (its rows end first). Past the size, it is a large
  # one: its structure runs now, and the rows held start its first chunk.
  function keep(l) { if (!held) { row(l); return }; tb[++tn] = l; tlen += length(l) + 1; if (tlen >= size) large() }
  function put_held(f,   i) { for (i = 1; i <= tn; i++) print tb[i] >f; split("", tb); tn = 0 }
  function large() { held = 0; schema(tsch); run_schema(); forget(); new_chunk(); put_held(cur); clen = tlen }
  # What the structure said of the table at hand. Cleared once it is used, so that rows with no structure before
  # them (never in the seed dump) count as a table not dropped first, of no engine.
  function forget() { tsch = ""; dropped = 0; engine = "" }
  # The rows of a table that ended while held: into the pack, after the structure of the table.
  function end_table() {
    if (!held) return
    held = 0
    if (pf == "") {
      if (system(room)) fail("a loading session failed")
      pf = sprintf("%s/c/%06d.sql", work, ++n); printf "%s", head >pf; kdb = ""
    }
    if (kdb != db) { print db >pf; kdb = db }
    printf "%s", tsch >pf
    if (tn) { print "START TRANSACTION;" >pf; put_held(pf); print "COMMIT;" >pf }
    plen += length(tsch) + tlen; if (!dropped) ponce = 1
    forget()
    if (plen >= size / 16) end_pack()
  }
  function end_pack() {
    if (pf == "") return
    close(pf)
    if (ponce) { f = pf; sub(/[.]sql$/, "-once.sql", f); if (system("mv " pf " " f)) fail("cannot name a chunk"); pf = f }
    print pf >queue; fflush(queue); pf = ""; plen = 0; ponce = 0
  }
  # A section ends: a held table goes to the pack; a structure with no rows after it runs with the schema.
  function end_section() { end_table(); if (mode == "table") { schema(tsch); forget() } }
  BEGIN { pre = work "/schema.sql"; post = work "/post.sql"; queue = work "/queue"; mode = "head"; printf "" >post }
  /^-- (Temporary table structure for view|Temporary view structure for view|Current Database:) / { end_section(); mode = "schema" }
  # The views themselves (the dump makes them once every table is made) may read any table or call a routine, and
  # an event may fire: last, whatever section came before (a view placeholder sorts last in many databases).
  /^-- (Final view structure for view|Dumping (events|routines) for database) / { end_section(); mode = "after" }
  /^-- Table structure for table / { end_section(); mode = "table"; forget() }
  # The rows of each table start a chunk of their own or go to the pack after its structure (the line names no
  # database; two databases may share a table name).
  /^-- Dumping data for table / {
    end_table(); mode = "rows"; innodb = (engine ~ /^\) ENGINE=InnoDB[ ;]/); end_chunk(); run_schema(); held = 1; tlen = 0; next
  }
  mode == "head" { head = head $0 "\n"; next }
  mode == "schema" { if ($0 ~ /^USE `/) db = $0; schema($0); next }
  mode == "table" { if ($0 ~ /^\) ENGINE=/) engine = $0; if ($0 ~ /^DROP TABLE IF EXISTS `/) dropped = 1; tsch = tsch $0 "\n"; next }
  mode == "rows" {
    if (stmt) { keep($0); if ($0 ~ /;$/) stmt = 0; next }
    if ($0 ~ /^(INSERT|REPLACE) INTO /) {
      if (!held && (cur == "" || clen >= size)) new_chunk()
      keep($0); stmt = ($0 !~ /;$/); next
    }
    if ($0 ~ /^(LOCK TABLES .* WRITE|UNLOCK TABLES);$/ || $0 ~ /^\/\*!40000 ALTER TABLE .* (DIS|EN)ABLE KEYS \*\/;$/ || $0 ~ /^(--.*)?$/) next
    end_table(); mode = "after"
  }
  {
    if (!npost++) printf "%s", head >post
    if (pdb != db) { print db >post; pdb = db }
    print >post
  }
  END {
    if (failed) exit 1
    if (stmt) fail("the dump ended inside an INSERT statement")
    end_section(); run_schema(); end_pack(); end_chunk(); close(queue); close(post)
    print n >(work "/chunks")
  }' 3>&- || split_rc=$?
exec 3>&-
load_rc=0
wait "$loaders" || load_rc=$?
loaders=
if [ "$split_rc" -ne 0 ] || [ "$load_rc" -ne 0 ] || [ -e "$work/failed" ]; then
  echo "seed-receive: loading the dump failed (split exit $split_rc, loaders exit $load_rc):" >&2
  tail -n 20 "$work/err" >&2 2>/dev/null || true
  exit 1
fi
phase load
# shellcheck disable=SC2016 # expanded by sh
sh -c "$load"' < "$0"' "$work/post.sql" 2>>"$work/err" \
  || { echo "seed-receive: the dump's triggers, views or routines failed:" >&2; tail -n 20 "$work/err" >&2; exit 1; }
phase finish
echo "loaded $(cat "$work/chunks") chunks with $workers loaders"
