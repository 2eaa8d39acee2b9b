set -euo pipefail
host='stg-db1' user='mirrorsync' rsync='/usr/bin/rsync' home='/var/lib/mirrorsync' allow_old=1
trees=('/srv/www/wiki' '/srv/www/shop/media')
fail() { echo "[$host] $*" >&2; exit 1; }

# 1. rsync: the sender side of rsync < 3.4.0 is reachable by a pulling client (CVE-2024-12084/12085).
[ -x "$rsync" ] || fail "$rsync (files.rsyncPath) is missing or not executable; install rsync 3.4.0 or later"
ver=$("$rsync" --version 2>/dev/null | sed -n '1s/^rsync[[:space:]]*version[[:space:]]*v\{0,1\}\([0-9][0-9.]*\).*/\1/p')
[ -n "$ver" ] || fail "cannot read the version of $rsync"
if [ "$(printf '%s\n%s\n' 3.4.0 "$ver" | sort -V | head -n1)" != 3.4.0 ]; then
  if [ "$allow_old" = 1 ]; then
    echo "WARNING: [$host] rsync $ver is older than 3.4.0; installing anyway (files.allowOldRsync)"
  else
    fail "refusing to install the file sync account: rsync $ver at $rsync is older than 3.4.0 (CVE-2024-12084/12085 are reachable by the pulling side). Upgrade rsync on $host, or accept the risk with mirrorstack:files.allowOldRsync: true"
  fi
fi

# 2. The account.
if ! getent passwd "$user" >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir "$home" --shell /bin/sh --comment 'mirrorstack file sync (forced command, read-only)' "$user"
fi
[ "$(id -u "$user")" != 0 ] || fail "the sync account $user has uid 0"
IFS=: read -r _ _ _ gid _ cur_home cur_shell < <(getent passwd "$user")
[ "$cur_home" = "$home" ] || usermod --home "$home" "$user"
[ "$cur_shell" = /bin/sh ] || usermod --shell /bin/sh "$user"
usermod --password '*' "$user"           # no password can match; key only
usermod --groups '' "$user"              # its own group, no other
[ "$(id -g "$user")" = "$gid" ]
install -d -o root -g root -m 0755 "$home"
install -d -o root -g root -m 0755 '/etc/ssh/authorized_keys'
install -d -o root -g root -m 0755 '/usr/local/lib/mirrorstack'

# 3. Read access: the account must be able to read each tree (it can write nowhere in them).
for t in "${trees[@]}"; do
  if [ ! -e "$t" ]; then echo "note: [$host] $t does not exist yet; mirrors pull it once it does"; continue; fi
  runuser -u "$user" -- test -d "$t" -a -r "$t" -a -x "$t" ||
    fail "the sync account $user cannot read $t ($(stat -c '%A %U:%G' "$t")); make it readable, e.g. setfacl -R -m u:$user:rX -m d:u:$user:rX $t"
  if runuser -u "$user" -- test -w "$t"; then fail "the sync account $user can write $t; it must only read it"; fi
done
echo "[$host] sync account $user (uid $(id -u "$user"), shell /bin/sh -> $(readlink -f /bin/sh), home $home), rsync $ver"
