set -euo pipefail
user='mirrorsync'
if getent passwd "$user" | cut -d: -f5 | grep -qxF 'mirrorstack file sync (forced command, read-only)'; then
  pkill -KILL -u "$user" 2>/dev/null || true
  userdel "$user"
  getent group "$user" >/dev/null && groupdel "$user" 2>/dev/null || true
fi
rmdir '/var/lib/mirrorsync' 2>/dev/null || true
rmdir '/etc/ssh/authorized_keys' 2>/dev/null || true
rmdir '/usr/local/lib/mirrorstack' 2>/dev/null || true
