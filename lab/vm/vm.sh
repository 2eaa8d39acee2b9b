#!/usr/bin/env bash
# mirrorstack lab, kernel tier: Debian 12 virtual machines under qemu (software emulation, TCG).
#
#   bash lab/vm/vm.sh image [--rebuild]                     build (or reuse) the VM disk image; prints its dir
#   bash lab/vm/vm.sh up [--subnet 10.249.0] [--names "master mirror1"]   boot one VM per name, wait for SSH
#   bash lab/vm/vm.sh exec <name> -- cmd...                 run a command in a VM (ssh, lab key, pinned host keys)
#   bash lab/vm/vm.sh status                                one line per VM; non-zero exit if any is unhealthy
#   bash lab/vm/vm.sh down                                  stop the VMs, remove taps, bridge, overlays, state
#
# Why VMs at all: the container lab (lab/lab.sh) shares this machine's kernel, which has no NFS client or
# server. Each VM here runs Debian's own kernel (linux-image-cloud-amd64), so kernel features (NFS, ...) are real.
# Why TCG and not KVM: /dev/kvm exists on these machines but guests hang under it; TCG boots in ~1 min.
#
# Design:
#  * image: mmdebstrap builds a Debian 12 root tree; `mke2fs -d` turns it into a raw ext4 file system image
#    (no partition table, no boot loader): qemu boots the tree's own kernel and initrd with -kernel/-initrd.
#    Cached in $MIRRORSTACK_CACHE/vm-images/<key>/, key = hash of the recipe section of this file.
#  * per-VM config (hostname, address, /etc/hosts, root's key, apt proxy) travels on the kernel command line
#    (ms.*=...), applied at every boot by a oneshot unit baked into the image: nothing per-VM is written into
#    a disk, so every VM is a qcow2 overlay over the one cached raw image, thrown away by `down`.
#  * host keys: made in the VM on its first boot; the unit also prints them on the serial console, which only
#    this machine reads, so known_hosts is pinned from a trusted channel (not trust-on-first-use).
#  * network: bridge msvm0 holds <subnet>.1/24; one tap per VM. The VMs have no default route and no DNS:
#    they reach the bridge only. apt in them goes through the HTTP proxy $MIRRORSTACK_VM_APT_PROXY; when unset,
#    `up` starts an apt-cacher-ng of its own on <subnet>.1:3142 that serves deb.debian.org's Debian only.
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SELF="$VM_DIR/vm.sh"
REPO_ROOT=$(dirname "$(dirname "$VM_DIR")")

MS_CACHE=${MIRRORSTACK_CACHE:-$HOME/.cache/mirrorstack}
IMAGES=$MS_CACHE/vm-images
APT_CACHE_DIR=$MS_CACHE/vm-apt-cache     # the built-in proxy's package cache; outlives the VMs
STATE=${MIRRORSTACK_VM_STATE:-/run/mirrorstack-vm}  # pids, overlays, console logs, proxy; removed by down
BRIDGE=msvm0
TAP_PREFIX=msvmt                          # tap of the VM at <subnet>.N: msvmtN
DEFAULT_SUBNET=10.249.0
DEFAULT_NAMES="master mirror1"
BOOT_TIMEOUT=${MIRRORSTACK_VM_BOOT_TIMEOUT:-300}
VM_MEM=${MIRRORSTACK_VM_MEM:-1024}
APT_PORT=3142

DOT=$REPO_ROOT/.lab-vm
PUBKEY_FILE=${MIRRORSTACK_VM_PUBKEY_FILE:-$DOT/id_ed25519.pub}
PRIVKEY_FILE=${PUBKEY_FILE%.pub}          # the private key beside it (needed by exec, status and up's wait)
KNOWN_HOSTS=$DOT/known_hosts
INVENTORY=$DOT/inventory.json
SSH_CONFIG=$DOT/ssh_config

