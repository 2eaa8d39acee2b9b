// End-to-end (root + lab): the web role. The master and a mirror serve the same small PHP site from their own copy
// of the mirrored tree: a page that reads a row through the site's socket-authenticated account and links an image
// from the uploads. On the mirror the page says read-only and a write through the site's account is refused (SELECT
// only, and the server is read_only); on the master the same write goes through and reaches the mirror.
import { httpGet } from "../../infra/ops/web";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshStack, inventory, isRoot, onHost, onHostAsync, installMariadb, pulumi, skipReason, sql, useLab, writeTestStack, mirrorctl as ctl } from "./lab";

const STACK = "e2e-web";
useLab("web", { mirrors: 1, image: "bare" });
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

const SITE = "/srv/www/site";
// The site's code, as its admin deployed it on the master; mirrorstack mirrors it like any file in the tree.
const PAGE = `<?php
require '/etc/mirrorstack/site.php';
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
$d = $mirrorstackDb;
$db = new mysqli($d['server'], $d['user'], $d['password'], $d['name'], 0, $d['socket']);
$row = $db->query('SELECT title FROM pages WHERE id = 1')->fetch_row();
echo "role=$mirrorstackRole readonly=" . ($mirrorstackReadOnly ? 'yes' : 'no') . " title={$row[0]}\\n";
echo "<img src=\\"/images/logo.png\\">\\n";
if (isset($_GET['write'])) {
  try {
    $db->query("INSERT INTO pages (id, title) VALUES (2, 'written through the site')");
    echo "write=ok\\n";
  } catch (mysqli_sql_exception $e) {
    echo 'write=refused: ' . $e->getMessage() . "\\n";
  }
}
`;

/** GET over HTTP from this machine, as mirrorctl status does (the site's name is the host's address). */
const get = (address: string, path: string) => httpGet(address, address, path);

