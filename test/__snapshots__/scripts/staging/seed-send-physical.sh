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

# What the mirror's forced command (seed-receive) is told, as the command: the data directory's size, so that a
# mirror without room for the copy refuses before taking any; and its mysql_upgrade_info, which mariadb-backup leaves
# out: with it the mirror's server knows the copied system tables are upgraded already, and its start skips a
# needless mariadb-upgrade (Debian's debian-start; about 0.5 s of CPU per mirror, measured).
datadir=$(mariadb -N -B -e 'SELECT @@datadir' 2>/dev/null) || datadir=
datadir=${datadir:-/var/lib/mysql/}
bytes=$(du -sb "$datadir" 2>/dev/null | cut -f1) || bytes=
upgraded=$(base64 -w0 "$datadir/mysql_upgrade_info" 2>/dev/null || true)
info="seed-info bytes=${bytes:-0}${upgraded:+ upgrade=$upgraded}"
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
# mariadb-backup holds commits only for its short BLOCK_COMMIT stage; the rest of the copy runs beside the writers.
# That stage waits for the redo-log copier to reach the server's last LSN, and the copier looks every
# --log-copy-interval milliseconds (1000 by default): 50 keeps the writers' stall well under a second.
mariadb-backup --backup --stream=xbstream --parallel=2 --log-copy-interval=50 --target-dir="$dir/backup" 2>"$dir/source.log" \
  | zstd -1 -q -T0 | tee -p "${outs[@]}" | wc -c > "$dir/bytes" || source_rc=$?

for i in "${!pids[@]}"; do
  rc=0; wait "${pids[i]}" || rc=$?
  printf 'mirror %s %s %s\n' "$i" "$rc" "$(base64 -w0 < "$dir/out.$i")"
  printf 'stderr %s %s\n' "$i" "$(tail -c 2000 "$dir/err.$i" | base64 -w0)"
done
printf 'bytes %s\n' "$(cat "$dir/bytes" 2>/dev/null || echo 0)"
if [ "$source_rc" -ne 0 ]; then
  echo "the copy on the master failed (exit $source_rc):" >&2
  tail -n 20 "$dir/source.log" >&2
  exit 1
fi
