#!/usr/bin/env bash
# mirrorstack local lab: a MariaDB master and N mirror "hosts" made on this machine.
#
#   bash lab/lab.sh up [--mirrors N]        make / repair the lab (idempotent)
#   bash lab/lab.sh status                  table of hosts; non-zero exit if any is unhealthy
#   bash lab/lab.sh down                    remove everything the lab made (keeps .lab/id_ed25519)
#   bash lab/lab.sh exec <host> -- cmd...   run a command inside a host (its root fs, hostname, network)
#
# Design (details next to the code below):
#  * one bridge (mslab0) holding <subnet>.1 in the machine's namespace; every host is a network
#    namespace (mslab-<host>) wired to it by a veth pair (mslv-<host> <-> eth0). No NAT, no
#    forwarding, no default route: the hosts reach only each other and the machine.
#  * every host has a long-lived "anchor" process: PID 1 of its own pid namespace, with its own
#    mount, UTS and IPC namespaces. The anchor mounts an overlay over the machine's / (upper and
#    work dirs on a tmpfs at /run/mirrorstack-lab), fresh /proc, /sys, /dev, /run, /tmp, sets the
#    hostname, pivot_roots into the overlay and then only reaps orphans.
#  * `exec` = nsenter into all of the anchor's namespaces and its root. Services (sshd, MariaDB,
#    cron) are started through Debian's init scripts (`service X start`) run that way, so
#    `service mariadb restart` inside a host behaves as on a machine without systemd.
#  * killing an anchor (PID 1 of its pid namespace) kills every process of that host; the
#    mount namespace and so the overlay go with it.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(dirname "$LAB_DIR")
SELF="$LAB_DIR/lab.sh"

# MIRRORSTACK_LAB_ID (a-z, 0-9; empty by default) names a second, independent lab beside the default one:
# its namespaces, bridge, state, .lab dir, stack file and default subnet all carry the id.
LAB_ID=${MIRRORSTACK_LAB_ID:-}
[[ $LAB_ID =~ ^[a-z0-9]{0,3}$ ]] || { echo "lab: MIRRORSTACK_LAB_ID must be 0-3 of a-z, 0-9" >&2; exit 2; }
STATE=/run/mirrorstack-lab${LAB_ID:+-$LAB_ID}   # tmpfs: host upper dirs, pid files, logs
BRIDGE=mslab0$LAB_ID
NS_PREFIX=mslab$LAB_ID-             # network namespace of host X: mslab-X
VETH_PREFIX=mslv$LAB_ID-            # machine side of host X's veth: mslv-X
if [ -n "$LAB_ID" ]; then DEFAULT_SUBNET=10.250.$((1 + $(printf '%s' "$LAB_ID" | cksum | cut -d' ' -f1) % 200)); else DEFAULT_SUBNET=10.250.0; fi
MAX_MIRRORS=50

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

# What the lab needs from Debian (the hosts run the machine's own binaries through the overlay).
REQUIRED_PACKAGES=(iproute2 util-linux procps psmisc attr openssh-client openssh-server
  mariadb-server mariadb-client mariadb-backup rsync cron socat gnupg zstd nfs-kernel-server nfs-common)

# Environment of every command run inside a host: clean, like a login would give.
HOST_ENV=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root USER=root
  LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8 "TERM=${TERM:-dumb}")

log() { printf '%s\n' "$*"; }
warn() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (it creates network namespaces, mounts and processes); try: sudo bash lab/lab.sh $*"
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
  LAB_SUBNET='' LAB_MIRRORS=''
  local k v
  [ -r "$STATE/lab.env" ] || return 0
  while IFS='=' read -r k v; do
    case "$k" in
      SUBNET) LAB_SUBNET=$v ;;
      MIRRORS) LAB_MIRRORS=$v ;;
    esac
  done <"$STATE/lab.env"
}

# ---------------------------------------------------------------- processes of the lab