log() { printf '%s\n' "$*"; }
die() { printf 'vm: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (bridge, taps, mmdebstrap)"; }
need_cmd() { # cmd package
  command -v "$1" >/dev/null || die "$1 is missing: apt-get install $2"
}

# >>> image recipe (everything from here to the end marker is hashed into the image key)
IMAGE_SUITE=bookworm
IMAGE_MIRROR=http://deb.debian.org/debian
IMAGE_SECURITY=http://deb.debian.org/debian-security
IMAGE_SIZE=8G   # sparse: the overlays grow only with what the product installs
# A small Debian server with its kernel, plus the packages mirrorstack's software step installs (the container
# lab's `prepared` list, read from infra/components/software.ts): under software emulation an apt-get install
# of MariaDB and the NFS server takes minutes, and what this tier proves is the kernel's part (NFS), not apt's
# (the container lab's bare hosts prove that).
# initramfs-tools: the kernel's initrd (virtio_blk and ext4 are modules in the cloud kernel).
IMAGE_PACKAGES=(linux-image-cloud-amd64 initramfs-tools systemd systemd-sysv udev dbus libpam-systemd
  openssh-server iproute2 apt procps less kmod ca-certificates netbase)
product_packages() { bash "$REPO_ROOT/lab/lab.sh" image-packages prepared; }

# Baked into the image: applies the ms.* kernel parameters at every boot, before the network and sshd.
guest_setup_script() {
  cat <<'EOF'
#!/bin/sh
# mirrorstack VM: per-VM settings from the kernel command line (written by lab/vm/vm.sh at `up`).
set -eu
name=$(cat /proc/sys/kernel/hostname) addr='' hosts='' key='' proxy=''
for w in $(cat /proc/cmdline); do
  case $w in
    systemd.hostname=*) name=${w#*=} ;;
    ms.addr=*) addr=${w#*=} ;;     # a.b.c.d/prefix
    ms.hosts=*) hosts=${w#*=} ;;   # name:addr,name:addr,...
    ms.key=*) key=${w#*=} ;;       # base64 of root's authorized_keys line
    ms.proxy=*) proxy=${w#*=} ;;   # apt's HTTP proxy
  esac
done
echo "$name" >/etc/hostname
hostname "$name"
{
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n'
  printf '%s\n' "$hosts" | tr ',' '\n' | while IFS=: read -r h a; do [ -n "$h" ] && printf '%s\t%s\n' "$a" "$h"; done
} >/etc/hosts
# Static address, no gateway: the VM reaches the lab bridge only.
mkdir -p /etc/systemd/network
cat >/etc/systemd/network/10-mirrorstack.network <<NET
[Match]
Type=ether

[Network]
Address=$addr
LinkLocalAddressing=no
IPv6AcceptRA=no
NET
install -d -m 700 /root/.ssh
if [ -n "$key" ]; then printf '%s\n' "$key" | base64 -d >/root/.ssh/authorized_keys; chmod 600 /root/.ssh/authorized_keys; fi
if [ -n "$proxy" ]; then
  printf 'Acquire::http::Proxy "%s";\nAcquire::Retries "3";\n' "$proxy" >/etc/apt/apt.conf.d/01mirrorstack-proxy
else
  rm -f /etc/apt/apt.conf.d/01mirrorstack-proxy
fi
# The image has no host keys: each VM makes its own on first boot, then shows them on the serial console,
# which only the machine running qemu reads (vm.sh pins known_hosts from there). Ed25519 and ECDSA only:
# an RSA key takes ~15 s to make under TCG (sshd_config.d/mirrorstack.conf lists these two HostKeys).
for t in ed25519 ecdsa; do
  [ -s /etc/ssh/ssh_host_${t}_key ] || ssh-keygen -q -t $t -N '' -C "root@$name" -f /etc/ssh/ssh_host_${t}_key
done
for f in /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ecdsa_key.pub; do
  printf '\nMSHOSTKEY %s\n' "$(cut -d' ' -f1,2 "$f")" >/dev/ttyS0
done
EOF
}

guest_setup_unit() {
  cat <<'EOF'
[Unit]
Description=mirrorstack VM: hostname, address, hosts, keys and apt proxy from the kernel command line
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Before=sysinit.target network-pre.target systemd-networkd.service ssh.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/mirrorstack-vm-setup

[Install]
WantedBy=sysinit.target
EOF
}

# Runs on the finished root tree (as root on this machine; chroot only for systemctl).
customize_tree() { # root
  local root=$1
  guest_setup_script >"$root/usr/local/sbin/mirrorstack-vm-setup"
  chmod 755 "$root/usr/local/sbin/mirrorstack-vm-setup"
  guest_setup_unit >"$root/etc/systemd/system/mirrorstack-vm-setup.service"
  cat >"$root/etc/ssh/sshd_config.d/mirrorstack.conf" <<'EOF'
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
  echo 'LANG=C.UTF-8' >"$root/etc/default/locale"
  # No translations: halves what `apt-get update` fetches (slow under TCG).
  echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/99mirrorstack-vm"
  printf 'LABEL=msroot\t/\text4\tdefaults,errors=remount-ro\t0\t0\n' >"$root/etc/fstab"
  # Each VM must be its own machine: no host keys, no machine id (systemd makes one at first boot).
  rm -f "$root"/etc/ssh/ssh_host_*
  : >"$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
  : >"$root/etc/resolv.conf"   # no DNS: apt names its archive to the proxy, which resolves it
  echo debian >"$root/etc/hostname"
  chroot "$root" systemctl -q enable mirrorstack-vm-setup.service systemd-networkd.service
  # Nothing may run apt or dpkg behind the product's back (lock errors), nor prompt on the console at first
  # boot (systemd-firstboot).
  chroot "$root" systemctl -q mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer fstrim.timer systemd-firstboot.service
}

# mmdebstrap --mode=root mounts proc, sys and devpts in the tree while it runs; should it die half-way, those
# must be unmounted before the tree is removed, and rm must never cross into a mount.
cleanup_build() { # tmp
  local m
  awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount "$m" || umount -l "$m" || true
  done
  rm -rf --one-file-system "$1"
}

build_image() { # dir
  local dir=$1 tmp
  tmp=$(mktemp -d "$IMAGES/.build.XXXXXX")
  chmod 755 "$tmp"
  # shellcheck disable=SC2064  # expand now: the trap must remove this build's tree
  trap "cleanup_build '$tmp'" EXIT
  mmdebstrap --mode=root --variant=apt --format=directory --aptopt='Acquire::Retries "3"' \
    --include="$(IFS=,; echo "${IMAGE_PACKAGES[*]}"),$(product_packages | tr ' ' ',')" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    "$IMAGE_SUITE" "$tmp/root" \
    "deb $IMAGE_MIRROR $IMAGE_SUITE main" "deb $IMAGE_MIRROR $IMAGE_SUITE-updates main" \
    "deb $IMAGE_SECURITY $IMAGE_SUITE-security main" >"$tmp/mmdebstrap.log" 2>&1 ||
    { cp "$tmp/mmdebstrap.log" "$IMAGES/failed-build.log"; tail -n 25 "$tmp/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $IMAGES/failed-build.log)"; }
  customize_tree "$tmp/root"
  cp -L "$tmp/root/vmlinuz" "$tmp/vmlinuz"
  cp -L "$tmp/root/initrd.img" "$tmp/initrd.img"
  # shellcheck disable=SC2016  # dpkg-query's own format, not shell
  chroot "$tmp/root" dpkg-query -W -f '${Package} ${Version}\n' >"$tmp/packages.txt"
  mke2fs -q -t ext4 -L msroot -d "$tmp/root" "$tmp/base.raw" "$IMAGE_SIZE" >/dev/null
  rm -rf "$tmp/root"
  mv "$tmp" "$dir"
  trap - EXIT
}
# <<< image recipe

image_key() {
  { sed -n '/^# >>> image recipe/,/^# <<< image recipe/p' "$SELF"; product_packages; } | sha256sum | cut -c1-16
}

# Prints the image directory (base.raw, vmlinuz, initrd.img, packages.txt).
ensure_image() { # [--rebuild]
  local dir start
  dir=$IMAGES/$(image_key)
  mkdir -p "$IMAGES"
  exec 8>"$IMAGES/.lock"
  flock -w 1800 8 || die "another image build holds $IMAGES/.lock"
  if [ "${1:-}" = --rebuild ] && [ -d "$dir" ]; then
    in_use "$dir" && die "image $dir is in use by running VMs; run down first"
    rm -rf "$dir"
  fi
  if [ ! -f "$dir/base.raw" ]; then
    need_cmd mmdebstrap mmdebstrap
    need_cmd mke2fs e2fsprogs
    start=$(now)
    log "building VM image $dir (mmdebstrap from $IMAGE_MIRROR) ..." >&2
    build_image "$dir"
    log "VM image built in $(elapsed "$start") s" >&2
    prune_images "$dir"
  fi
  exec 8>&-
  echo "$dir"
}

# Older images (another recipe) go, except one that running VMs still use as their backing file.
prune_images() { # keep
  local d
  for d in "$IMAGES"/*/; do
    d=${d%/}
    [ "$d" = "$1" ] || in_use "$d" || rm -rf "$d"
  done
}

in_use() { # image dir
  [ -f "$STATE/image" ] && [ "$(cat "$STATE/image")" = "$1" ] && [ -n "$(live_vms)" ]
}

# ---------------------------------------------------------------- state

# $STATE/vms: one line per VM: name role address mac tap
vm_names() { [ -f "$STATE/vms" ] && awk '{print $1}' "$STATE/vms"; return 0; }
vm_field() { # name field#
  awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$STATE/vms" 2>/dev/null
}

# The PID of a VM's qemu, only if that process still is this VM's qemu (PIDs get reused).
vm_pid() { # name
  local pid
  pid=$(cat "$STATE/$1/qemu.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "guest=mirrorstack-vm-$1," || return 1
  echo "$pid"
}
live_vms() { local n; for n in $(vm_names); do vm_pid "$n" >/dev/null && echo "$n"; done; return 0; }

acng_pid() {
  local pid
  pid=$(cat "$STATE/acng/pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/apt-cacher-ng ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$STATE/acng/conf" || return 1
  echo "$pid"
}

stop_pid() { # pid: TERM, then KILL after 10 s; waits until it is gone
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

ssh_opts() { # known_hosts file
  printf '%s\n' -i "$PRIVKEY_FILE" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o "UserKnownHostsFile=$1" -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR
}

# ---------------------------------------------------------------- commands

cmd_image() {
  need_root
  local rebuild=''
  [ "${1:-}" = --rebuild ] && rebuild=--rebuild
  ensure_image $rebuild
}

valid_subnet() {
  local IFS=. a b c
  [[ $1 =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || return 1
  read -r a b c <<<"$1"
  ((a <= 255 && b <= 255 && c <= 255))
}

host_octet() { # name -> last octet of its address
  case $1 in
    master) echo 10 ;;
    mirror*) echo $((10 + ${1#mirror})) ;;
  esac
}

ensure_key() {
  if [ -z "${MIRRORSTACK_VM_PUBKEY_FILE:-}" ] && [ ! -f "$PUBKEY_FILE" ]; then
    mkdir -p "$DOT"
    ssh-keygen -q -t ed25519 -N '' -C mirrorstack-lab-vm -f "$PRIVKEY_FILE"
  fi
  [ -r "$PUBKEY_FILE" ] || die "public key $PUBKEY_FILE not found"
  [ -r "$PRIVKEY_FILE" ] || die "private key $PRIVKEY_FILE (beside $PUBKEY_FILE) not found"
}

# Our own apt-cacher-ng on the bridge address, with a configuration of its own: the distribution's default
# one remaps Debian to a mirror list this network cannot reach ("503 Host not found"). ForceManaged + the
# two Remap lines: it serves Debian and Debian security from deb.debian.org and refuses any other site.
start_acng() { # subnet
  local i
  need_cmd apt-cacher-ng apt-cacher-ng
  mkdir -p "$STATE/acng/conf" "$STATE/acng/log" "$APT_CACHE_DIR"
  cat >"$STATE/acng/conf/acng.conf" <<EOF
CacheDir: $APT_CACHE_DIR
LogDir: $STATE/acng/log
SupportDir: /usr/lib/apt-cacher-ng
Port: $APT_PORT
BindAddress: $1.1
PidFile: $STATE/acng/pid
SocketPath: $STATE/acng/socket
ForeGround: 1
Remap-debrep: deb.debian.org/debian ; http://deb.debian.org/debian
Remap-secdeb: deb.debian.org/debian-security ; http://deb.debian.org/debian-security
ForceManaged: 1
ExThreshold: 30
EOF
  setsid apt-cacher-ng -c "$STATE/acng/conf" </dev/null >>"$STATE/acng/log/daemon.out" 2>&1 8<&- 9<&- &
  for ((i = 0; i < 100; i++)); do
    acng_pid >/dev/null && (exec 6<>"/dev/tcp/$1.1/$APT_PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  die "apt-cacher-ng did not start; see $STATE/acng/log/daemon.out"
}

cmd_up() {
  need_root
  local subnet=$DEFAULT_SUBNET names=$DEFAULT_NAMES n o proxy img start t0 seen addr mac tap cmdline hosts=''
  while [ $# -gt 0 ]; do
    case $1 in
      --subnet) subnet=${2:?}; shift 2 ;;
      --names) names=${2:?}; shift 2 ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
  valid_subnet "$subnet" || die "--subnet wants three octets, e.g. 10.249.0"
  # shellcheck disable=SC2086  # a list of names
  set -- $names
  [ $# -ge 1 ] || die "--names is empty"
  seen=' '
  for n in "$@"; do
    [[ $n =~ ^(master|mirror([1-9][0-9]?))$ ]] || die "VM names are master or mirrorN (N 1..99): $n"
    o=$(host_octet "$n")
    ((o <= 254)) || die "$n: address out of range"
    [[ $seen == *" $n "* ]] && die "duplicate name $n"
    seen+="$n "
    hosts+="${hosts:+,}$n:$subnet.$o"
  done
  need_cmd qemu-system-x86_64 qemu-system-x86
  need_cmd qemu-img qemu-utils
  need_cmd ssh-keygen openssh-client

  exec 9>/run/mirrorstack-vm.lock
  flock -w 60 9 || die "another vm.sh holds /run/mirrorstack-vm.lock"
  [ -z "$(live_vms)" ] || die "VMs are already up ($(live_vms | xargs)); run: bash lab/vm/vm.sh down"
  [ ! -e "$STATE/vms" ] || die "$STATE holds a half-made run; run: bash lab/vm/vm.sh down"
  # The subnet must be free: nothing else on this machine may hold or route it.
  if ip -4 -o addr show | awk '{print $2, $4}' | grep -v "^$BRIDGE " | grep -q " $subnet\."; then
    die "$subnet.0/24 is already used on this machine: $(ip -4 -o addr show | grep " $subnet\." | awk '{print $2, $4}' | xargs)"
  fi

  img=$(ensure_image)
  ensure_key
  mkdir -p "$STATE" "$DOT"
  echo "$img" >"$STATE/image"
  echo "$subnet" >"$STATE/subnet"

  # Network: one bridge holding <subnet>.1, a tap per VM. No forwarding, so the VMs reach only the bridge.
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    echo 1 >"$STATE/bridge-made"
  fi
  ip addr replace "$subnet.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up

  if [ -n "${MIRRORSTACK_VM_APT_PROXY:-}" ]; then
    proxy=$MIRRORSTACK_VM_APT_PROXY
  else
    start_acng "$subnet"
    proxy=http://$subnet.1:$APT_PORT
  fi

  start=$(now)
  : >"$STATE/vms.tmp"
  for n in "$@"; do
    o=$(host_octet "$n")
    addr=$subnet.$o
    # A fixed MAC per address: a VM remade at the same address never leaves stale neighbour entries.
    # shellcheck disable=SC2086  # split the address on dots
    mac=$(IFS=.; set -- $addr; printf '52:54:%02x:%02x:%02x:%02x' "$1" "$2" "$3" "$4")
    tap=$TAP_PREFIX$o
    printf '%s %s %s %s %s\n' "$n" "$([ "$n" = master ] && echo master || echo mirror)" "$addr" "$mac" "$tap" >>"$STATE/vms.tmp"
  done
  mv "$STATE/vms.tmp" "$STATE/vms"

  for n in "$@"; do
    addr=$(vm_field "$n" 3) mac=$(vm_field "$n" 4) tap=$(vm_field "$n" 5)
    mkdir -p "$STATE/$n"
    ip link del "$tap" 2>/dev/null || true
    ip tuntap add dev "$tap" mode tap
    ip link set "$tap" master "$BRIDGE" up
    qemu-img create -q -f qcow2 -b "$img/base.raw" -F raw "$STATE/$n/disk.qcow2"
    cmdline="root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1 systemd.hostname=$n"
    cmdline+=" ms.addr=$addr/24 ms.hosts=$hosts ms.key=$(base64 -w0 <"$PUBKEY_FILE") ms.proxy=$proxy"
    # -daemonize: qemu detaches (own session) and writes its PID; VMs boot in parallel.
    # cache=unsafe: the overlay is thrown away at down, so never wait for flushes.
    # -no-reboot + panic=-1: a guest that panics or reboots ends its qemu, which `up` notices at once.
    qemu-system-x86_64 -name "guest=mirrorstack-vm-$n,process=msvm-$n" \
      -accel tcg -machine pc -cpu max -m "$VM_MEM" -smp 1 \
      -nodefaults -display none -vga none -no-reboot \
      -kernel "$img/vmlinuz" -initrd "$img/initrd.img" -append "$cmdline" \
      -drive "file=$STATE/$n/disk.qcow2,format=qcow2,if=virtio,cache=unsafe,discard=unmap" \
      -nic "tap,ifname=$tap,script=no,downscript=no,model=virtio-net-pci,mac=$mac" \
      -device virtio-rng-pci \
      -serial "file:$STATE/$n/console.log" \
      -daemonize -pidfile "$STATE/$n/qemu.pid" 8<&- 9<&-
  done
  log "booting $* (TCG; about a minute) ..."

  # Wait for each VM's host keys on its console, then for ssh with those keys pinned.
  local -A ok=()
  t0=$(date +%s)
  while :; do
    local pending=0 keys
    for n in "$@"; do
      [ -n "${ok[$n]:-}" ] && continue
      pending=1
      vm_pid "$n" >/dev/null || { tail -n 40 "$STATE/$n/console.log" >&2; die "$n: qemu exited (console above)"; }
      keys=$(grep -ao 'MSHOSTKEY [a-z0-9-]* [A-Za-z0-9+/=]*' "$STATE/$n/console.log" | sort -u | cut -d' ' -f2,3) || continue
      addr=$(vm_field "$n" 3)
      printf '%s\n' "$keys" | sed "s/^/$addr,$n /" >"$STATE/$n/known_hosts"
      # shellcheck disable=SC2046  # option list
      if ssh $(ssh_opts "$STATE/$n/known_hosts") "root@$addr" true </dev/null 2>/dev/null; then
        ok[$n]=1
        log "  $n ($addr) answers ssh after $(elapsed "$start") s"
      fi
    done
    [ "$pending" = 1 ] || break
    (($(date +%s) - t0 < BOOT_TIMEOUT)) || die "VMs not answering ssh after $BOOT_TIMEOUT s; consoles: $STATE/<name>/console.log"
    sleep 2
  done

  for n in "$@"; do cat "$STATE/$n/known_hosts"; done >"$KNOWN_HOSTS"
  write_inventory "$subnet" "$@"
  log "up: $* in $(elapsed "$start") s; inventory $INVENTORY; apt proxy $proxy"
}

json_str() { # JSON string literal
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

write_inventory() { # subnet names...
  local subnet=$1 n first=1
  shift
  {
    printf '{\n  "kind": "vm",\n  "subnet": "%s.0/24",\n  "bridge": "%s",\n  "gateway": "%s.1",\n  "hosts": [' "$subnet" "$BRIDGE" "$subnet"
    for n in "$@"; do
      ((first)) || printf ','
      first=0
      printf '\n    {"name": "%s", "role": "%s", "address": "%s"}' "$n" "$(vm_field "$n" 2)" "$(vm_field "$n" 3)"
    done
    printf '\n  ],\n  "user": "root",\n  "port": 22,\n  "privateKeyPath": %s,\n  "knownHostsPath": %s\n}\n' \
      "$(json_str "$PRIVKEY_FILE")" "$(json_str "$KNOWN_HOSTS")"
  } >"$INVENTORY"
  {
    echo "# mirrorstack lab VMs (written by lab/vm/vm.sh)"
    for n in "$@"; do printf 'Host %s\n  HostName %s\n' "$n" "$(vm_field "$n" 3)"; done
    printf 'Host *\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n' \
      "$PRIVKEY_FILE" "$KNOWN_HOSTS"
  } >"$SSH_CONFIG"
}

cmd_exec() {
  local n=${1:-} addr
  [ -n "$n" ] || die "usage: vm.sh exec <name> -- cmd..."
  shift
  [ "${1:-}" = -- ] && shift
  [ $# -ge 1 ] || die "usage: vm.sh exec <name> -- cmd..."
  addr=$(vm_field "$n" 3)
  [ -n "$addr" ] || die "no VM named $n (is the lab up?)"
  # ssh joins its arguments into one shell line; quote each so the remote side sees the same argv.
  # shellcheck disable=SC2046  # option list
  exec ssh $(ssh_opts "$KNOWN_HOSTS") "root@$addr" -- "$(printf '%q ' "$@")"
}

cmd_status() {
  local n pid sshok rc=0
  if [ -z "$(vm_names)" ]; then log "no VMs"; return 0; fi
  printf '%-10s %-14s %-8s %-8s %s\n' NAME ADDRESS PID QEMU SSH
  for n in $(vm_names); do
    if pid=$(vm_pid "$n"); then
      # shellcheck disable=SC2046  # option list
      if ssh $(ssh_opts "$KNOWN_HOSTS") "root@$(vm_field "$n" 3)" true </dev/null 2>/dev/null; then sshok=ok; else sshok=FAIL; rc=1; fi
      printf '%-10s %-14s %-8s %-8s %s\n' "$n" "$(vm_field "$n" 3)" "$pid" running "$sshok"
    else
      printf '%-10s %-14s %-8s %-8s %s\n' "$n" "$(vm_field "$n" 3)" - DEAD -
      rc=1
    fi
  done
  if pid=$(acng_pid); then log "apt proxy: apt-cacher-ng pid $pid on $(cat "$STATE/subnet").1:$APT_PORT"; fi
  return "$rc"
}

cmd_down() {
  need_root
  local n pid tap
  exec 9>/run/mirrorstack-vm.lock
  flock -w 60 9 || die "another vm.sh holds /run/mirrorstack-vm.lock"
  for n in $(vm_names); do
    if pid=$(vm_pid "$n"); then stop_pid "$pid"; fi
  done
  if pid=$(acng_pid); then stop_pid "$pid"; fi
  for n in $(vm_names); do
    tap=$(vm_field "$n" 5)
    if [ -n "$tap" ]; then ip link del "$tap" 2>/dev/null || true; fi
  done
  # Taps of a run whose state was lost half-way: only our prefix, only on our bridge's name space.
  for tap in $(ip -o tuntap show 2>/dev/null | cut -d: -f1 | grep -E "^${TAP_PREFIX}[0-9]+$" || true); do
    ip link del "$tap" || true
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  rm -rf "$STATE"
  rm -f "$KNOWN_HOSTS" "$INVENTORY" "$SSH_CONFIG"
  log "down: VMs stopped; bridge, taps, overlays and state removed (image cache kept in $IMAGES)"
}

usage() { sed -n '2,8p' "$SELF" | sed 's/^# \{0,1\}//'; exit 2; }

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case $cmd in
    image) cmd_image "$@" ;;
    up) cmd_up "$@" ;;
    exec) cmd_exec "$@" ;;
    status) cmd_status "$@" ;;
    down) cmd_down "$@" ;;
    *) usage ;;
  esac
}

main "$@"
