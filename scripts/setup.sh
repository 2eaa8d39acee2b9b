#!/usr/bin/env bash
# Makes everything mirrorstack needs available on a fresh machine: npm packages and the Pulumi engine
# (CLI + Node.js language host), built from Go modules through the Go module proxy and cached by version.
# Safe to run again: a second run only checks and takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/engine-env.sh
source "$ROOT/scripts/engine-env.sh"

log() { printf '[setup] %s\n' "$*" >&2; }
start=$(date +%s)

# --- npm packages ---------------------------------------------------------------------------------
if [ ! -d "$ROOT/node_modules/@pulumi/pulumi" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
  # The exact versions come from package-lock.json. Not `npm ci`: the registry reachable here serves only this
  # platform's optional packages (e.g. @rollup/rollup-linux-x64-gnu), so the lock cannot list the others and
  # `npm ci` rejects it as out of sync; `npm install --no-save` installs the locked tree and leaves the lock alone.
  log "installing npm packages (locked versions)"
  (cd "$ROOT" && npm install --no-save --no-audit --no-fund --loglevel=error)
fi

# --- the lab (root only): this machine's lab tools, then the Debian host images -------------------------------
# No server is installed on this machine: the hosts, the readers and the tests' throw-away databases run from the
# images, which lab.sh builds with mmdebstrap and caches by package list (a second run only finds them).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash "$ROOT/lab/lab.sh" packages
  bash "$ROOT/lab/lab.sh" image bare >/dev/null
  bash "$ROOT/lab/lab.sh" image prepared >/dev/null
  bash "$ROOT/lab/vm/vm.sh" image >/dev/null    # the kernel tier's disk image (npm test's last project)
else
  log "not root: lab tools and images not checked (lab tests will be skipped)"
fi

# --- tools the tests run: promtool (checks metrics, alert rules) -------------------------------------------
# Taken out of Debian's prometheus package without installing it: the machine gets no Prometheus server (and no
# service), only the one binary, cached by package version.
if [ ! -x "$MS_TOOLS_BIN/promtool" ] && command -v apt-get >/dev/null; then
  log "fetching promtool (Debian package prometheus, extracted, not installed)"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) || { rm -rf "$tmp"; log "could not download the prometheus package"; exit 1; }
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  mkdir -p "$MS_TOOLS_BIN"
  mv -f "$tmp/x/usr/bin/promtool" "$MS_TOOLS_BIN/promtool.tmp" && mv -f "$MS_TOOLS_BIN/promtool.tmp" "$MS_TOOLS_BIN/promtool"
  rm -rf "$tmp"
fi

# --- the engine -------------------------------------------------------------------------------------
have_ambient() {
  # An engine already on PATH is used when it is the version we pin and has the language host beside it.
  local p
  p=$(PATH="$MS_AMBIENT_PATH" command -v pulumi 2>/dev/null) || return 1
  [ "$("$p" version 2>/dev/null)" = "v$MS_PULUMI_VERSION" ] || return 1
  PATH="$MS_AMBIENT_PATH" command -v pulumi-language-nodejs >/dev/null 2>&1 || return 1
  log "using the Pulumi engine on PATH: $p"
  return 0
}

# Copies the source of module@version (downloaded through the Go module proxy) to a writable build folder.
module_source() {
  local mod=$1 dest=$2 dir
  dir=$(go mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -n "$dir" ] || { log "could not download $mod"; exit 1; }
  rm -rf "$dest" && mkdir -p "$(dirname "$dest")" && cp -r "$dir" "$dest" && chmod -R u+w "$dest"
}

# Builds one binary of a module folder with its version stamped, then moves it into place.
build_stamped() {
  local src=$1 version=$2 pkg=$3 out=$4
  (cd "$src" && GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
      -o "$out.tmp" "$pkg")
  mv -f "$out.tmp" "$out"
}

build_cli() {
  local src="$MS_ENGINE_DIR/src/pkg"
  log "building the Pulumi CLI v$MS_PULUMI_VERSION from github.com/pulumi/pulumi/pkg/v3 (first time: about 5 minutes)"
  module_source "github.com/pulumi/pulumi/pkg/v3@v$MS_PULUMI_VERSION" "$src"
  # pkg's go.mod replaces the SDK with ../sdk (a checkout-relative path): point it at the same released version.
  (cd "$src" && go mod edit -dropreplace github.com/pulumi/pulumi/sdk/v3 \
      -require "github.com/pulumi/pulumi/sdk/v3@v$MS_PULUMI_VERSION")
  build_stamped "$src" "$MS_PULUMI_VERSION" ./cmd/pulumi "$MS_ENGINE_BIN/pulumi"
}

