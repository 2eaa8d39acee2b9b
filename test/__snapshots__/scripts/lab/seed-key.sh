set -euo pipefail
read -r token
case $token in ''|*[!0-9a-f]*) echo "seed-key: bad seed token" >&2; exit 2 ;; esac
umask 077
run='/run/mirrorstack-seed'; dir="$run/$token"
install -d -m 0700 "$run"
# A seed killed midway left its directory behind: any older than two hours goes.
find "$run" -mindepth 1 -maxdepth 1 -mmin +120 -exec rm -rf {} +
rm -rf "$dir"; mkdir "$dir"
ssh-keygen -q -t ed25519 -N '' -C "mirrorstack-seed-$token" -f "$dir/key" >/dev/null
cat "$dir/key.pub"
