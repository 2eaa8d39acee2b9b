set -euo pipefail
# files: 4b4e49dd2de5eae9881688638d7453803ea88b3721146b8f97a5508b5b5c6aa5
host='db-master'
fail() { echo "[$host] $*" >&2; exit 1; }
svc() { # svc NAME ACTION
  if [ -d /run/systemd/system ]; then
    if [ "$2" != status ]; then systemctl enable "$1" >/dev/null 2>&1 || true; fi
    systemctl "$2" "$1"
  else
    service "$1" "$2"
  fi
}
logs() {
  if [ -d /run/systemd/system ]; then journalctl -u "$1" -n 20 --no-pager 2>&1 || true; fi
}
mountpoint -q '/srv/export' || mount '/srv/export' || fail "cannot mount the export filesystem /srv/export (nfs.filesystem)"
for e in '/srv/export/www'; do
  [ -d "$e" ] || { install -d -m 0755 "$e"; echo "created the export directory $e (root, 0755)"; }
done
# The kernel's NFS server: without it nothing can serve the exports, whatever the files say.
grep -qw nfsd /proc/filesystems || modprobe nfsd >/dev/null 2>&1 || true
grep -qw nfsd /proc/filesystems ||
  fail "the NFS server cannot run: this kernel has no nfsd (no nfsd in /proc/filesystems; modprobe nfsd failed). The exports, TCP wrappers, idmapd and NFS server defaults are written and validated; nothing serves them until the kernel has an NFS server."
out=$(svc rpcbind restart 2>&1) || fail "rpcbind did not start: $out $(logs rpcbind)"
if [ -d /run/systemd/system ]; then
  out=$(svc nfs-idmapd restart 2>&1) || fail "nfs-idmapd did not start: $out $(logs nfs-idmapd)"
fi
out=$(svc nfs-kernel-server restart 2>&1) || fail "nfs-kernel-server did not start: $out $(logs nfs-kernel-server)"
out=$(exportfs -ra 2>&1) || fail "exportfs -ra failed: $out"
rpcinfo -p 127.0.0.1 2>/dev/null | grep -qw nfs || fail "nfs-kernel-server is not serving: nfs is not registered with rpcbind ($out)"
for e in '/srv/export/www'; do
  exportfs -s | awk '{print $1}' | grep -qxF "$e" || fail "$e is not exported (exportfs -s: $(exportfs -s | tr '\n' ' '))"
done
echo "[$host] NFS server running; exported: /srv/export/www"
