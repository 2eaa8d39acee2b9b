set -uo pipefail
host='db-mirror1'
if mountpoint -q '/srv/www'; then umount '/srv/www' 2>/dev/null || umount -l '/srv/www'; fi
echo "[$host] unmounted: /srv/www"
