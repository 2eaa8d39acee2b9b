set -uo pipefail
host='db-master'
exportfs -u '198.51.100.21:/srv/export/www' 2>/dev/null || true
exportfs -u '198.51.100.22:/srv/export/www' 2>/dev/null || true
exportfs -u '[2001:db8:100::23]:/srv/export/www' 2>/dev/null || true
echo "[$host] no longer exported: /srv/export/www"
