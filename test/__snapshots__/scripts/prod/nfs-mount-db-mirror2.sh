set -euo pipefail
# fstab: 06ee72e7ccf61e9cda8d84478ddf6eae46c31155d0216d12619846060f3acd39
host='db-mirror2'
fail() { echo "[$host] $*" >&2; exit 1; }
mount_one() { # SOURCE TARGET
  install -d "$2"
  if mountpoint -q "$2"; then
    out=$(mount -o remount "$2" 2>&1) || fail "cannot remount $2 with its new options: $out"
  else
    out=$(mount "$2" 2>&1) || fail "cannot mount $1 on $2: $out"
  fi
  case "$(findmnt -n -o FSTYPE --target "$2")" in nfs|nfs4) ;; *) fail "$2 is not an NFS mount after mounting" ;; esac
}
mount_one '198.51.100.10:/srv/export/www' '/srv/www'
echo "[$host] mounted: /srv/www"
