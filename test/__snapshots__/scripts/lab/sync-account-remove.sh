set -euo pipefail
user='mirrorsync'
if getent passwd "$user" | cut -d: -f5 | grep -qxF 'mirrorstack file sync (forced command, read-only)'; then
  usermod --expiredate 1 --shell /usr/sbin/nologin "$user"
  for _ in $(seq 50); do
    pkill -KILL -u "$user" 2>/dev/null || break
    sleep 0.2
  done
  if pgrep -u "$user" >/dev/null; then
    echo "account $user still has processes after 10 s: $(pgrep -u "$user" | tr '\n' ' ')" >&2
    exit 1
  fi
  userdel "$user"
  getent group "$user" >/dev/null && groupdel "$user" 2>/dev/null || true
fi
rmdir '/var/lib/mirrorsync' 2>/dev/null || true
rmdir '/etc/ssh/authorized_keys' 2>/dev/null || true
rmdir '/usr/local/lib/mirrorstack' 2>/dev/null || true