describe.skipIf(!isRoot)("web role (lab)", { shuffle: false }, () => {
  const addr = (name: string) => inventory().hosts.find((h) => h.name === name)!.address;

  beforeAll(async () => {
    // The master is the site's existing server: its database and its code are there before mirrorstack.
    const install = await installMariadb("master");
    expect(install.code, install.stderr).toBe(0);
    sql("master", "CREATE DATABASE wiki; CREATE TABLE wiki.pages (id INT PRIMARY KEY, title VARCHAR(100)); INSERT INTO wiki.pages VALUES (1, 'Hello from the master');");
    const site = onHost(
      "master",
      `install -d ${SITE}/images && cat > ${SITE}/index.php <<'PHP'\n${PAGE}PHP\n` +
        `head -c 3000 /dev/urandom > ${SITE}/images/logo.png && printf '<?php echo "ran";' > ${SITE}/images/evil.php`,
    );
    expect(site.code, site.stderr).toBe(0);
    writeTestStack(STACK, {
      master: { name: "master", address: addr("master"), web: true },
      mirrors: [{ name: "mirror1", address: addr("mirror1"), web: true }],
      files: { method: "rsync-ssh", trees: [SITE] },
      web: { server: "apache", documentRoot: SITE, uploadsPath: `${SITE}/images`, app: "generic", checkPath: "/index.php", checkFile: "/images/logo.png" },
    });
    await freshStack(STACK);
  }, 900_000);

  afterAll(async () => {
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
  });

  it("up installs the web server and PHP on both hosts, and a second up changes nothing", async () => {
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    for (const h of ["master", "mirror1"]) {
      expect(onHost(h, "systemctl is-active apache2").stdout.trim(), h).toBe("active");
      expect(onHost(h, "test -f /etc/apache2/sites-enabled/00-mirrorstack.conf && php -v | head -1").stdout, h).toMatch(/^PHP 8/);
    }
    const again = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).not.toMatch(/\b\d+ (created|updated|replaced|deleted)\b/);
  });

  it("the master serves the page from its tree and database, and may write", async () => {
    const page = await get(addr("master"), "/index.php?write=1");
    expect(page.status, page.body.toString()).toBe(200);
    expect(page.body.toString()).toMatch(/^role=master readonly=no title=Hello from the master$/m);
    expect(page.body.toString()).toMatch(/^write=ok$/m);
  });

  it("the mirror serves its own synced copy read-only: the row replicated, the image byte for byte, a write refused", async () => {
    const sync = onHost("mirror1", "/usr/local/sbin/mirrorstack-sync");
    expect(sync.code, sync.stderr).toBe(0);
    // The master's write above reached the mirror by replication.
    let replicated = "";
    for (let i = 0; i < 50 && replicated !== "1"; i++) {
      replicated = sql("mirror1", "SELECT COUNT(*) FROM wiki.pages WHERE id = 2");
      if (replicated !== "1") await new Promise((r) => setTimeout(r, 200));
    }
    expect(replicated).toBe("1");
    const page = await get(addr("mirror1"), "/index.php?write=1");
    expect(page.status, page.body.toString()).toBe(200);
    const text = page.body.toString();
    expect(text).toMatch(/^role=mirror readonly=yes title=Hello from the master$/m);
    // Two locks: the server is read_only (which answers first), and the account could not write without it.
    expect(text).toMatch(/^write=refused: .*read-only/m);
    expect(sql("mirror1", "SELECT @@read_only")).toBe("1");
    expect(sql("mirror1", "SHOW GRANTS FOR 'www-data'@'localhost'")).toMatch(/GRANT SELECT ON `wiki`\.\* TO `www-data`@`localhost`/);
    expect(sql("mirror1", "SHOW GRANTS FOR 'www-data'@'localhost'")).not.toMatch(/INSERT|UPDATE|DELETE|ALL PRIVILEGES/);
    expect(sql("mirror1", "SELECT COUNT(*) FROM wiki.pages")).toBe("2");
    const logo = await get(addr("mirror1"), "/images/logo.png");
    expect(logo.status).toBe(200);
    expect(logo.body.equals(Buffer.from(onHost("master", `base64 -w0 ${SITE}/images/logo.png`).stdout.trim(), "base64"))).toBe(true);
    // Uploads are data: a PHP file among them is not run (nor served).
    const evil = await get(addr("mirror1"), "/images/evil.php");
    expect(evil.status).toBe(403);
    expect(evil.body.toString()).not.toMatch(/^ran$/);
  });

  it("mirrorctl status fetches the page and the mirrored file from each web host, and names what is wrong", async () => {
    type Host = { host: string; level: string; reasons: string[]; web?: { page: { status: number | null }; file?: { status: number | null; sameAsMaster: boolean | null } } };
    const status = async () => JSON.parse((await ctl("status", "--stack", STACK, "--json")).stdout) as { hosts: Host[] };
    const of = (s: { hosts: Host[] }, name: string) => s.hosts.find((h) => h.host === name)!;
    const ok = await status();
    for (const h of ["master", "mirror1"]) {
      expect(of(ok, h).web?.page.status, h).toBe(200);
      expect(of(ok, h).web?.file?.status, h).toBe(200);
      expect(of(ok, h).reasons.filter((r) => r.startsWith("web:")), h).toEqual([]);
    }
    expect(of(ok, "mirror1").web?.file?.sameAsMaster).toBe(true);
    expect((await ctl("status", "--stack", STACK)).stdout).toMatch(/WEB/);
    // The mirror's copy of the file drifts from the master's: a warning naming the file.
    expect(onHost("mirror1", `printf x >> ${SITE}/images/logo.png`).code).toBe(0);
    const drift = of(await status(), "mirror1");
    expect(drift.web?.file?.sameAsMaster).toBe(false);
    expect(drift.reasons).toContainEqual(expect.stringMatching(/^web: http:\/\/[0-9.]+\/images\/logo\.png differs from the master's copy/));
    // The web server is down: critical, saying the page did not answer.
    expect(onHost("mirror1", "systemctl stop apache2").code).toBe(0);
    const down = of(await status(), "mirror1");
    expect(down.level).toBe("CRITICAL");
    expect(down.reasons).toContainEqual(expect.stringMatching(/^web: page http:\/\/[0-9.]+\/index\.php did not answer/));
    expect(onHost("mirror1", `systemctl start apache2 && /usr/local/sbin/mirrorstack-sync`).code).toBe(0);
    expect(of(await status(), "mirror1").web?.file?.sameAsMaster).toBe(true);
  });

  it("destroy removes the site's account and virtual host; the site's data and tree stay", async () => {
    const d = await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    expect(d.code, d.out).toBe(0);
    for (const h of ["master", "mirror1"]) {
      expect(sql(h, "SELECT COUNT(*) FROM mysql.user WHERE user = 'www-data'"), h).toBe("0");
      expect(onHost(h, "test -e /etc/apache2/sites-enabled/00-mirrorstack.conf").code, h).not.toBe(0);
      expect(onHost(h, `test -f ${SITE}/index.php`).code, h).toBe(0);
    }
  });

  it("nginx with PHP-FPM serves the same site (the operator took apache down first)", async () => {
    // Not blocking the worker: a stop once took systemd's whole stop timeout (90 s) here, past vitest's RPC deadline.
    for (const h of ["master", "mirror1"]) {
      const stop = await onHostAsync(h, "systemctl disable --now apache2 && ss -Hltn 'sport = :80'");
      expect(stop.code, `${h}: ${stop.stderr}`).toBe(0);
      expect(stop.stdout.trim(), `${h}: port 80 still taken after apache stopped`).toBe("");
    }
    writeTestStack(STACK, {
      master: { name: "master", address: addr("master"), web: true },
      mirrors: [{ name: "mirror1", address: addr("mirror1"), web: true }],
      files: { method: "rsync-ssh", trees: [SITE] },
      web: { server: "nginx", documentRoot: SITE, uploadsPath: `${SITE}/images`, app: "generic", checkPath: "/index.php", checkFile: "/images/logo.png" },
    });
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    expect((await get(addr("master"), "/index.php")).body.toString()).toMatch(/^role=master readonly=no title=Hello from the master$/m);
    const mirror = await get(addr("mirror1"), "/index.php?write=1");
    expect(mirror.status, mirror.body.toString()).toBe(200);
    expect(mirror.body.toString()).toMatch(/^role=mirror readonly=yes title=Hello from the master$/m);
    expect(mirror.body.toString()).toMatch(/^write=refused: /m);
    // An uploaded PHP file is data: nginx hands out its bytes and never runs it.
    expect((await get(addr("mirror1"), "/images/evil.php")).body.toString()).not.toMatch(/^ran$/);
    const d = await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    expect(d.code, d.out).toBe(0);
    expect(onHost("mirror1", "test -e /etc/nginx/sites-enabled/mirrorstack.conf").code).not.toBe(0);
  });
});