build_language_host() {
  # The language host has had its own go.mod (module .../sdk/nodejs/cmd/pulumi-language-nodejs/v3) since
  # SDK v3.69, and the module proxy serves no version of that module. v3.68.0 is the last SDK release
  # that carries it inside github.com/pulumi/pulumi/sdk/v3, which the proxy does serve. It speaks the
  # same gRPC protocol; the CLI falls back to the older calls it implements.
  local src="$MS_ENGINE_DIR/src/sdk-langhost"
  log "building pulumi-language-nodejs from github.com/pulumi/pulumi/sdk/v3@v$MS_LANGHOST_VERSION (about 1 minute)"
  module_source "github.com/pulumi/pulumi/sdk/v3@v$MS_LANGHOST_VERSION" "$src"
  build_stamped "$src" "$MS_LANGHOST_VERSION" ./nodejs/cmd/pulumi-language-nodejs "$LANGHOST_BIN"
}

# The v3.68 host takes `runtime.options` only as command-line flags, which CLI v3.259 no longer passes, so it would
# load ts-node and the TypeScript compiler into every run (about 1 s, plus slow stack traces) although mirrorstack
# runs compiled JavaScript (Pulumi.yaml: typescript: false, main: infra/main.js). This wrapper passes the flag.
install_language_host_wrapper() {
  local w="$MS_ENGINE_BIN/pulumi-language-nodejs"
  printf '#!/bin/sh\n# mirrorstack: see install_language_host_wrapper in scripts/setup.sh\nexec "%s" -typescript=false "$@"\n' \
    "$LANGHOST_BIN" > "$w.tmp"
  chmod 0755 "$w.tmp" && mv -f "$w.tmp" "$w"
}

if ! have_ambient; then
  command -v go >/dev/null || { log "Go is needed to build the Pulumi engine and is not on PATH"; exit 1; }
  mkdir -p "$MS_ENGINE_BIN"
  if [ ! -x "$MS_ENGINE_BIN/pulumi" ] || [ "$("$MS_ENGINE_BIN/pulumi" version 2>/dev/null)" != "v$MS_PULUMI_VERSION" ]; then
    build_cli
  fi
  LANGHOST_BIN="$MS_ENGINE_BIN/pulumi-language-nodejs-v$MS_LANGHOST_VERSION"
  [ -x "$LANGHOST_BIN" ] || build_language_host
  install_language_host_wrapper
  # Dynamic providers run through this shim, which the CLI looks for beside its own binary: mirrorstack's, which
  # starts the SDK's provider host with less to load (scripts/pulumi-resource-pulumi-nodejs).
  install -m 0755 "$ROOT/scripts/pulumi-resource-pulumi-nodejs" "$MS_ENGINE_BIN/"
  install -m 0644 "$ROOT/scripts/provider-preload.js" "$MS_ENGINE_BIN/"
  log "engine ready in $MS_ENGINE_BIN"
fi

mkdir -p "$ROOT/.pulumi-state" "$PULUMI_HOME"
# The CLI (3.259) writes a full engine log of every command, gzipped and encrypted, to $PULUMI_HOME/logs, with no
# setting to turn it off: 40 % of the engine's CPU in a no-op `up` of 1 + 16 hosts (bench/RESULTS.md, issue 15),
# and hundreds of MB a day. In mirrorstack's own PULUMI_HOME that folder is a link to /dev/null, which the CLI
# takes as "automatic logging unavailable" and goes on; `pulumi --logtostderr -v=N` still logs. A PULUMI_HOME of
# the operator's own is left as it is.
if [ "$PULUMI_HOME" = "$MS_CACHE/pulumi-home" ] && [ ! -L "$PULUMI_HOME/logs" ]; then
  rm -rf "$PULUMI_HOME/logs"
  ln -s /dev/null "$PULUMI_HOME/logs"
fi
# The program as `pulumi up` runs it (Pulumi.yaml: main: infra/main.js): compiled now, so no run waits for it.
node "$ROOT/scripts/build-program.js"
log "done in $(( $(date +%s) - start ))s"
