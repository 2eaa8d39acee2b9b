#!/usr/bin/env bash
# `npm run demo`: engine setup -> lab up -> the demo site on the master -> `pulumi up` of the lab stack -> the
# site's row, one file pull on the mirrors -> a summary with the page each host serves.
# Run it again: the second `up` reports no changes and opens no SSH session.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "demo: the lab needs root (network namespaces, mounts); run as root" >&2; exit 1; }
t0=$(date +%s)
bash scripts/setup.sh
t1=$(date +%s)
# The stack's hosts before `lab up`, which writes the lab's hosts into stacks/Pulumi.lab.yaml as it made them (master
# first, each host as its name and address only).
hosts_before=$(node -e '
  const fs = require("fs"), file = "stacks/Pulumi.lab.yaml";
  const c = (fs.existsSync(file) && require("yaml").parse(fs.readFileSync(file, "utf8"))?.config) || {};
  console.log(JSON.stringify({ master: c["mirrorstack:master"], mirrors: c["mirrorstack:mirrors"] }));')
bash lab/lab.sh up "$@"
t2=$(date +%s)
# shellcheck source=scripts/engine-env.sh
source scripts/engine-env.sh

# The site: stacks/Pulumi.lab.yaml has its `files` and `web` settings, and every host is marked `web: true`. When the
# stack named the same lab hosts before `lab up`, its entries are put back as they were (`web: true`, and after a
# switchover its roles and serverIds: the demo does not switch back); otherwise (a new lab, another number of
# mirrors) the lab's hosts are taken, each with `web: true`. The file is rewritten only when that changes it.
# shellcheck disable=SC2016 # JavaScript in single quotes
hosts_json=$(node -e '
  const [inventory, before] = process.argv.slice(1);
  const inv = require(inventory), prev = JSON.parse(before);
  const key = (h) => `${h?.name}@${h?.address}`;
  const same = prev.master && Array.isArray(prev.mirrors) &&
    [prev.master, ...prev.mirrors].map(key).sort().join(" ") === inv.hosts.map(key).sort().join(" ");
  const web = (h) => ({ ...h, web: true });
  const master = same ? prev.master : inv.hosts.find((h) => h.role === "master");
  const mirrors = same ? prev.mirrors : inv.hosts.filter((h) => h !== master);
  const host = same ? web : (h) => web({ name: h.name, address: h.address });
  console.log(JSON.stringify({ master: host(master), mirrors: mirrors.map(host) }));' "$ROOT/.lab/inventory.json" "$hosts_before")
node lab/write-stack.mjs stacks/Pulumi.lab.yaml "$hosts_json"
# The stack's master and mirrors (lab hosts `master` and `mirror1`, unless a switchover changed the roles).
master=$(node -e 'console.log(JSON.parse(process.argv[1]).master.name)' "$hosts_json")
mapfile -t mirrors < <(node -e 'for (const h of JSON.parse(process.argv[1]).mirrors) console.log(h.name)' "$hosts_json")
SITE=/srv/www/site   # web.documentRoot and files.trees in stacks/Pulumi.lab.yaml
# The site's code and uploads, as its admin would have put them on the master: lab/demo-site/. Copied only when a
# file differs (same bytes, mode and time), so the mirrors' pull has nothing to do on a second run.
site_tar() { tar -C lab/demo-site --owner=0 --group=0 --mode=u=rwX,go=rX --sort=name -cf - .; }
if ! site_tar | bash lab/lab.sh exec "$master" -- tar -C "$SITE" --compare -f - >/dev/null 2>&1; then
  echo "demo: putting the demo site (lab/demo-site) on the master ($master) at $SITE"
  site_tar | bash lab/lab.sh exec "$master" -- bash -c "install -d -m 755 '$SITE' && tar -C '$SITE' -xf - --no-same-owner"
fi

# A rebuilt lab has new host keys and empty hosts: the state describes hosts that are gone (a refresh cannot read
# a replication that has no database server behind it), so the lab stack starts over. An unchanged lab gets a
# plain up: no SSH session when nothing changed.
fp=$(sha256sum .lab/known_hosts | cut -d' ' -f1)
fp_file=.pulumi-state/lab-hosts.sha256
if [ "$(cat "$fp_file" 2>/dev/null)" != "$fp" ] && pulumi stack ls --json 2>/dev/null | grep -q '"name": *"lab"'; then
  echo "demo: the lab was rebuilt; its stack starts over"
  pulumi stack rm --yes --force --preserve-config lab >/dev/null
fi
pulumi stack select --create lab >/dev/null
pulumi up --yes --skip-preview --stack lab
echo "$fp" > "$fp_file"
t3=$(date +%s)

# The site's row, written on the master (`wiki` is the stack's replicated database; with the default database
# set, the statements pass the binlog_do_db / replicate_do_db filters) and replicated to the mirrors. Idempotent:
# nothing is written when the table and its row are there.
bash lab/lab.sh exec "$master" -- mariadb wiki -e "
  CREATE TABLE IF NOT EXISTS pages (id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(200) NOT NULL);
  INSERT INTO pages (id, title) SELECT 1, 'Hello from the master' FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM pages WHERE id = 1);"
for m in "${mirrors[@]}"; do
  # The files: one pull now, rather than waiting for the mirror's cron (cron.sync).
  bash lab/lab.sh exec "$m" -- /usr/local/sbin/mirrorstack-sync
  # The row: by replication, normally within a second.
  for _ in $(seq 1 50); do
    [ "$(bash lab/lab.sh exec "$m" -- mariadb -N -B -e 'SELECT COUNT(*) FROM wiki.pages WHERE id = 1' 2>/dev/null)" = 1 ] && break
    sleep 0.2
  done
done
# curl on the hosts, to look at the site from inside one (`npm run lab -- exec mirror1 -- curl -s localhost/index.php`);
# the lab's hosts are freshly installed servers without it. Not mirrorstack's business: no failure if it fails.
for h in "$master" "${mirrors[@]}"; do
  bash lab/lab.sh exec "$h" -- bash -c 'command -v curl >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null' ||
    echo "demo: could not install curl on $h (look from this machine instead)" >&2
done
t4=$(date +%s)

echo
echo "== mirrorstack demo summary"
# shellcheck disable=SC2016 # JavaScript, not shell, in single quotes
pulumi stack output --stack lab --json | node -e '
  const http = require("http");
  const o = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const get = (address, path) => new Promise((resolve) => {
    const req = http.get({ host: address, path, timeout: 5000 }, (res) => {
      const body = [];
      res.on("data", (d) => body.push(d));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(body) }));
    });
    req.on("timeout", () => req.destroy(new Error("no answer in 5 s")));
    req.on("error", (e) => resolve({ status: null, body: Buffer.from(e.message) }));
  });
  (async () => {
    for (const h of o.hosts ?? []) console.log(`  ${h.role.padEnd(6)} ${h.name.padEnd(10)} ${h.address.padEnd(15)} ${h.files.length} managed files`);
    for (const c of o.tls ?? []) console.log(`  tls    ${c.host.padEnd(10)} ${c.subject} until ${c.notAfter}`);
    console.log("  the site, fetched from each host over HTTP:");
    let masterLogo;
    for (const h of o.hosts ?? []) {
      const page = await get(h.address, "/index.php");
      const text = page.status === 200 ? (/<pre>\n?([\s\S]*?)<\/pre>/.exec(page.body.toString())?.[1] ?? page.body.toString()) : page.body.toString();
      console.log(`  http://${h.address}/index.php  HTTP ${page.status ?? "-"}`);
      for (const line of text.trim().split("\n")) console.log(`      ${line}`);
      const logo = await get(h.address, "/images/logo.png");
      if (h.role === "master") masterLogo = logo.body;
      const same = h.role === "master" || logo.status !== 200 || !masterLogo ? "" : masterLogo.equals(logo.body) ? ", same bytes as the master" : ", DIFFERS from the master";
      console.log(`  http://${h.address}/images/logo.png  HTTP ${logo.status ?? "-"} (${logo.body.length} bytes${same})`);
    }
  })();'
echo "  times: setup $((t1 - t0))s, lab $((t2 - t1))s, pulumi up $((t3 - t2))s, site row, file pull and curl $((t4 - t3))s"
look=${mirrors[0]:-$master}
echo "  look: npm run lab -- exec $look -- curl -s localhost/index.php  (or from here: curl -s http://$(node -e 'console.log(require(process.argv[1]).hosts.find((h) => h.name === process.argv[2]).address)' "$ROOT/.lab/inventory.json" "$look")/index.php)"
echo "  next: npm run demo (again: no changes), npm test, npm run lab -- down"
