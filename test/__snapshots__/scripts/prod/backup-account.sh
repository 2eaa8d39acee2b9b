set -euo pipefail
host='vault' user='mirrorbackup' home='/var/lib/mirrorbackup' dir='/srv/backups/mirrorstack-prod'
fail() { echo "[$host] $*" >&2; exit 1; }
if ! getent passwd "$user" >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir "$home" --shell /bin/sh --comment 'mirrorstack backup receiver (forced command, store only)' "$user"
fi
[ "$(id -u "$user")" != 0 ] || fail "the backup account $user has uid 0"
IFS=: read -r _ _ _ gid _ cur_home cur_shell < <(getent passwd "$user")
[ "$cur_home" = "$home" ] || usermod --home "$home" "$user"
[ "$cur_shell" = /bin/sh ] || usermod --shell /bin/sh "$user"
usermod --password '*' "$user"           # no password can match; key only
usermod --groups '' "$user"              # its own group, no other
[ "$(id -g "$user")" = "$gid" ]
install -d -o root -g root -m 0755 "$home"
install -d -o root -g root -m 0755 '/etc/ssh/authorized_keys' '/usr/local/lib/mirrorstack'
[ ! -L "$dir" ] || fail "$dir (backups.push.directory) is a symlink"
install -d -m 0755 "${dir%/*}"
install -d -o "$user" -g "$user" -m 0700 "$dir"
echo "[$host] backup account $user (uid $(id -u "$user")) receives into $dir ($(df -h --output=avail "$dir" | tail -n 1 | tr -d ' ') free)"
