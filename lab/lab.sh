#!/usr/bin/env bash
# mirrorstack local lab: a master and N mirror hosts made on this machine, each a real Debian 12 server.
#
#   bash lab/lab.sh up [--mirrors N] [--image bare|prepared]   make / repair the lab (idempotent)
#   bash lab/lab.sh status                  table of hosts; non-zero exit if any is unhealthy
#   bash lab/lab.sh down                    remove everything the lab made (keeps .lab/id_ed25519 and the caches)
#   bash lab/lab.sh exec <host> -- cmd...   run a command inside a host (its root fs, hostname, network, PID 1)
#   bash lab/lab.sh image bare|prepared     build (or find) a host image; prints its root directory
#   bash lab/lab.sh image-run FLAVOUR [--bind /tmp/DIR] -- cmd...   one command in an image (no boot, read-only)
#   bash lab/lab.sh packages                install what the machine needs to run labs (not the servers)
#
# Design (details next to the code below):
#  * images: a Debian 12 root built by mmdebstrap from Debian's packages, cached outside the repo in
#    $MS_CACHE/lab-images/<flavour>-<key> (key = hash of the package list and this recipe). `bare` is a freshly
#    installed server (systemd, openssh-server, iproute2, apt); `prepared` adds the packages mirrorstack's
#    software step installs (taken from infra/components/software.ts, so it cannot drift).
#  * hosts: each boots its image with systemd as PID 1 in a systemd-nspawn container, inside its own network
#    namespace (mslab-<host>) wired to the bridge mslab0 by a veth pair. Its root is an overlay: the image as
#    the read-only lower layer, writes in /var/lib/mirrorstack-lab/hosts/<host>. Never over the machine's /.
#  * packages: the hosts have no route anywhere. apt inside them goes through an HTTP proxy at <subnet>.1:3142,
#    a socat relay (one per lab) to one apt-cacher-ng on 127.0.0.1 shared by every lab on this machine, whose
#    cache outlives the labs. So a fresh host really runs `apt-get install`, from Debian's packages.
#  * `down` kills each container's PID 1 (and with it its pid namespace), the relay, and the shared cache
#    daemon when no lab is left; then unmounts and removes everything it made.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(dirname "$LAB_DIR")
SELF="$LAB_DIR/lab.sh"

# MIRRORSTACK_LAB_ID (a-z, 0-9; empty by default) names a second, independent lab beside the default one:
# its namespaces, bridge, state, .lab dir, stack file and default subnet all carry the id.
LAB_ID=${MIRRORSTACK_LAB_ID:-}
[[ $LAB_ID =~ ^[a-z0-9]{0,3}$ ]] || { echo "lab: MIRRORSTACK_LAB_ID must be 0-3 of a-z, 0-9" >&2; exit 2; }
STATE=/run/mirrorstack-lab${LAB_ID:+-$LAB_ID}     # pid files, logs, lab.env
DISK=/var/lib/mirrorstack-lab${LAB_ID:+-$LAB_ID}  # hosts' writable layers (databases can be large)
BRIDGE=mslab0$LAB_ID
NS_PREFIX=mslab$LAB_ID-             # network namespace of host X: mslab-X
VETH_PREFIX=mslv$LAB_ID-            # machine side of host X's veth: mslv-X
if [ -n "$LAB_ID" ]; then DEFAULT_SUBNET=10.250.$((1 + $(printf '%s' "$LAB_ID" | cksum | cut -d' ' -f1) % 200)); else DEFAULT_SUBNET=10.250.0; fi
MAX_MIRRORS=30

MS_CACHE=${MIRRORSTACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrorstack}
IMAGES=$MS_CACHE/lab-images
APT_CACHE=$MS_CACHE/apt-cacher-ng           # the shared package cache and its daemon's state
APT_PORT=${MIRRORSTACK_APT_CACHE_PORT:-3142}
DEBIAN_SUITE=bookworm

LAB_DOT=.lab${LAB_ID:+-$LAB_ID}
DOT_LAB="$REPO_ROOT/$LAB_DOT"
KEY="$DOT_LAB/id_ed25519"
KNOWN_HOSTS="$DOT_LAB/known_hosts"
INVENTORY="$DOT_LAB/inventory.json"
SSH_CONFIG="$DOT_LAB/ssh_config"
STACK_FILE="$REPO_ROOT/stacks/Pulumi.lab${LAB_ID:+-$LAB_ID}.yaml"

# Relative forms written into the stack file (Pulumi runs from the repo root).
KEY_REL=$LAB_DOT/id_ed25519
KNOWN_HOSTS_REL=$LAB_DOT/known_hosts

# What the machine itself needs to run labs (containers, and the kernel tier's virtual machines: qemu, mke2fs)
# and the tests' clients. No server: those live in the images.
MACHINE_PACKAGES=(iproute2 util-linux procps psmisc openssh-client mmdebstrap systemd-container
  apt-cacher-ng socat rsync gnupg zstd shellcheck qemu-system-x86 qemu-utils e2fsprogs tcpdump)

# A freshly installed Debian server: what `bare` hosts have. Nothing mirrorstack installs itself.
BARE_PACKAGES=(systemd systemd-sysv dbus libpam-systemd openssh-server iproute2 procps less ca-certificates)

# Environment of every command run inside a host: clean, like a login would give.
HOST_ENV=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root USER=root
  LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8 "TERM=${TERM:-dumb}")

log() { printf '%s\n' "$*"; }
warn() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (it creates network namespaces, mounts and containers); try: sudo bash lab/lab.sh $*"
}

# up/down/status serialise on a lock held on this script file itself, so no lock file is left
# behind. Everything started from a locked command must not inherit fd 9 (see `9<&-` below),
# or a long-lived daemon would hold the lock forever.
take_lock() { # exclusive|shared
  exec 9<"$SELF"
  if [ "$1" = shared ]; then flock -s -w 900 9; else flock -w 900 9; fi ||
    die "another lab.sh up/down is still running"
}

