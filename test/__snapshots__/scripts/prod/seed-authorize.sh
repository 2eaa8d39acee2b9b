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
rm -rf "$dir"; mkdir "$dir"
cat > "$dir/receive"
# The lock is on ~/.ssh itself: seed-cleanup replaces the file, so a lock on the file would not hold.
# expiry-time is read in the host's own time zone: the date comes from the host's clock.
until=$(date -d '+60 min' +%Y%m%d%H%M)
ak="$HOME/.ssh/authorized_keys"
install -d -m 0700 "$HOME/.ssh"
[ -e "$ak" ] || install -m 0600 /dev/null "$ak"
(
  flock 9
  printf 'restrict,from="%s",expiry-time="%s",command="/bin/bash %s/receive" %s\n' "$from" "$until" "$dir" "$key" >> "$ak"
) 9<"$HOME/.ssh"
cat /etc/ssh/ssh_host_*_key.pub
