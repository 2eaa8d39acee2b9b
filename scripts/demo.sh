#!/usr/bin/env bash
# `npm run demo`: engine setup -> lab up -> `pulumi up` of the lab stack -> a short summary.
# Run it again: the second `up` reports no changes and opens no SSH session.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "demo: the lab needs root (network namespaces, mounts); run as root" >&2; exit 1; }
t0=$(date +%s)
bash scripts/setup.sh
t1=$(date +%s)
bash lab/lab.sh up "$@"
t2=$(date +%s)
source scripts/engine-env.sh
pulumi stack select --create lab >/dev/null
# A rebuilt lab has new host keys and empty hosts: the state describes hosts that are gone (a refresh cannot read
# a replication that has no database server behind it), so the lab stack starts over. An unchanged lab gets a
# plain up: no SSH session when nothing changed.
fp=$(sha256sum .lab/known_hosts | cut -d' ' -f1)
fp_file=.pulumi-state/lab-hosts.sha256
if [ "$(cat "$fp_file" 2>/dev/null)" != "$fp" ] && pulumi stack ls --json 2>/dev/null | grep -q '"name": *"lab"'; then
  echo "demo: the lab was rebuilt; its stack starts over"
  pulumi stack rm --yes --force --preserve-config lab >/dev/null
  pulumi stack select --create lab >/dev/null
fi
pulumi up --yes --skip-preview --stack lab
echo "$fp" > "$fp_file"
t3=$(date +%s)
echo
echo "== mirrorstack demo summary"
pulumi stack output --stack lab --json | node -e '
  const o = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const h of o.hosts ?? []) console.log(`  ${h.role.padEnd(6)} ${h.name.padEnd(10)} ${h.address.padEnd(15)} ${h.files.length} managed files`);
  for (const c of o.tls ?? []) console.log(`  tls    ${c.host.padEnd(10)} ${c.subject} until ${c.notAfter}`);'
echo "  times: setup $((t1 - t0))s, lab $((t2 - t1))s, pulumi up $((t3 - t2))s"
echo "  next: npm run demo (again: no changes), npm test, npm run lab -- down"
