set -euo pipefail
host='mirror1' key='/root/.ssh/mirrorstack_sync'
umask 077
install -d -m 0700 "${key%/*}"
if [ ! -s "$key" ] || ! ssh-keygen -y -f "$key" >/dev/null 2>&1; then
  rm -f "$key" "$key.pub"
  ssh-keygen -q -t ed25519 -N '' -C "mirrorstack-sync@$host" -f "$key" >/dev/null
fi
chown root:root "$key"; chmod 0600 "$key"
pub="$(ssh-keygen -y -f "$key" | cut -d' ' -f1,2) mirrorstack-sync@$host"
printf '%s\n' "$pub" > "$key.pub"; chmod 0644 "$key.pub"


printf '%s\n' "$pub"
