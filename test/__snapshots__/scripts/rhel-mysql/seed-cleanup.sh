set -euo pipefail
read -r token
case $token in ''|*[!0-9a-f]*) echo "seed-cleanup: bad seed token" >&2; exit 2 ;; esac
rm -rf "/run/mirrorstack-seed/$token"
rmdir '/run/mirrorstack-seed' 2>/dev/null || true
ak="$HOME/.ssh/authorized_keys"
rewrite_authorized_keys() {
  (
    flock 9
    tmp=$(mktemp "$ak.XXXXXX")
    "$@" < "$ak" > "$tmp" || { rm -f "$tmp"; exit 1; }
    chown --reference="$ak" "$tmp"; chmod --reference="$ak" "$tmp"
    mv -f "$tmp" "$ak"
  ) 9<"$HOME/.ssh"
}
drop_this_seed() { grep -vF " mirrorstack-seed-$token" || true; }
if [ -f "$ak" ] && grep -qF " mirrorstack-seed-$token" "$ak"; then rewrite_authorized_keys drop_this_seed; fi
