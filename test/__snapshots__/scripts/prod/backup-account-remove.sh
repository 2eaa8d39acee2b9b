set -euo pipefail
user='mirrorbackup' dir='/srv/backups/mirrorstack-prod'
[ -d "$dir" ] && [ ! -L "$dir" ] && chown -R root:root "$dir" || true
if getent passwd "$user" | cut -d: -f5 | grep -qxF 'mirrorstack backup receiver (forced command, store only)'; then
  pkill -KILL -u "$user" 2>/dev/null || true
  userdel "$user"
  getent group "$user" >/dev/null && groupdel "$user" 2>/dev/null || true
fi
rmdir '/var/lib/mirrorbackup' 2>/dev/null || true
