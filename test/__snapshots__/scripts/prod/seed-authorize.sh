set -euo pipefail
read -r token from
read -r key
case $token in ''|*[!0-9a-f]*) echo "seed-authorize: bad seed token" >&2; exit 2 ;; esac
case $from in ''|*[!0-9A-Za-z.:-]*) echo "seed-authorize: bad master address" >&2; exit 2 ;; esac
printf '%s\n' "$key" | grep -qxE "ssh-ed25519 [A-Za-z0-9+/]+=* mirrorstack-seed-$token" \
  || { echo "seed-authorize: not a seed key for this token" >&2; exit 2; }
# from= compares addresses (sshd looks no names up unless UseDNS): a master given by name is resolved here.
case $from in
  *:*) ;;
  *[!0-9.]*)
    addrs=$(getent ahosts "$from" | awk '{ print $1 }' | sort -u | paste -sd, -)
    [ -n "$addrs" ] || { echo "seed-authorize: cannot resolve the master's address $from" >&2; exit 2; }
    from=$addrs ;;
esac
umask 077
run='/run/mirrorstack-seed'; dir="$run/$token"
install -d -m 0700 "$run"
# A seed killed midway left its directory behind: any older than two hours goes.
find "$run" -mindepth 1 -maxdepth 1 -mmin +120 -exec rm -rf {} +
rm -rf "$dir"; mkdir "$dir"
cat > "$dir/receive"
# expiry-time is read in the host's own time zone: the dates come from the host's clock.
now=$(date +%Y%m%d%H%M)
until=$(date -d '+60 min' +%Y%m%d%H%M)
ak="$HOME/.ssh/authorized_keys"
install -d -m 0700 "$HOME/.ssh"
[ -e "$ak" ] || install -m 0600 /dev/null "$ak"
rewrite_authorized_keys() {
  (
    flock 9
    tmp=$(mktemp "$ak.XXXXXX")
    "$@" < "$ak" > "$tmp" || { rm -f "$tmp"; exit 1; }
    chown --reference="$ak" "$tmp"; chmod --reference="$ak" "$tmp"
    mv -f "$tmp" "$ak"
  ) 9<"$HOME/.ssh"
}
# Entries of earlier seeds that expired (a seed killed midway) are dropped on the way.
keep_live_and_add() {
  awk -v now="$now" '
    !/ mirrorstack-seed-[0-9a-f]+$/ { print; next }
    match($0, /expiry-time="[0-9]+"/) && substr($0, RSTART + 13, RLENGTH - 14) + 0 > now + 0 { print }
  '
  printf 'restrict,from="%s",expiry-time="%s",command="/bin/bash %s/receive" %s\n' "$from" "$until" "$dir" "$key"
}
rewrite_authorized_keys keep_live_and_add
cat /etc/ssh/ssh_host_*_key.pub
