#!/usr/bin/env bash
# Self-check of the kernel tier (lab/vm/vm.sh): boot master + mirror1, prove NFS between them, tear down.
#
#   bash lab/vm/smoke.sh          exit 0 only if every check passed; the VMs are down afterwards either way
#
# Not product code: it checks that the VMs' own kernel does what this machine's cannot (NFS server and
# client), through the same paths the product will use (apt via the lab proxy, ssh with pinned host keys).
# Env: MIRRORSTACK_VM_SUBNET (default 10.249.0); MIRRORSTACK_VM_KEEP=1 leaves the VMs up for a look.
# shellcheck disable=SC2016  # the single-quoted scripts run inside the VMs and expand there
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
VM=("bash" "$HERE/vm.sh")
SUBNET=${MIRRORSTACK_VM_SUBNET:-10.249.0}
MASTER=$SUBNET.10 MIRROR=$SUBNET.11

now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
step() { printf '== %s\n' "$*"; }
fail() { printf 'smoke: FAIL: %s\n' "$*" >&2; exit 1; }
on() { "${VM[@]}" exec "$@"; }   # on <vm> -- cmd...

# Never tear down VMs this run did not start.
[ "$("${VM[@]}" status 2>/dev/null | head -n1)" = "no VMs" ] || fail "VMs are already up (bash lab/vm/vm.sh status); not touching them"

started=0
finish() {
  local rc=$?
  if [ "$started" = 1 ] && [ "${MIRRORSTACK_VM_KEEP:-}" != 1 ]; then "${VM[@]}" down || rc=1; fi
  [ "$rc" = 0 ] && echo "smoke: PASS" || echo "smoke: FAIL (exit $rc)" >&2
  exit "$rc"
}
trap finish EXIT

T0=$(now)
step "image"
"${VM[@]}" image >/dev/null
T_IMAGE=$(since "$T0")

step "up (master $MASTER, mirror1 $MIRROR)"
t=$(now)
started=1
"${VM[@]}" up --subnet "$SUBNET" --names "master mirror1"
T_UP=$(since "$t")

step "install nfs-kernel-server on master, nfs-common on mirror1 (apt through the lab proxy)"
t=$(now)
install='apt-get update -q >/tmp/apt.log 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>/tmp/apt.log 2>&1 || { tail -n 20 /tmp/apt.log; exit 1; }'
on master -- sh -c "$install" sh nfs-kernel-server &
p1=$!
on mirror1 -- sh -c "$install" sh nfs-common &
p2=$!
wait "$p1" || fail "apt-get install nfs-kernel-server on master"
wait "$p2" || fail "apt-get install nfs-common on mirror1"
T_APT=$(since "$t")

t=$(now)
step "master: export /srv/ms-smoke read-only to mirror1 ($MIRROR) only"
on master -- sh -euc '
  mkdir -p /srv/ms-smoke
  echo "hello from $(hostname)" >/srv/ms-smoke/hello.txt
  chown daemon:daemon /srv/ms-smoke/hello.txt
  mkdir -p /etc/exports.d
  echo "/srv/ms-smoke '"$MIRROR"'(ro,sync,no_subtree_check)" >/etc/exports.d/ms-smoke.exports
  systemctl restart nfs-kernel-server
  exportfs -v
  for u in nfs-server rpcbind nfs-idmapd nfs-mountd; do printf "%s=%s " "$u" "$(systemctl is-active "$u" || true)"; done; echo
  for u in nfs-server rpcbind nfs-idmapd nfs-mountd; do systemctl is-active -q "$u"; done
  printf "nfsd versions: "; cat /proc/fs/nfsd/versions
' || fail "NFS server on master"

step "mirror1: NFSv4 and NFSv3 mounts read, writes refused by the server (mounted rw on purpose)"
on mirror1 -- sh -euc '
  mkdir -p /mnt/ms-smoke
  for opts in vers=4.2 vers=3; do
    mount -t nfs -o "rw,$opts" master:/srv/ms-smoke /mnt/ms-smoke
    findmnt -n -o SOURCE,FSTYPE,OPTIONS /mnt/ms-smoke | cut -c1-80
    grep -qx "hello from master" /mnt/ms-smoke/hello.txt
    owner=$(stat -c %U:%G /mnt/ms-smoke/hello.txt)
    [ "$owner" = daemon:daemon ] || { echo "owner seen as $owner (want daemon:daemon: id mapping)"; exit 1; }
    if err=$(touch /mnt/ms-smoke/written 2>&1); then echo "write was ALLOWED on $opts"; exit 1; fi
    case $err in *"Read-only file system"*) echo "  $opts: read ok, owner $owner, write refused: $err" ;; *) echo "unexpected: $err"; exit 1 ;; esac
    umount /mnt/ms-smoke
  done
  ! findmnt /mnt/ms-smoke >/dev/null
  printf "rpcbind=%s\n" "$(systemctl is-active rpcbind)"
' || fail "NFS client on mirror1"

step "master itself is not in the export list: its own mount must be refused"
if out=$(on master -- sh -c 'mkdir -p /mnt/self && timeout 60 mount -t nfs -o vers=4.2 '"$MASTER"':/srv/ms-smoke /mnt/self 2>&1'); then
  on master -- umount /mnt/self || true
  fail "master could mount an export meant for $MIRROR only"
fi
echo "  refused: $out"
T_NFS=$(since "$t")

step "systemd state"
for n in master mirror1; do
  st=$(on "$n" -- systemctl is-system-running || true)
  echo "  $n: $st"
  if [ "$st" != running ]; then on "$n" -- systemctl --failed --no-pager || true; fail "$n is $st"; fi
done

printf 'timings: image %s s (0 if cached), up to ssh %s s, apt installs %s s, nfs checks %s s, total %s s\n' \
  "$T_IMAGE" "$T_UP" "$T_APT" "$T_NFS" "$(since "$T0")"