# ---------------------------------------------------------------- naming and addressing

ns_of() { printf '%s%s' "$NS_PREFIX" "$1"; }
veth_of() { printf '%s%s' "$VETH_PREFIX" "$1"; }
hostdir_of() { printf '%s/hosts/%s' "$STATE" "$1"; }
diskdir_of() { printf '%s/hosts/%s' "$DISK" "$1"; }

host_octet() {
  case "$1" in
    master) echo 10 ;;
    mirror[1-9]|mirror[1-9][0-9]) echo $((10 + ${1#mirror})) ;;
    *) return 1 ;;
  esac
}
host_addr() { printf '%s.%s' "$SUBNET" "$(host_octet "$1")"; }

# Fixed MAC per address (02:6d:<the 4 address bytes>): a rebuilt host, or the bridge after its
# ports changed, keeps its MAC, so no neighbour cache anywhere in the lab goes stale (a stale
# entry stalls new connections for several seconds).
mac_of() {
  local IFS=. a b c d
  read -r a b c d <<<"$1"
  printf '02:6d:%02x:%02x:%02x:%02x' "$a" "$b" "$c" "$d"
}
role_of() { [ "$1" = master ] && echo master || echo mirror; }

host_names() { # N -> master mirror1 .. mirrorN
  local i
  echo master
  for ((i = 1; i <= $1; i++)); do echo "mirror$i"; done
}

valid_subnet() {
  local IFS=. a b c
  [[ $1 =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || return 1
  read -r a b c <<<"$1"
  ((a >= 1 && a <= 223 && b <= 255 && c <= 255))
}

# The lab that is currently made, as recorded by the last `up` (empty when there is none).
load_lab_state() {
  LAB_SUBNET='' LAB_MIRRORS='' LAB_IMAGE=''
  local k v
  [ -r "$STATE/lab.env" ] || return 0
  while IFS='=' read -r k v; do
    case "$k" in
      SUBNET) LAB_SUBNET=$v ;;
      MIRRORS) LAB_MIRRORS=$v ;;
      IMAGE) LAB_IMAGE=$v ;;
    esac
  done <"$STATE/lab.env"
}

# ---------------------------------------------------------------- images

# Packages of the `prepared` image: every package the product's software step can install on Debian, read from
# infra/components/software.ts itself (one home for that list).
prepared_packages() {
  [ -d "$REPO_ROOT/node_modules/tsx" ] || die "node_modules is missing: run 'npm run setup' first"
  (cd "$REPO_ROOT" && node --import tsx -e '
    const { softwareFor } = require("./infra/components/software.ts");
    const all = new Set();
    for (const role of ["master", "mirror"]) for (const m of ["rsync-ssh", "nfs", "none"]) for (const web of [undefined, "apache", "nginx"])
      for (const p of softwareFor(role, "debian", "mariadb", m, web).packages) all.add(p);
    console.log([...all].sort().join(" "));')
}

image_packages() { # flavour -> package list, one line
  case "$1" in
    bare) echo "${BARE_PACKAGES[*]}" ;;
    prepared) echo "${BARE_PACKAGES[*]} $(prepared_packages)" ;;
    *) die "unknown image flavour '$1' (bare or prepared)" ;;
  esac
}

# Run inside the new root by mmdebstrap (customize hook): what every lab image needs and a real installed
# server would not have from the installer: no host keys (each host makes its own at first boot), an empty
# machine-id (systemd makes one per container), and no service start during later image builds.
image_customize() {
  cat <<'EOF'
set -eu
root=$1
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# A container has no console login to offer anyone: keep the boot log quiet and fast.
ln -sf /dev/null "$root/etc/systemd/system/console-getty.service"
EOF
  # The prepared image carries the web servers for the web role (and the readers' tests); on a host they start
  # only when mirrorstack's software step enables them (apache2 and nginx would both want port 80).
  [ "${1:-}" = prepared ] && cat <<'EOF'
rm -f "$root"/etc/systemd/system/multi-user.target.wants/apache2.service \
  "$root"/etc/systemd/system/multi-user.target.wants/nginx.service \
  "$root"/etc/systemd/system/multi-user.target.wants/php*-fpm.service
EOF
  return 0
}

image_key() { # flavour -> cache key
  { echo "$DEBIAN_SUITE"; image_packages "$1"; image_customize "$1"; echo recipe-2; } | sha256sum | cut -c1-12
}

image_dir() { printf '%s/%s-%s' "$IMAGES" "$1" "$(image_key "$1")"; }

# Build the image once; later calls only find it. Prints its root directory.
ensure_image() {
  local flavour=$1 dir tmp pkgs t0 hook
  dir=$(image_dir "$flavour")
  if [ -e "$dir/.complete" ]; then printf '%s/root\n' "$dir"; return 0; fi
  need_root image
  command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed: run 'bash lab/lab.sh packages' (or npm run setup)"
  mkdir -p "$IMAGES"
  exec 8>"$IMAGES/.build.lock"
  flock -w 1800 8 || die "another image build is still running"
  if [ -e "$dir/.complete" ]; then exec 8>&-; printf '%s/root\n' "$dir"; return 0; fi
  pkgs=$(image_packages "$flavour")
  t0=$(date +%s.%N)
  log "building the '$flavour' lab image with mmdebstrap (Debian 12; first time about a minute): $pkgs" >&2
  tmp="$dir.tmp"
  # A build killed midway leaves mmdebstrap's mounts (proc, sys, dev/pts, dev/shm) in its root: unmount them first,
  # or rm -rf walks into them and the new build finds a root that is not empty.
  findmnt -rn -o TARGET | awk -v p="$tmp/" 'index($0, p) == 1' | sort -r | while read -r m; do umount -n -l "$m"; done
  rm -rf "$tmp" && mkdir -p "$tmp"
  hook=$(mktemp) && image_customize "$flavour" >"$hook"
  if ! mmdebstrap --quiet --variant=minbase --include="${pkgs// /,}" \
    --customize-hook="sh $hook \"\$1\"" \
    "$DEBIAN_SUITE" "$tmp/root" \
    "deb http://deb.debian.org/debian $DEBIAN_SUITE main" \
    "deb http://deb.debian.org/debian $DEBIAN_SUITE-updates main" \
    "deb http://deb.debian.org/debian-security $DEBIAN_SUITE-security main" >"$tmp/build.log" 2>&1; then
    rm -f "$hook"
    tail -n 30 "$tmp/build.log" >&2
    die "building the '$flavour' image failed (log: $tmp/build.log)"
  fi
  rm -f "$hook"
  printf '%s\n' "$pkgs" >"$tmp/packages"
  touch "$tmp/.complete"
  rm -rf "$dir" && mv "$tmp" "$dir"
  # Older images of this flavour (another package list or recipe) are not used any more.
  find "$IMAGES" -mindepth 1 -maxdepth 1 -name "$flavour-*" ! -path "$dir" -exec rm -rf {} + 2>/dev/null || true
  exec 8>&-
  log "image '$flavour' ready in $(elapsed "$t0")s: $dir/root" >&2
  printf '%s/root\n' "$dir"
}

