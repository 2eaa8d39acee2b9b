set -uo pipefail
host='web-master'
exportfs -u '203.0.113.0/24:/data/exports/shop' 2>/dev/null || true
exportfs -u '[2001:db8:5::/64]:/data/exports/shop' 2>/dev/null || true
exportfs -u '*.example.org:/data/exports/shop' 2>/dev/null || true
echo "[$host] no longer exported: /data/exports/shop"
