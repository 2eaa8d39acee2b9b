set -euo pipefail
sshd=$(command -v sshd || echo /usr/sbin/sshd)
mkdir -p /run/sshd
keys=$("$sshd" -T 2>/dev/null | awk '$1 == "hostkey" { print $2 }') || true
[ -n "$keys" ] || keys=$(ls /etc/ssh/ssh_host_*_key)
for k in $keys; do
  [ -r "$k" ] || continue
  ssh-keygen -y -f "$k" | cut -d' ' -f1,2
done | sort -u