# One command in an image, without booting it: read-only root, fresh /tmp and /run (directories given with --bind,
# which must live under /tmp, appear at the same path; --tmpfs DIR makes an empty writable DIR of the image), the
# machine's /dev and network. Used by the tests to run real
# readers (mariadbd, sshd -t, logrotate -d, findmnt, my_print_defaults) that the machine itself does not have.
# A private mount namespace and chroot rather than systemd-nspawn: a reader call takes milliseconds, not a
# second, and nothing it mounts outlives it.
cmd_image_run() {
  local flavour=${1:-} root binds=() tmpfs=()
  [ -n "$flavour" ] || die "usage: lab.sh image-run bare|prepared|IMAGE-ROOT [--bind /tmp/DIR]... -- cmd..."
  shift
  while (($#)); do
    case "$1" in
      --bind) [[ ${2:-} == /tmp/?* ]] || die "image-run: --bind takes a directory under /tmp (got '${2:-}')"
        binds+=("$2"); shift 2 ;;
      --tmpfs) [[ ${2:-} == /?* ]] || die "image-run: --tmpfs takes an absolute directory of the image"
        tmpfs+=("$2"); shift 2 ;;
      --) shift; break ;;
      *) break ;;
    esac
  done
  (($#)) || die "image-run: no command"
  need_root image-run
  # A root printed by `lab.sh image` may be given instead of a flavour (saves working out the image key).
  if [[ $flavour == /* ]]; then
    [ -e "$(dirname "$flavour")/.complete" ] || die "image-run: $flavour is not a lab image root"
    root=$flavour
  else
    root=$(ensure_image "$flavour")
  fi
  # shellcheck disable=SC2016 # the script is expanded by the inner bash
  exec unshare --mount --propagation private -- /bin/bash -c '
    set -e
    root=$1; shift; nb=$1; shift
    binds=("${@:1:$nb}"); shift "$nb"
    nt=$1; shift
    tmpfs=("${@:1:$nt}"); shift "$nt"
    mount --bind "$root" "$root" && mount -o remount,bind,ro "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    mount -t tmpfs -o mode=755 tmpfs "$root/run"
    for t in "${tmpfs[@]}"; do mount -t tmpfs -o mode=755 tmpfs "$root$t"; done
    for b in "${binds[@]}"; do mkdir -p "$root$b" && mount --bind "$b" "$root$b"; done
    exec chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root LANG=C.UTF-8 "$@"' image-run "$root" "${#binds[@]}" "${binds[@]}" "${#tmpfs[@]}" "${tmpfs[@]}" "$@" 9<&-
}

# ---------------------------------------------------------------- the package cache (shared by every lab)

acng_pid() {
  local pid
  pid=$(cat "$APT_CACHE/run/pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/apt-cacher-ng ] || return 1
  echo "$pid"
}

# apt-cacher-ng on 127.0.0.1 with a configuration of its own: the distribution's default one remaps Debian to
# a list of mirrors, which this network cannot reach ("503 Host not found"); here it fetches from the host the
# client asked for (deb.debian.org), nothing else.
ensure_apt_cache() {
  local i
  command -v apt-cacher-ng >/dev/null || die "apt-cacher-ng is not installed: run 'bash lab/lab.sh packages'"
  mkdir -p "$APT_CACHE/cache" "$APT_CACHE/log" "$APT_CACHE/run" "$APT_CACHE/conf"
  exec 7>"$APT_CACHE/run/lock"
  flock -w 60 7 || die "the package cache lock is held"
  if ! acng_pid >/dev/null; then
    cat >"$APT_CACHE/conf/acng.conf" <<EOF
# mirrorstack lab package cache (written by lab/lab.sh): fetches from the archive each client names.
CacheDir: $APT_CACHE/cache
LogDir: $APT_CACHE/log
SupportDir: /usr/lib/apt-cacher-ng
Port: $APT_PORT
BindAddress: 127.0.0.1
PidFile: $APT_CACHE/run/pid
SocketPath: $APT_CACHE/run/socket
ForeGround: 1
ExThreshold: 30
EOF
    rm -f "$APT_CACHE/run/pid"
    setsid apt-cacher-ng -c "$APT_CACHE/conf" </dev/null >>"$APT_CACHE/log/daemon.out" 2>&1 9<&- 8<&- 7<&- &
    for ((i = 0; i < 50; i++)); do
      acng_pid >/dev/null && (exec 6<>"/dev/tcp/127.0.0.1/$APT_PORT") 2>/dev/null && break
      sleep 0.1
    done
    acng_pid >/dev/null || die "the package cache (apt-cacher-ng) did not start; see $APT_CACHE/log/daemon.out"
  fi
  exec 7>&-
}

# Stop the shared cache when no lab uses it any more (no lab bridge left on the machine).
stop_apt_cache_if_unused() {
  local pid
  [ -d "$APT_CACHE/run" ] || return 0
  exec 7>"$APT_CACHE/run/lock"
  flock -w 60 7 || return 0
  if ! ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep -q '^mslab0'; then
    if pid=$(acng_pid); then kill "$pid" 2>/dev/null || true; wait_gone "$pid"; fi
    rm -f "$APT_CACHE/run/pid"
  fi
  exec 7>&-
}

relay_pid() {
  local pid
  pid=$(cat "$STATE/relay.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "^socat TCP-LISTEN:$APT_PORT,bind=$SUBNET.1," || return 1
  echo "$pid"
}

# This lab's way to the cache: <subnet>.1:3142 on the bridge, relayed to the cache on loopback.
ensure_relay() {
  local i
  relay_pid >/dev/null && return 0
  setsid socat "TCP-LISTEN:$APT_PORT,bind=$SUBNET.1,reuseaddr,fork" "TCP:127.0.0.1:$APT_PORT" \
    </dev/null >>"$STATE/relay.log" 2>&1 9<&- &
  echo $! >"$STATE/relay.pid"
  for ((i = 0; i < 30; i++)); do
    (exec 6<>"/dev/tcp/$SUBNET.1/$APT_PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  die "the package relay on $SUBNET.1:$APT_PORT did not start; see $STATE/relay.log"
}

# ---------------------------------------------------------------- processes of the lab

# PID (as the machine sees it) of the systemd-nspawn process that runs host NAME, if it is alive and really
# runs that host (its command line names the host's root).
nspawn_pid() {
  local name=$1 pid
  pid=$(cat "$(hostdir_of "$name")/nspawn.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-D $(diskdir_of "$name")/root " || return 1
  echo "$pid"
}

# PID of the host's systemd (PID 1 of its container), checked to live in the host's network namespace.
init_pid() {
  local name=$1 sp pid netns_ino
  sp=$(nspawn_pid "$name") || return 1
  pid=$(cat "/proc/$sp/task/$sp/children" 2>/dev/null) || return 1
  pid=${pid%% *}
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  netns_ino=$(stat -L -c %i "/run/netns/$(ns_of "$name")" 2>/dev/null) || return 1
  [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "net:[$netns_ino]" ] || return 1
  echo "$pid"
}

# Namespaces of the machine itself (this script's, its parent's and PID 1's, the latter when
# readable). A lab host never has them, so they must never be used to pick processes to kill:
# that would select every process of the machine.
machine_namespaces() {
  local t p
  for t in net mnt pid; do
    for p in "$$" "$PPID" 1; do readlink "/proc/$p/ns/$t" 2>/dev/null || true; done
  done
}

# PIDs of every process sharing one of the given namespaces ("net:[123]" "mnt:[456]" ...) of a
# lab host. Namespaces of the machine itself are refused, and neither PID 1 nor this script
# nor its parent is ever listed.
ns_members() {
  local w forbidden keep=()
  forbidden=" $(machine_namespaces | tr '\n' ' ') "
  for w in "$@"; do
    [[ $w =~ ^(net|mnt|pid):\[[0-9]+\]$ ]] || continue
    if [[ $forbidden == *" $w "* ]]; then
      warn "refusing to select processes by the machine's own namespace $w"
      continue
    fi
    keep+=("$w")
  done
  ((${#keep[@]})) || return 0
  find /proc/[0-9]*/ns -maxdepth 1 \( -name net -o -name mnt -o -name pid \) -printf '%h %l\n' 2>/dev/null |
    awk -v want="${keep[*]}" -v me="$$" -v parent="$PPID" '
      BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
      ok[$2] { split($1, p, "/"); if (p[3] ~ /^[0-9]+$/ && p[3] != 1 && p[3] != me && p[3] != parent) print p[3] }' |
    sort -un
}

wait_gone() { # pid... : wait up to ~10 s for them to exit
  local pid i
  for ((i = 0; i < 100; i++)); do
    for pid in "$@"; do [ -e "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && break; pid=''; done
    [ -z "${pid:-}" ] && return 0
    sleep 0.1
  done
  warn "processes still alive after SIGKILL: $*"
}

# ---------------------------------------------------------------- running things in a host

# host_run NAME cmd...: run a command inside the host: all namespaces of its systemd, its root, a clean env.
host_run() {
  local name=$1 pid
  shift
  pid=$(init_pid "$name") || die "host '$name' is not running (try: npm run lab -- up)"
  nsenter -t "$pid" -a -r -w -- /usr/bin/env -i "${HOST_ENV[@]}" "$@" 9<&-
}

# ---------------------------------------------------------------- making and removing hosts

hosts_file() { # names...
  local n
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
  printf 'ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n\n'
  printf '# mirrorstack lab (written by lab/lab.sh)\n%s.1\tmslab-gateway\n' "$SUBNET"
  for n in "$@"; do printf '%s\t%s\n' "$(host_addr "$n")" "$n"; done
}

# Before the first boot, written into the host's own layer: what a provisioned server would have from its
# installer and its admin (name, addresses, root's key, own sshd host keys, where apt gets packages).
# Args: name root-dir hosts-file-text client-public-key
prepare_root() {
  local name=$1 root=$2 hosts=$3 pubkey=$4
  printf '%s\n' "$name" >"$root/etc/hostname"
  printf '%s\n' "$hosts" >"$root/etc/hosts"
  install -d -m 700 "$root/root/.ssh"
  printf '%s\n' "$pubkey" >"$root/root/.ssh/authorized_keys"
  chmod 600 "$root/root/.ssh/authorized_keys"
  chroot "$root" /usr/bin/ssh-keygen -A >/dev/null
  cat >"$root/etc/ssh/sshd_config.d/00-mirrorstack-lab.conf" <<'CONF'
# mirrorstack lab host (written by lab/lab.sh). The first value of an option wins, so this
# file, read first through the Include at the top of sshd_config, decides.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
LogLevel VERBOSE
CONF
  # -E: sshd also logs to a file, where tests count sessions (the journal works too, but is slower to read).
  printf '# mirrorstack lab host (written by lab/lab.sh)\nSSHD_OPTS="-E /var/log/sshd.log"\n' >"$root/etc/default/ssh"
  # The only way to Debian's packages: the lab's proxy on the bridge (the host has no other route).
  printf '// mirrorstack lab host (written by lab/lab.sh): packages only through the lab cache\nAcquire::http::Proxy "http://%s.1:%s";\n' \
    "$SUBNET" "$APT_PORT" >"$root/etc/apt/apt.conf.d/00mirrorstack-lab-proxy"
  mkdir -p "$root/var/lib/mirrorstack-lab"
  date -u +%FT%TZ >"$root/var/lib/mirrorstack-lab/provisioned"
}

# Every trace of one host: its container (by PID), other processes in its namespaces, veth, namespace,
# overlay mount and state.
teardown_host() {
  local name=$1 ns veth dir disk pid sp t w=() pids=()
  ns=$(ns_of "$name") veth=$(veth_of "$name") dir=$(hostdir_of "$name") disk=$(diskdir_of "$name")
  if pid=$(init_pid "$name"); then
    for t in mnt pid; do w+=("$(readlink "/proc/$pid/ns/$t" 2>/dev/null || true)"); done
    pids+=("$pid")
  fi
  if sp=$(nspawn_pid "$name"); then pids+=("$sp"); fi
  # Everything in the host's network namespace (what `ip netns pids` lists) or its container's namespaces.
  [ -e "/run/netns/$ns" ] && w+=("net:[$(stat -L -c %i "/run/netns/$ns")]")
  mapfile -t -O "${#pids[@]}" pids < <(ns_members "${w[@]}")
  if ((${#pids[@]})); then
    # SIGKILL to the container's PID 1 kills every process of its pid namespace; nspawn then exits.
    kill -9 "${pids[@]}" 2>/dev/null || true
    wait_gone "${pids[@]}"
  fi
  if mountpoint -q "$disk/root"; then umount -n "$disk/root" 2>/dev/null || umount -n -l "$disk/root"; fi
  ip link del "$veth" 2>/dev/null || true
  if [ -e "/run/netns/$ns" ]; then ip netns del "$ns" 2>/dev/null || rm -f "/run/netns/$ns"; fi
  rm -rf "$dir" "$disk"
}

# Network plumbing, root and container of one new host; returns once it runs (not yet booted: see wait_booted).
create_host() {
  local name=$1 image=$2 hosts=$3 pubkey=$4 ns veth addr dir disk
  ns=$(ns_of "$name") veth=$(veth_of "$name") addr=$(host_addr "$name") dir=$(hostdir_of "$name") disk=$(diskdir_of "$name")

  ip netns add "$ns"
  # IPv6 off in the host: nothing uses it, and it keeps link-local chatter off the bridge.
  nsenter --net="/run/netns/$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6' 2>/dev/null || true
  ip link add "$veth" type veth peer name eth0 address "$(mac_of "$addr")" netns "$ns"
  echo 1 >"/proc/sys/net/ipv6/conf/$veth/disable_ipv6" 2>/dev/null || true
  ip link set "$veth" master "$BRIDGE" up
  # nspawn cannot bring up lo in a namespace it did not make.
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up

  mkdir -p "$dir" "$disk/upper" "$disk/work" "$disk/root"
  mount -n -t overlay "mslab$LAB_ID-$name" -o "lowerdir=$image,upperdir=$disk/upper,workdir=$disk/work" "$disk/root"
  prepare_root "$name" "$disk/root" "$hosts" "$pubkey"

  # setsid: the container must survive the terminal / npm process that ran `up`. --keep-unit and
  # --register=no: no systemd-machined on the machine is needed (nor, on most CI machines, present).
  setsid systemd-nspawn --quiet --boot --register=no --keep-unit --machine="mslab$LAB_ID-$name" --hostname="$name" \
    -D "$disk/root" --network-namespace-path="/run/netns/$ns" \
    --resolv-conf=off --timezone=off --link-journal=no --console=read-only \
    </dev/null >>"$dir/console.log" 2>&1 9<&- 8<&- 7<&- &
  echo $! >"$dir/nspawn.pid"
}

# Wait until the host's systemd finished booting (running, or degraded because a unit failed).
wait_booted() {
  local name=$1 i state=''
  for ((i = 0; i < 600; i++)); do
    if init_pid "$name" >/dev/null; then
      state=$(host_run "$name" systemctl is-system-running 2>/dev/null </dev/null) || true
      case "$state" in running|degraded) break ;; esac
    elif ! nspawn_pid "$name" >/dev/null && ((i > 20)); then
      break
    fi
    sleep 0.1
  done
  case "$state" in
    running) return 0 ;;
    degraded)
      warn "$name booted degraded; failed units: $(host_run "$name" systemctl --failed --no-legend --plain 2>/dev/null </dev/null | awk '{print $1}' | tr '\n' ' ')"
      return 0 ;;
  esac
  warn "$name did not boot (state '${state:-none}'); end of its console log:"
  tail -n 30 "$(hostdir_of "$name")/console.log" | sed 's/^/    /' >&2 || true
  return 1
}

host_ok() { # the host's container, set-up and network are all in place
  local name=$1 pid
  pid=$(init_pid "$name") || return 1
  [ -e "/proc/$pid/root/var/lib/mirrorstack-lab/provisioned" ] || return 1
  ip -n "$(ns_of "$name")" -o -4 addr show dev eth0 2>/dev/null | grep -q " $(host_addr "$name")/24 " || return 1
  ip -o link show dev "$(veth_of "$name")" 2>/dev/null | grep -q " master $BRIDGE .*state UP" || return 1
}

# Names of every lab host that exists in any form (namespace, veth, state or disk dir).
existing_hosts() {
  {
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^$NS_PREFIX//p"
    ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | sed -n "s/^$VETH_PREFIX//p"
    [ -d "$STATE/hosts" ] && ls -1 "$STATE/hosts"
    [ -d "$DISK/hosts" ] && ls -1 "$DISK/hosts"
  } | grep -E '^[a-z0-9][a-z0-9-]*$' | sort -u || true
}

# Run on every `up` for a host that was already there: keep /etc/hosts current and the lab key authorised
# (it may have been made anew). Args: contents-of-/etc/hosts client-public-key
ensure_script() {
  cat <<'EOF'
set -euo pipefail
hosts=$1 pubkey=$2
[ "$(cat /etc/hosts)" = "$hosts" ] || printf '%s\n' "$hosts" >/etc/hosts
install -d -m 700 /root/.ssh
grep -qxF -- "$pubkey" /root/.ssh/authorized_keys 2>/dev/null ||
  { printf '%s\n' "$pubkey" >>/root/.ssh/authorized_keys; chmod 600 /root/.ssh/authorized_keys; }
systemctl is-active --quiet ssh || systemctl start ssh
EOF
}

# ---------------------------------------------------------------- machine-level pieces

ensure_packages() {
  local p missing=()
  for p in "${MACHINE_PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing Debian packages on this machine: ${missing[*]}"
  # Packages' services (apt-cacher-ng) must not start on the machine itself: a policy-rc.d that refuses,
  # unless one is already there (then it is not ours to change or remove).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, from mirrorstack lab/lab.sh: no service starts during apt-get\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    TEMP_POLICY_RC=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  remove_temp_policy
}

TEMP_POLICY_RC=0
remove_temp_policy() {
  if [ "$TEMP_POLICY_RC" = 1 ]; then rm -f /usr/sbin/policy-rc.d; TEMP_POLICY_RC=0; fi
}

ensure_client_key() {
  mkdir -p "$DOT_LAB"
  chmod 700 "$DOT_LAB"
  if [ ! -s "$KEY" ]; then
    log "generating lab client key $KEY_REL"
    rm -f "$KEY" "$KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C mirrorstack-lab -f "$KEY"
  fi
  [ -s "$KEY.pub" ] || ssh-keygen -y -f "$KEY" >"$KEY.pub"
  chmod 600 "$KEY"
}

ensure_bridge() {
  local mac
  mac=$(mac_of "$SUBNET.1")
  if ! ip link show dev "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" address "$mac" type bridge
    echo 1 >"/proc/sys/net/ipv6/conf/$BRIDGE/disable_ipv6" 2>/dev/null || true
  fi
  ip link show dev "$BRIDGE" | grep -q "link/ether $mac " || ip link set dev "$BRIDGE" address "$mac"
  ip -o -4 addr show dev "$BRIDGE" | grep -q " $SUBNET.1/24 " || ip addr add "$SUBNET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

# Write stdin to FILE only when it differs (so a second `up` changes nothing).
write_if_changed() {
  local file=$1 tmp
  tmp=$(mktemp "$file.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$file"; then rm -f "$tmp"; else chmod 644 "$tmp"; mv -f "$tmp" "$file"; fi
}

write_client_files() { # names...
  local n pid addr t first
  # known_hosts: every host key of every host, pinned by address and by name.
  for n in "$@"; do
    pid=$(init_pid "$n") addr=$(host_addr "$n")
    for t in ed25519 ecdsa rsa; do
      [ -r "/proc/$pid/root/etc/ssh/ssh_host_${t}_key.pub" ] || continue
      printf '%s,%s %s\n' "$addr" "$n" "$(cut -d' ' -f1,2 "/proc/$pid/root/etc/ssh/ssh_host_${t}_key.pub")"
    done
  done | write_if_changed "$KNOWN_HOSTS"

  {
    printf '{\n  "subnet": "%s.0/24",\n  "bridge": "%s",\n  "gateway": "%s.1",\n  "image": "%s",\n  "hosts": [' "$SUBNET" "$BRIDGE" "$SUBNET" "$IMAGE_FLAVOUR"
    first=1
    for n in "$@"; do
      ((first)) || printf ','
      first=0
      printf '\n    {"name": "%s", "role": "%s", "address": "%s", "netns": "%s"}' \
        "$n" "$(role_of "$n")" "$(host_addr "$n")" "$(ns_of "$n")"
    done
    printf '\n  ],\n  "user": "root",\n  "port": 22,\n  "privateKeyPath": "%s",\n  "knownHostsPath": "%s"\n}\n' "$KEY" "$KNOWN_HOSTS"
  } | write_if_changed "$INVENTORY"

  # Convenience: ssh -F .lab/ssh_config master
  {
    echo "# mirrorstack lab (written by lab/lab.sh)"
    for n in "$@"; do
      printf 'Host %s\n  HostName %s\n' "$n" "$(host_addr "$n")"
    done
    printf 'Host *\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n' "$KEY" "$KNOWN_HOSTS"
  } | write_if_changed "$SSH_CONFIG"
}

write_stack_file() { # names...
  local n json first=1
  json="{\"master\":{\"name\":\"master\",\"address\":\"$(host_addr master)\"},\"mirrors\":["
  for n in "$@"; do
    [ "$n" = master ] && continue
    ((first)) || json+=","
    first=0
    json+="{\"name\":\"$n\",\"address\":\"$(host_addr "$n")\"}"
  done
  json+="],\"ssh\":{\"user\":\"root\",\"port\":22,\"privateKeyPath\":\"$KEY_REL\",\"knownHostsPath\":\"$KNOWN_HOSTS_REL\"}}"
  [ -d "$REPO_ROOT/node_modules/yaml" ] || die "node_modules/yaml is missing: run 'npm run setup' first"
  mkdir -p "$(dirname "$STACK_FILE")"
  node "$LAB_DIR/write-stack.mjs" "$STACK_FILE" "$json"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local want_mirrors='' want_image='' t0 n names=() fresh=() bad=() image
  while (($#)); do
    case "$1" in
      --mirrors) [ $# -ge 2 ] || die "--mirrors needs a number"; want_mirrors=$2; shift 2 ;;
      --mirrors=*) want_mirrors=${1#*=}; shift ;;
      --image) [ $# -ge 2 ] || die "--image needs bare or prepared"; want_image=$2; shift 2 ;;
      --image=*) want_image=${1#*=}; shift ;;
      *) die "up: unknown argument '$1' (usage: up [--mirrors N] [--image bare|prepared])" ;;
    esac
  done
  need_root up
  t0=$(date +%s.%N)
  take_lock exclusive
  trap remove_temp_policy EXIT

  load_lab_state
  # Without --mirrors / --image: keep the current lab's, or 1 mirror on bare hosts for a new lab.
  want_mirrors=${want_mirrors:-${LAB_MIRRORS:-1}}
  if ! [[ $want_mirrors =~ ^[0-9]+$ ]] || ((10#$want_mirrors > MAX_MIRRORS)); then
    die "--mirrors must be a number from 0 to $MAX_MIRRORS"
  fi
  want_mirrors=$((10#$want_mirrors))
  IMAGE_FLAVOUR=${want_image:-${LAB_IMAGE:-bare}}
  case "$IMAGE_FLAVOUR" in bare|prepared) ;; *) die "--image must be bare or prepared (got '$IMAGE_FLAVOUR')" ;; esac
  SUBNET=${MIRRORSTACK_LAB_SUBNET:-$DEFAULT_SUBNET}
  SUBNET=${SUBNET%.0/24}
  valid_subnet "$SUBNET" || die "MIRRORSTACK_LAB_SUBNET must be a /24 prefix like 10.250.0 (got '$SUBNET')"
  if ip -o -4 addr show | awk -v b="$BRIDGE" '$2 != b {print $4}' | grep -q "^${SUBNET//./\\.}\."; then
    die "subnet $SUBNET.0/24 is already used by another interface of this machine; set MIRRORSTACK_LAB_SUBNET"
  fi

  log "lab up: master + $want_mirrors mirror(s) on $SUBNET.0/24, '$IMAGE_FLAVOUR' Debian 12 hosts"
  ensure_packages
  ensure_client_key
  image=$(ensure_image "$IMAGE_FLAVOUR")

  # A lab on another subnet (or a bridge with another address) is rebuilt from scratch.
  if { [ -n "$LAB_SUBNET" ] && [ "$LAB_SUBNET" != "$SUBNET" ]; } ||
    { ip -o -4 addr show dev "$BRIDGE" 2>/dev/null | grep -q inet && ! ip -o -4 addr show dev "$BRIDGE" | grep -q " $SUBNET.1/24 "; }; then
    log "subnet changed: removing the old lab first"
    teardown_all
  fi
  # Hosts of another image are rebuilt (a host's disk is a layer over its image).
  if [ -n "$LAB_IMAGE" ] && [ "$LAB_IMAGE" != "$IMAGE_FLAVOUR" ]; then
    log "image changed ($LAB_IMAGE -> $IMAGE_FLAVOUR): rebuilding every host"
    for n in $(existing_hosts); do teardown_host "$n"; done
  fi

  mkdir -p "$STATE/hosts" "$DISK/hosts"
  ensure_bridge
  ensure_apt_cache
  ensure_relay
  mapfile -t names < <(host_names "$want_mirrors")

  # Hosts beyond the wanted set go, in whatever state they are.
  for n in $(existing_hosts); do
    if ! printf '%s\n' "${names[@]}" | grep -qx -- "$n"; then
      log "  $n: removing"
      teardown_host "$n"
    fi
  done
  printf 'SUBNET=%s\nMIRRORS=%s\nIMAGE=%s\n' "$SUBNET" "$want_mirrors" "$IMAGE_FLAVOUR" >"$STATE/lab.env"

  local hosts_txt pubkey
  hosts_txt=$(hosts_file "${names[@]}")
  pubkey=$(cut -d' ' -f1,2 "$KEY.pub")

  # Wanted hosts that are not whole (new, or left half-made / killed) are made from scratch; they boot in
  # parallel.
  for n in "${names[@]}"; do
    if host_ok "$n"; then
      continue
    fi
    if [ -e "/run/netns/$(ns_of "$n")" ] || [ -d "$(hostdir_of "$n")" ] || [ -d "$(diskdir_of "$n")" ]; then
      log "  $n: broken or half-made, rebuilding"
    fi
    teardown_host "$n"
    log "  $n: booting at $(host_addr "$n")"
    create_host "$n" "$image" "$hosts_txt" "$pubkey"
    fresh+=("$n")
  done
  for n in "${fresh[@]}"; do
    if wait_booted "$n"; then log "  $n: up"; else bad+=("$n"); fi
  done

  # Hosts that were already there: refresh /etc/hosts and the key, make sure sshd runs.
  for n in "${names[@]}"; do
    printf '%s\n' "${fresh[@]}" | grep -qx -- "$n" && continue
    if ! host_run "$n" bash -s -- "$hosts_txt" "$pubkey" < <(ensure_script); then
      bad+=("$n")
      warn "$n: could not be brought up to date"
    fi
  done
  if ((${#bad[@]})); then
    # Leave them unprovisioned-looking so the next `up` rebuilds them.
    for n in "${bad[@]}"; do teardown_host "$n"; done
    die "lab is not healthy (${bad[*]}); see above. Run 'up' again to rebuild."
  fi

  write_client_files "${names[@]}"
  write_stack_file "${names[@]}"
  for n in "${names[@]}"; do printf '  %-10s %s\n' "$n" "$(host_addr "$n")"; done
  log "lab up in $(elapsed "$t0")s"
}

teardown_all() {
  local n pid
  for n in $(existing_hosts); do teardown_host "$n"; done
  if pid=$(relay_pid 2>/dev/null); then kill "$pid" 2>/dev/null || true; wait_gone "$pid"; fi
  # The relay's pid file names a subnet; with a lab.env gone the check above may miss it: by pid file alone,
  # only if it is a socat bound to this lab's bridge.
  if pid=$(cat "$STATE/relay.pid" 2>/dev/null) && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q '^socat TCP-LISTEN:'; then
    kill "$pid" 2>/dev/null || true
    wait_gone "$pid"
  fi
  rm -f "$STATE/relay.pid"
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -f "$STATE/lab.env"
}

cmd_down() {
  local t0
  need_root down
  t0=$(date +%s.%N)
  take_lock exclusive
  log "lab down"
  load_lab_state
  SUBNET=${LAB_SUBNET:-${MIRRORSTACK_LAB_SUBNET:-$DEFAULT_SUBNET}}
  teardown_all
  stop_apt_cache_if_unused
  rm -rf "$STATE" "$DISK"
  # `ip netns add` made /run/netns a mount point; undo that once no namespace is left at all.
  if [ -d /run/netns ] && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
    if mountpoint -q /run/netns; then umount -n /run/netns 2>/dev/null || true; fi
    mountpoint -q /run/netns || rmdir /run/netns 2>/dev/null || true
  fi
  rm -f "$KNOWN_HOSTS" "$INVENTORY" "$SSH_CONFIG"
  # The default lab's down also stops the kernel tier's virtual machines, if any run (lab/vm/vm.sh).
  if [ -z "$LAB_ID" ] && [ -d "${MIRRORSTACK_VM_STATE:-/run/mirrorstack-vm}" ]; then bash "$LAB_DIR/vm/vm.sh" down; fi
  log "lab down in $(elapsed "$t0")s (kept $KEY_REL and the image and package caches in $MS_CACHE)"
}

cmd_status() {
  local n names=() sshs sys dbs pid unhealthy=0
  need_root status
  take_lock shared
  load_lab_state
  if [ -z "$LAB_SUBNET" ]; then
    log "lab is down (no lab made; run: npm run lab -- up)"
    return 1
  fi
  SUBNET=$LAB_SUBNET
  mapfile -t names < <(host_names "$LAB_MIRRORS")
  printf '%-10s %-15s %-8s %-9s %-6s %-9s\n' HOST ADDRESS INIT SYSTEM SSH MARIADB
  for n in "${names[@]}"; do
    sshs=down sys=down dbs=-
    if pid=$(init_pid "$n"); then
      sys=$(host_run "$n" systemctl is-system-running </dev/null 2>/dev/null) || true
      if ssh -F /dev/null -i "$KEY" -o IdentitiesOnly=yes -o UserKnownHostsFile="$KNOWN_HOSTS" \
        -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=3 -o LogLevel=ERROR \
        "root@$(host_addr "$n")" true </dev/null >/dev/null 2>&1; then sshs=ok; fi
      # MariaDB is mirrorstack's to install: "-" until it is there.
      if host_run "$n" test -e /lib/systemd/system/mariadb.service </dev/null 2>/dev/null; then
        dbs=$(host_run "$n" systemctl is-active mariadb </dev/null 2>/dev/null) || true
      fi
    else
      pid=dead
    fi
    [ "$sshs" = ok ] && [[ $sys == running || $sys == degraded ]] || unhealthy=1
    printf '%-10s %-15s %-8s %-9s %-6s %-9s\n' "$n" "$(host_addr "$n")" "$pid" "${sys:-?}" "$sshs" "${dbs:-?}"
  done
  return "$unhealthy"
}

cmd_exec() {
  local name=${1:-}
  [ -n "$name" ] || die "usage: lab.sh exec <host> -- <command...>"
  shift
  [ "${1:-}" = -- ] && shift
  need_root exec
  host_octet "$name" >/dev/null || die "unknown host '$name' (hosts are master, mirror1, mirror2, ...)"
  (($#)) || set -- bash -l
  local pid
  pid=$(init_pid "$name") || die "host '$name' is not running (try: npm run lab -- up)"
  exec nsenter -t "$pid" -a -r -w -- /usr/bin/env -i "${HOST_ENV[@]}" "$@"
}

usage() {
  cat <<EOF
usage: bash lab/lab.sh up [--mirrors N] [--image bare|prepared]
                                              make or repair the lab (master + N mirrors; default: as now, or 1 on bare)
       bash lab/lab.sh status                 health of every host (exit 1 if any is unhealthy)
       bash lab/lab.sh down                   remove the lab (keeps $KEY_REL and the caches)
       bash lab/lab.sh exec <host> -- cmd...  run a command inside a host
       bash lab/lab.sh image bare|prepared    build or find a host image; prints its root
       bash lab/lab.sh image-run FLAVOUR [--bind /tmp/DIR] [--tmpfs DIR] -- cmd...
                                              run one command in an image (read-only, no boot)
       bash lab/lab.sh packages               install what this machine needs to run labs
env:   MIRRORSTACK_LAB_ID=<0-3 of a-z0-9>     another, independent lab
       MIRRORSTACK_LAB_SUBNET=10.250.0        /24 prefix of the lab network (master .10, mirrorN .10+N)
       MIRRORSTACK_CACHE=~/.cache/mirrorstack images and package cache
EOF
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    exec) cmd_exec "$@" ;;
    image) [ $# -eq 1 ] || die "usage: lab.sh image bare|prepared"; need_root image; ensure_packages; ensure_image "$1" ;;
    image-run) cmd_image_run "$@" ;;
    packages) need_root packages; ensure_packages ;;   # also used by scripts/setup.sh
    image-packages) [ $# -eq 1 ] || die "usage: lab.sh image-packages bare|prepared"; image_packages "$1" ;;   # lab/vm/vm.sh
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
