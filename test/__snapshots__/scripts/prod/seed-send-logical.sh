set -euo pipefail
read -r token
case $token in ''|*[!0-9a-f]*) echo "seed-send: bad seed token" >&2; exit 2 ;; esac
dir="/run/mirrorstack-seed/$token"
[ -s "$dir/key" ] || { echo "seed-send: no seed key in $dir (seed-key did not run)" >&2; exit 2; }
addr=() port=() user=()
: > "$dir/known_hosts"
while read -r kind i a b c; do
  case $i in ''|*[!0-9]*) echo "seed-send: bad mirror index" >&2; exit 2 ;; esac
  case $kind in
    mirror)
      case $a in ''|*[!0-9A-Za-z.:-]*) echo "seed-send: bad address" >&2; exit 2 ;; esac
      case $b in ''|*[!0-9]*) echo "seed-send: bad port" >&2; exit 2 ;; esac
      case $c in ''|*[!a-z0-9_.-]*) echo "seed-send: bad user" >&2; exit 2 ;; esac
      addr[i]=$a port[i]=$b user[i]=$c ;;
    hostkey)
      h=${addr[i]:?hostkey before its mirror}
      [ "${port[i]}" = 22 ] || h="[$h]:${port[i]}"
      printf '%s %s %s\n' "$h" "$a" "$b" >> "$dir/known_hosts" ;;
    *) echo "seed-send: bad input line" >&2; exit 2 ;;
  esac
done
[ "${#addr[@]}" -gt 0 ] || { echo "seed-send: no mirror to send to" >&2; exit 2; }
# The dump yields to the database server: the dump client, the compression and the SSH clients run at a lower CPU
# and I/O priority than the writers the master keeps serving (children inherit both). Measured (bench/RESULTS.md):
# a dump at normal priority held writes up to 1.5 s. A physical copy is not lowered: its writers' stall is
# mariadb-backup's commit block, which the priority does not shorten, and it made the copy 25 % slower.
renice -n 10 -p $$ >/dev/null
ionice -c 2 -n 7 -p $$ 2>/dev/null || true
# What the mirror's forced command (seed-receive) is told, as the command: the databases' data and indexes, so that a
# mirror without room for them refuses before it drops anything.
bytes=$(mariadb -N -B -e "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema IN ('wiki', 'shop', 'forum')" 2>/dev/null) || bytes=
info="seed-info bytes=${bytes:-0}"

# One ssh client per mirror, each reading its own FIFO; tee -p fills them all from one stream and goes on when
# one of them fails.
outs=() pids=()
for i in "${!addr[@]}"; do
  mkfifo "$dir/in.$i"
  ssh -F none -T -i "$dir/key" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$dir/known_hosts" -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 \
    -o ServerAliveInterval=15 -o ServerAliveCountMax=4 -o LogLevel=ERROR \
    -c aes128-gcm@openssh.com,chacha20-poly1305@openssh.com \
    -p "${port[i]}" "${user[i]}@${addr[i]}" "$info" <"$dir/in.$i" >"$dir/out.$i" 2>"$dir/err.$i" &
  pids[i]=$!
  outs+=("$dir/in.$i")
done

source_rc=0
# --single-transaction: an InnoDB snapshot, so the master keeps taking writes; the global read lock that pins the
# coordinates lasts only while the snapshot opens. The coordinate comment is kept aside.
mariadb-dump --single-transaction --master-data=2 --quick --hex-blob --routines --triggers --events \
  --default-character-set=utf8mb4 --databases 'wiki' 'shop' 'forum' 2>"$dir/source.log" \
  | tee -p >(grep -m1 -E '^-- CHANGE (MASTER|REPLICATION SOURCE) TO' > "$dir/dump" || true) \
  | zstd -1 -q -T0 | tee -p "${outs[@]}" | wc -c > "$dir/bytes" || source_rc=$?

for i in "${!pids[@]}"; do
  rc=0; wait "${pids[i]}" || rc=$?
  printf 'mirror %s %s %s\n' "$i" "$rc" "$(base64 -w0 < "$dir/out.$i")"
  printf 'stderr %s %s\n' "$i" "$(tail -c 2000 "$dir/err.$i" | base64 -w0)"
done
printf 'bytes %s\n' "$(cat "$dir/bytes" 2>/dev/null || echo 0)"
printf 'dump %s\n' "$(cat "$dir/dump" 2>/dev/null)"
if [ "$source_rc" -ne 0 ]; then
  echo "the copy on the master failed (exit $source_rc):" >&2
  tail -n 20 "$dir/source.log" >&2
  exit 1
fi
