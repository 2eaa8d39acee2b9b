set -euo pipefail
# keys: 48a53f0774c8ceff574a1fdcb0d470dbd382b3db273cff4344b6d39d5379c923
host='stg-db1' user='mirrorsync' keys='/etc/ssh/authorized_keys/mirrorsync' home='/var/lib/mirrorsync'
fail() { echo "[$host] $*" >&2; exit 1; }
sshd=$(command -v sshd || echo /usr/sbin/sshd)
mkdir -p /run/sshd
check_from() {
  local eff akf addr=$2
  # sshd -T needs an IP address; a mirror given by name is looked up the way this host resolves it.
  case "$addr" in *[!0-9A-Fa-f.:]*) addr=$(getent ahosts "$addr" | awk 'NR == 1 { print $1 }') ;; esac
  [ -n "$addr" ] || fail "cannot resolve the mirror address $2"
  eff=$("$sshd" -T -C "user=$user,host=$1,addr=$addr" 2>&1) || fail "sshd -T failed: $eff"
  akf=$(printf '%s\n' "$eff" | awk '$1 == "authorizedkeysfile" { $1 = ""; print }')
  case " $akf " in
    *" /etc/ssh/authorized_keys/%u "*) ;;
    *) fail "sshd does not read /etc/ssh/authorized_keys/%u for $user from $1 ($2) (effective AuthorizedKeysFile:$akf); an earlier AuthorizedKeysFile in sshd_config or a Match block wins over /etc/ssh/sshd_config.d/60-mirrorstack.conf" ;;
  esac
  # A here-string, not printf | grep -q: grep leaving at the first match can end printf with SIGPIPE, which
  # pipefail turns into a false "off" (sshd -T prints more than a pipe write).
  grep -qx 'pubkeyauthentication yes' <<<"$eff" ||
    fail "PubkeyAuthentication is off for $user from $1 ($(getent passwd "$user" >/dev/null && echo "account present" || echo "no account $user"); $(printf '%s\n' "$eff" | grep -E '^(pubkeyauthentication|authenticationmethods|usepam) ' | tr '\n' ' '))"
}
check_from 'stg-db2' '192.0.2.11'
check_from 'stg-db3' '192.0.2.12'
[ "$(stat -c '%U %a' "$keys")" = "root 644" ] || fail "$keys must be root-owned 0644 (is $(stat -c '%U %a' "$keys"))"
[ "$(stat -c '%U %a' '/etc/ssh/authorized_keys')" = "root 755" ] || fail "/etc/ssh/authorized_keys must be root-owned 0755"
for p in "$keys" '/etc/ssh/authorized_keys' "$home" '/usr/local/lib/mirrorstack/validate-rsync'; do
  if runuser -u "$user" -- test -w "$p"; then fail "the sync account $user can write $p"; fi
done
[ -x '/usr/local/lib/mirrorstack/validate-rsync' ] || fail "/usr/local/lib/mirrorstack/validate-rsync is not executable"
echo "[$host] sshd reads $keys for $user from stg-db2, stg-db3; the account cannot change it"
