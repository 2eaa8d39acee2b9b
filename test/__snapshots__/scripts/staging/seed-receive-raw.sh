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
# The benchmarks' raw copy (npm run bench -- seed): the bytes are read and dropped.
cat >/dev/null
