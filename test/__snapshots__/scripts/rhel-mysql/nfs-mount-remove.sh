set -uo pipefail
host='web-a'
if mountpoint -q '/var/www/shop'; then umount '/var/www/shop' 2>/dev/null || umount -l '/var/www/shop'; fi
echo "[$host] unmounted: /var/www/shop"