# PID (as the machine sees it) of a host's anchor, if it is alive and really is that host's
# anchor: it must live in the host's network namespace (guards against a recycled PID).
anchor_pid() {
  local name=$1 f pid netns_ino
  f="$(hostdir_of "$name")/anchor.pid"
  [ -r "$f" ] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  netns_ino=$(stat -L -c %i "/run/netns/$(ns_of "$name")" 2>/dev/null) || return 1
  [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "net:[$netns_ino]" ] || return 1
  is_pidns_init "$pid" || return 1
  echo "$pid"
}

# Is PID one of the processes this script started for host NAME (launcher or anchor)?
is_anchor_process() {
  local pid=$1 name=$2 cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *"lab.sh __anchor $name "* ]]
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

# Is PID the PID 1 of a pid namespace of its own (as a host's anchor is)?
is_pidns_init() {
  local k v
  while read -r k v; do
    [ "$k" = NSpid: ] || continue
    [[ $v == *[[:space:]]* && ${v##*[[:space:]]} == 1 ]]
    return
  done <"/proc/$1/status" 2>/dev/null
  return 1
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

# host_run NAME cmd...: run a command inside the host: its namespaces, root and a clean env.
host_run() {
  local name=$1 pid
  shift
  pid=$(anchor_pid "$name") || die "host '$name' is not running (try: npm run lab -- up)"
  nsenter -t "$pid" -m -u -i -n -p -r -w -- /usr/bin/env -i "${HOST_ENV[@]}" "$@" 9<&-
}

# ---------------------------------------------------------------- the anchor (runs as a host's PID 1)

# Started by launch_anchor as: unshare --mount --uts --ipc --pid --fork ... lab.sh __anchor NAME DIR
# inside the host's network namespace. The new mount namespace starts as a private copy of the
# machine's; everything mounted here disappears with it.
anchor_main() {
  local name=$1 dir=$2 root=$2/root k v mypid=''

  # Our PID as the machine sees it: first NSpid field, read from the machine's /proc which is
  # still mounted here (the redirection is opened by this shell itself, so "self" is us).
  while read -r k v; do [ "$k" = NSpid: ] && mypid=${v%%[[:space:]]*}; done </proc/self/status
  [ -n "$mypid" ] || { echo "anchor: cannot find own pid" >&2; exit 1; }
  echo "$mypid" >"$dir/anchor.pid"

  # The host's root: the machine's / as read-only lower layer, writes go to the tmpfs upper.
  mount -n -t overlay "mslab$LAB_ID-$name" -o "lowerdir=/,upperdir=$dir/upper,workdir=$dir/work" "$root"
  mount -n -t proc -o nosuid,nodev,noexec proc "$root/proc"              # this pid namespace's view
  mount -n -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"          # this netns's interfaces
  mount -n -t tmpfs -o nosuid,noexec,mode=755,size=1m tmpfs "$root/dev"  # a minimal private /dev
  mknod -m 666 "$root/dev/null" c 1 3
  mknod -m 666 "$root/dev/zero" c 1 5
  mknod -m 666 "$root/dev/full" c 1 7
  mknod -m 666 "$root/dev/random" c 1 8
  mknod -m 666 "$root/dev/urandom" c 1 9
  mknod -m 666 "$root/dev/tty" c 5 0
  ln -s /proc/self/fd "$root/dev/fd"
  ln -s /proc/self/fd/0 "$root/dev/stdin"
  ln -s /proc/self/fd/1 "$root/dev/stdout"
  ln -s /proc/self/fd/2 "$root/dev/stderr"
  mkdir -m 755 "$root/dev/pts"
  mkdir -m 1777 "$root/dev/shm"
  # A private devpts instance so ssh sessions get ptys of their own.
  mount -n -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
  ln -s pts/ptmx "$root/dev/ptmx"
  mount -n -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/dev/shm"
  mount -n -t tmpfs -o nosuid,nodev,mode=755 tmpfs "$root/run"
  mkdir -m 1777 "$root/run/lock"
  mount -n -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/tmp"

  echo "$name" >/proc/sys/kernel/hostname                             # this UTS namespace only

  # Make the overlay our root; the machine's tree (old root) is detached from this namespace.
  cd "$root"
  pivot_root . .
  umount -n -l .
  cd /
  : >/run/mslab-anchor.ready

  # PID 1 duties: bash reaps every child, adopted orphans included (daemons double-fork).
  trap 'exit 0' TERM INT HUP
  while :; do
    sleep 86400 &
    wait $! || true
  done
}

launch_anchor() {
  local name=$1 dir launcher i pid
  dir=$(hostdir_of "$name")
  # setsid: the anchor must survive the terminal / npm process that ran `up`.
  # --kill-child: if someone kills the launcher, the anchor (and so the whole host) goes too.
  setsid nsenter --net="/run/netns/$(ns_of "$name")" -- \
    unshare --mount --uts --ipc --pid --fork --kill-child --propagation private -- \
    bash "$SELF" __anchor "$name" "$dir" </dev/null >>"$dir/anchor.log" 2>&1 9<&- &
  launcher=$!
  echo "$launcher" >"$dir/launcher.pid"
  for ((i = 0; i < 100; i++)); do
    if pid=$(anchor_pid "$name") && [ -e "/proc/$pid/root/run/mslab-anchor.ready" ]; then
      return 0
    fi
    [ -e "/proc/$launcher" ] || break
    sleep 0.1
  done
  warn "anchor of $name did not come up; its log:"
  sed 's/^/    /' "$dir/anchor.log" >&2 || true
  return 1
}

# ---------------------------------------------------------------- scripts run inside a host

# First-time set-up of a host (run once per host, right after its anchor started).
# Args: name address client-public-key
provision_script() {
  cat <<'EOF'
set -euo pipefail
name=$1 addr=$2 pubkey=$3
umask 022
echo "$name" >/etc/hostname

# sshd: this host's own host keys (the machine's come through the lower layer).
rm -f /etc/ssh/ssh_host_*
ssh-keygen -A >/dev/null
cat >/etc/ssh/sshd_config.d/00-mirrorstack-lab.conf <<CONF
# mirrorstack lab host (written by lab/lab.sh). The first value of an option wins, so this
# file, read first through the Include at the top of sshd_config, decides.
Port 22
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UseDNS no
LogLevel VERBOSE
CONF
# -E: log to a file inside the host (there is no syslog here); tests count sessions in it.
printf '# mirrorstack lab host (written by lab/lab.sh)\nSSHD_OPTS="-E /var/log/sshd.log"\n' >/etc/default/ssh
install -d -m 700 /root/.ssh
printf '%s\n' "$pubkey" >/root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys

# MariaDB: own datadir, listening on this host's address and its socket.
cat >/etc/mysql/mariadb.conf.d/55-mirrorstack-lab.cnf <<CONF
# mirrorstack lab host (written by lab/lab.sh); sorts after 50-server.cnf so it wins over it.
[mysqld]
bind-address = $addr
skip-name-resolve
log-error = /var/log/mysql/error.log

[mysqld_safe]
# no syslog inside a lab host: log to a file instead
skip-syslog
log-error = /var/log/mysql/error.log
CONF
rm -rf /var/lib/mysql /var/log/mysql
install -d -o mysql -g mysql -m 755 /var/lib/mysql
install -d -o mysql -g adm -m 2750 /var/log/mysql
mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db \
  >/var/log/mirrorstack-lab-install-db.log 2>&1 ||
  { cat /var/log/mirrorstack-lab-install-db.log >&2; exit 1; }

mkdir -p /var/lib/mirrorstack-lab
date -u +%FT%TZ >/var/lib/mirrorstack-lab/provisioned
EOF
}

# Run on every `up` for every host: keep /etc/hosts current, keep the lab key authorised (it
# may have been made anew), start whatever service is down.
# Args: contents-of-/etc/hosts client-public-key
ensure_script() {
  cat <<'EOF'
set -euo pipefail
hosts=$1 pubkey=$2
[ "$(cat /etc/hosts)" = "$hosts" ] || printf '%s\n' "$hosts" >/etc/hosts
install -d -m 700 /root/.ssh
grep -qxF -- "$pubkey" /root/.ssh/authorized_keys 2>/dev/null ||
  { printf '%s\n' "$pubkey" >>/root/.ssh/authorized_keys; chmod 600 /root/.ssh/authorized_keys; }

svclog=/var/log/mirrorstack-lab-services.log
start() { # service
  echo "== $(date -u +%FT%TZ) service $1 start" >>"$svclog"
  if ! service "$1" start </dev/null >>"$svclog" 2>&1; then
    echo "service $1 start failed; end of $svclog:" >&2
    tail -n 20 "$svclog" >&2
    exit 1
  fi
}
service ssh status >/dev/null 2>&1 || start ssh
mariadb-admin --connect-timeout=3 ping >/dev/null 2>&1 || start mariadb
service cron status >/dev/null 2>&1 || start cron
mariadb-admin --connect-timeout=3 ping >/dev/null 2>&1 || { echo "MariaDB does not answer" >&2; exit 1; }
EOF
}

hosts_file() { # names...
  local n
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
  printf 'ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n\n'
  printf '# mirrorstack lab (written by lab/lab.sh)\n%s.1\tmslab-gateway\n' "$SUBNET"
  for n in "$@"; do printf '%s\t%s\n' "$(host_addr "$n")" "$n"; done
}

# ---------------------------------------------------------------- making and removing hosts

# Every trace of one host: its processes (by PID), veth, namespace and state dir.
teardown_host() {
  local name=$1 ns veth dir f t pid w=() pids=()
  ns=$(ns_of "$name") veth=$(veth_of "$name") dir=$(hostdir_of "$name")

  # The launcher (unshare, which lives in the machine's namespaces) is killed by its PID only.
  # The anchor's own mount and pid namespaces are used to find anything that joined only some
  # of the host's namespaces (e.g. nsenter -m), once it is shown to be PID 1 of its own pid
  # namespace.
  for f in launcher.pid anchor.pid; do
    [ -r "$dir/$f" ] || continue
    pid=$(<"$dir/$f")
    is_anchor_process "$pid" "$name" || continue
    pids+=("$pid")
    if [ "$f" = anchor.pid ] && is_pidns_init "$pid"; then
      for t in mnt pid; do w+=("$(readlink "/proc/$pid/ns/$t" 2>/dev/null || true)"); done
    fi
  done
  # Everything in the host's network namespace (what `ip netns pids` lists).
  [ -e "/run/netns/$ns" ] && w+=("net:[$(stat -L -c %i "/run/netns/$ns")]")
  mapfile -t -O "${#pids[@]}" pids < <(ns_members "${w[@]}")
  if ((${#pids[@]})); then
    # SIGKILL to the anchor (PID 1 of the host's pid namespace) kills every process of the host.
    kill -9 "${pids[@]}" 2>/dev/null || true
    wait_gone "${pids[@]}"
  fi
  ip link del "$veth" 2>/dev/null || true
  if [ -e "/run/netns/$ns" ]; then ip netns del "$ns" 2>/dev/null || rm -f "/run/netns/$ns"; fi
  rm -rf "$dir"
}

# Network plumbing and anchor for one new host.
create_host_base() {
  local name=$1 ns veth addr dir
  ns=$(ns_of "$name") veth=$(veth_of "$name") addr=$(host_addr "$name") dir=$(hostdir_of "$name")

  ip netns add "$ns"
  # IPv6 off in the host: nothing uses it, and it keeps link-local chatter off the bridge.
  nsenter --net="/run/netns/$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6' 2>/dev/null || true
  ip link add "$veth" type veth peer name eth0 address "$(mac_of "$addr")" netns "$ns"
  echo 1 >"/proc/sys/net/ipv6/conf/$veth/disable_ipv6" 2>/dev/null || true
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up

  mkdir -p "$dir/upper" "$dir/work" "$dir/root"
  # /root and /home start empty in the host ("opaque" dirs in the upper layer hide the
  # machine's), with root's dotfiles from /etc/skel.
  mkdir -p "$dir/upper/root" "$dir/upper/home"
  setfattr -n trusted.overlay.opaque -v y "$dir/upper/root" "$dir/upper/home"
  cp -a /etc/skel/. "$dir/upper/root/"
  chmod 700 "$dir/upper/root"

  launch_anchor "$name"
}

host_ok() { # the host's anchor, set-up and network are all in place
  local name=$1 pid
  pid=$(anchor_pid "$name") || return 1
  [ -e "/proc/$pid/root/run/mslab-anchor.ready" ] || return 1
  [ -e "/proc/$pid/root/var/lib/mirrorstack-lab/provisioned" ] || return 1
  ip -n "$(ns_of "$name")" -o -4 addr show dev eth0 2>/dev/null | grep -q " $(host_addr "$name")/24 " || return 1
  ip -o link show dev "$(veth_of "$name")" 2>/dev/null | grep -q " master $BRIDGE .*state UP" || return 1
}

# Names of every lab host that exists in any form (namespace, veth or state dir).
existing_hosts() {
  {
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^$NS_PREFIX//p"
    ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | sed -n "s/^$VETH_PREFIX//p"
    [ -d "$STATE/hosts" ] && ls -1 "$STATE/hosts"
  } | grep -E '^[a-z0-9][a-z0-9-]*$' | sort -u || true
}

# ---------------------------------------------------------------- machine-level pieces

ensure_packages() {
  local p missing=()
  for p in "${REQUIRED_PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing Debian packages: ${missing[*]}"
  # Packages' services must not start on the machine itself: a policy-rc.d that refuses, unless
  # one is already there (then it is not ours to change or remove).
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

ensure_state_dir() {
  mkdir -p "$STATE"
  # upper dirs must not be on the filesystem of / (the lower layer): a tmpfs of our own.
  mountpoint -q "$STATE" || mount -n -t tmpfs -o mode=700 mirrorstack-lab "$STATE"
  mkdir -p "$STATE/hosts"
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
    pid=$(anchor_pid "$n") addr=$(host_addr "$n")
    for t in ed25519 ecdsa rsa; do
      [ -r "/proc/$pid/root/etc/ssh/ssh_host_${t}_key.pub" ] || continue
      printf '%s,%s %s\n' "$addr" "$n" "$(cut -d' ' -f1,2 "/proc/$pid/root/etc/ssh/ssh_host_${t}_key.pub")"
    done
  done | write_if_changed "$KNOWN_HOSTS"

  {
    printf '{\n  "subnet": "%s.0/24",\n  "bridge": "%s",\n  "gateway": "%s.1",\n  "hosts": [' "$SUBNET" "$BRIDGE" "$SUBNET"
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
  [ -d "$REPO_ROOT/node_modules/yaml" ] || die "node_modules/yaml is missing: run 'npm ci' first"
  mkdir -p "$(dirname "$STACK_FILE")"
  node "$LAB_DIR/write-stack.mjs" "$STACK_FILE" "$json"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local want_mirrors='' t0 n names=() fresh=() bad=() jobs=() pids=() i rc
  while (($#)); do
    case "$1" in
      --mirrors) [ $# -ge 2 ] || die "--mirrors needs a number"; want_mirrors=$2; shift 2 ;;
      --mirrors=*) want_mirrors=${1#*=}; shift ;;
      *) die "up: unknown argument '$1' (usage: up [--mirrors N])" ;;
    esac
  done
  need_root up
  t0=$(date +%s.%N)
  take_lock exclusive
  trap remove_temp_policy EXIT

  load_lab_state
  # Without --mirrors: keep the current lab's size, or 1 for a new lab.
  want_mirrors=${want_mirrors:-${LAB_MIRRORS:-1}}
  if ! [[ $want_mirrors =~ ^[0-9]+$ ]] || ((10#$want_mirrors > MAX_MIRRORS)); then
    die "--mirrors must be a number from 0 to $MAX_MIRRORS"
  fi
  want_mirrors=$((10#$want_mirrors))
  SUBNET=${MIRRORSTACK_LAB_SUBNET:-$DEFAULT_SUBNET}
  SUBNET=${SUBNET%.0/24}
  valid_subnet "$SUBNET" || die "MIRRORSTACK_LAB_SUBNET must be a /24 prefix like 10.250.0 (got '$SUBNET')"
  if ip -o -4 addr show | awk -v b="$BRIDGE" '$2 != b {print $4}' | grep -q "^${SUBNET//./\\.}\."; then
    die "subnet $SUBNET.0/24 is already used by another interface of this machine; set MIRRORSTACK_LAB_SUBNET"
  fi

  log "lab up: master + $want_mirrors mirror(s) on $SUBNET.0/24"
  ensure_packages
  ensure_client_key

  # A lab on another subnet (or a bridge with another address) is rebuilt from scratch.
  if { [ -n "$LAB_SUBNET" ] && [ "$LAB_SUBNET" != "$SUBNET" ]; } ||
    { ip -o -4 addr show dev "$BRIDGE" 2>/dev/null | grep -q inet && ! ip -o -4 addr show dev "$BRIDGE" | grep -q " $SUBNET.1/24 "; }; then
    log "subnet changed: removing the old lab first"
    teardown_all
  fi

  ensure_state_dir
  ensure_bridge
  mapfile -t names < <(host_names "$want_mirrors")

  # Hosts beyond the wanted set go, in whatever state they are.
  for n in $(existing_hosts); do
    if ! printf '%s\n' "${names[@]}" | grep -qx -- "$n"; then
      log "  $n: removing"
      teardown_host "$n"
    fi
  done
  printf 'SUBNET=%s\nMIRRORS=%s\n' "$SUBNET" "$want_mirrors" >"$STATE/lab.env"

  # Wanted hosts that are not whole (new, or left half-made / killed) are made from scratch.
  for n in "${names[@]}"; do
    if host_ok "$n"; then
      continue
    fi
    if [ -e "/run/netns/$(ns_of "$n")" ] || [ -d "$(hostdir_of "$n")" ]; then
      log "  $n: broken or half-made, rebuilding"
    fi
    teardown_host "$n"
    log "  $n: creating at $(host_addr "$n")"
    create_host_base "$n"
    fresh+=("$n")
  done

  # Set-up inside the new hosts runs in parallel (mariadb-install-db dominates).
  local hosts_txt pubkey
  hosts_txt=$(hosts_file "${names[@]}")
  pubkey=$(cut -d' ' -f1,2 "$KEY.pub")
  for n in "${fresh[@]}"; do
    (
      host_run "$n" bash -s -- "$n" "$(host_addr "$n")" "$pubkey" < <(provision_script) &&
        host_run "$n" bash -s -- "$hosts_txt" "$pubkey" < <(ensure_script)
    ) >"$(hostdir_of "$n")/setup.log" 2>&1 &
    jobs+=("$n")
    pids+=($!)
  done
  for i in "${!jobs[@]}"; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    if ((rc)); then
      bad+=("${jobs[$i]}")
      warn "setting up ${jobs[$i]} failed:"
      sed 's/^/    /' "$(hostdir_of "${jobs[$i]}")/setup.log" >&2 || true
      # Leave it unprovisioned-looking so the next `up` rebuilds it.
      host_run "${jobs[$i]}" rm -f /var/lib/mirrorstack-lab/provisioned 2>/dev/null || true
    else
      log "  ${jobs[$i]}: ready"
    fi
  done

  # Hosts that were already there: refresh /etc/hosts, restart any service that is down.
  for n in "${names[@]}"; do
    printf '%s\n' "${fresh[@]}" | grep -qx -- "$n" && continue
    if ! host_run "$n" bash -s -- "$hosts_txt" "$pubkey" < <(ensure_script); then
      bad+=("$n")
      warn "$n: a service could not be started"
    fi
  done
  ((${#bad[@]} == 0)) || die "lab is not healthy (${bad[*]}); see above. Run 'up' again to rebuild."

  write_client_files "${names[@]}"
  write_stack_file "${names[@]}"
  for n in "${names[@]}"; do printf '  %-10s %s\n' "$n" "$(host_addr "$n")"; done
  log "lab up in $(elapsed "$t0")s"
}

teardown_all() {
  local n
  for n in $(existing_hosts); do teardown_host "$n"; done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -f "$STATE/lab.env"
}

cmd_down() {
  local t0 m
  need_root down
  t0=$(date +%s.%N)
  take_lock exclusive
  log "lab down"
  teardown_all
  # Our tmpfs (and anything left mounted under it), deepest first.
  for m in $(findmnt -rn -o TARGET | grep -E "^$STATE(/|$)" | sort -r); do umount -n -l "$m" 2>/dev/null || true; done
  rmdir "$STATE" 2>/dev/null || true
  # `ip netns add` made /run/netns a mount point; undo that once no namespace is left at all.
  if [ -d /run/netns ] && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
    if mountpoint -q /run/netns; then umount -n /run/netns 2>/dev/null || true; fi
    mountpoint -q /run/netns || rmdir /run/netns 2>/dev/null || true
  fi
  rm -f "$KNOWN_HOSTS" "$INVENTORY" "$SSH_CONFIG"
  log "lab down in $(elapsed "$t0")s (kept $KEY_REL)"
}

cmd_status() {
  local n names=() sshs dbs pid unhealthy=0
  need_root status
  take_lock shared
  load_lab_state
  if [ -z "$LAB_SUBNET" ]; then
    log "lab is down (no lab made; run: npm run lab -- up)"
    return 1
  fi
  SUBNET=$LAB_SUBNET
  mapfile -t names < <(host_names "$LAB_MIRRORS")
  printf '%-10s %-15s %-8s %-6s %-8s\n' HOST ADDRESS ANCHOR SSH MARIADB
  for n in "${names[@]}"; do
    sshs=down dbs=down
    if pid=$(anchor_pid "$n"); then
      if ssh -F /dev/null -i "$KEY" -o IdentitiesOnly=yes -o UserKnownHostsFile="$KNOWN_HOSTS" \
        -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=3 -o LogLevel=ERROR \
        "root@$(host_addr "$n")" true </dev/null >/dev/null 2>&1; then sshs=ok; fi
      if host_run "$n" mariadb-admin --connect-timeout=3 ping </dev/null >/dev/null 2>&1; then dbs=ok; fi
    else
      pid=dead
    fi
    [ "$sshs" = ok ] && [ "$dbs" = ok ] || unhealthy=1
    printf '%-10s %-15s %-8s %-6s %-8s\n' "$n" "$(host_addr "$n")" "$pid" "$sshs" "$dbs"
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
  pid=$(anchor_pid "$name") || die "host '$name' is not running (try: npm run lab -- up)"
  exec nsenter -t "$pid" -m -u -i -n -p -r -w -- /usr/bin/env -i "${HOST_ENV[@]}" "$@"
}

usage() {
  cat <<EOF
usage: bash lab/lab.sh up [--mirrors N]      make or repair the lab (master + N mirrors, default: current or 1)
       bash lab/lab.sh status                 health of every host (exit 1 if any is unhealthy)
       bash lab/lab.sh down                   remove the lab (keeps $KEY_REL)
       bash lab/lab.sh exec <host> -- cmd...  run a command inside a host
       bash lab/lab.sh packages               install the Debian packages the lab and tests need
env:   MIRRORSTACK_LAB_SUBNET=10.250.0        /24 prefix of the lab network (master .10, mirrorN .10+N)
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
    packages) need_root packages; ensure_packages ;;   # also used by scripts/setup.sh for tests that need them
    __anchor) anchor_main "$@" ;;   # internal: a host's PID 1
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
