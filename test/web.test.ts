// The web role (web: true): what a web host gets, per server and role. The apache rendering of the staging stack
// is pinned with the other files (render.test.ts); here the nginx one, and the rules that differ by role.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseStackConfig, readStackFile } from "../infra/config";
import { softwareFor } from "../infra/components/software";
import { renderStack } from "../infra/render";
import { siteAccountScripts } from "../infra/render/scripts";
import { SITE_INCLUDE } from "../infra/render/web";
import { judgeWeb, webCell } from "../infra/ops/web";
import { ROOT } from "./render-stacks";

const SECRETS = { replicationPassword: "[secret]", backupPassphrase: "[secret]" };

function staging(web: Record<string, unknown>) {
  const { raw, secretKeys } = readStackFile(join(ROOT, "stacks/Pulumi.staging.yaml"));
  const cfg = parseStackConfig({ ...raw, web: { ...(raw["web"] as object), ...web } }, { stack: "staging", secretKeys });
  return { cfg, plans: renderStack(cfg, { stack: "staging", secrets: SECRETS }) };
}

const fileOf = (plans: ReturnType<typeof staging>["plans"], host: string, path: string) => plans.find((p) => p.host === host)!.files.find((f) => f.path === path);

describe("web role", () => {
  it("nginx: the server block on each web host, reloaded on change, checked with nginx -t", async () => {
    const { plans } = staging({ server: "nginx" });
    for (const host of ["stg-db1", "stg-db2"]) {
      const f = fileOf(plans, host, "/etc/nginx/sites-enabled/mirrorstack.conf")!;
      expect(f.onChange).toEqual([{ service: "nginx", action: "reload" }]);
      expect(f.validate).toMatch(/nginx -t/);
      await expect(f.content).toMatchFileSnapshot(`__snapshots__/web/nginx-${host}.conf`);
    }
    expect(fileOf(plans, "stg-db1", "/etc/apache2/sites-enabled/00-mirrorstack.conf")).toBeUndefined();
  });

  it("site.php: the master may write, a mirror may not (and MediaWiki hears it through $wgReadOnly)", () => {
    const { plans } = staging({});
    const master = fileOf(plans, "stg-db1", SITE_INCLUDE)!.content;
    const mirror = fileOf(plans, "stg-db2", SITE_INCLUDE)!.content;
    expect(master).toMatch(/^\$mirrorstackReadOnly = false;$/m);
    expect(master).not.toMatch(/wgReadOnly/);
    expect(mirror).toMatch(/^\$mirrorstackReadOnly = true;$/m);
    expect(mirror).toMatch(/^\$wgReadOnly = 'This is a read-only mirror/m);
    const generic = fileOf(staging({ app: "generic" }).plans, "stg-db2", SITE_INCLUDE)!.content;
    expect(generic).toMatch(/^\$mirrorstackReadOnly = true;$/m);
    expect(generic).not.toMatch(/wgReadOnly/);
    expect(fileOf(plans, "stg-db3", SITE_INCLUDE), "stg-db3 has no web: true").toBeUndefined();
  });

  it("the site's database account: all privileges on the master, SELECT on a mirror, never replicated", () => {
    const m = siteAccountScripts({ role: "master", flavour: "mariadb", user: "www-data", database: "wiki" });
    const r = siteAccountScripts({ role: "mirror", flavour: "mariadb", user: "www-data", database: "wiki" });
    expect(m.create).toMatch(/GRANT ALL PRIVILEGES ON `wiki`\.\* TO 'www-data'@'localhost';/);
    expect(r.create).toMatch(/GRANT SELECT ON `wiki`\.\* TO 'www-data'@'localhost';/);
    for (const s of [m.create, r.create, r.delete]) expect(s).toMatch(/SET SESSION sql_log_bin = 0;/);
    expect(r.create).toMatch(/IDENTIFIED VIA unix_socket/);
    expect(siteAccountScripts({ role: "mirror", flavour: "mysql", user: "www-data", database: "wiki" }).create).toMatch(/IDENTIFIED WITH auth_socket/);
  });

  it("software: the server and PHP with its MySQL driver, only on web hosts", () => {
    expect(softwareFor("mirror", "debian", "mariadb", "rsync-ssh", "apache").packages).toEqual(expect.arrayContaining(["apache2", "libapache2-mod-php", "php-mysql"]));
    expect(softwareFor("mirror", "debian", "mariadb", "rsync-ssh", "nginx").services).toEqual(expect.arrayContaining(["nginx", "php-fpm"]));
    expect(softwareFor("mirror", "debian", "mariadb", "rsync-ssh").packages).not.toContain("apache2");
  });

  it("status judges what a web host answered: no answer or not 200 is critical, a file unlike the master's a warning", () => {
    const page = { url: "http://192.0.2.11/index.php", status: 200 };
    const file = { url: "http://192.0.2.11/images/logo.png", status: 200, sameAsMaster: true };
    expect(judgeWeb({ page, file }, "mirror")).toEqual({ level: "OK", reasons: [] });
    expect(webCell({ page, file })).toBe("200 /index.php\nfile ok");
    const differs = judgeWeb({ page, file: { ...file, sameAsMaster: false } }, "mirror");
    expect(differs.level).toBe("WARNING");
    expect(differs.reasons).toEqual(["web: http://192.0.2.11/images/logo.png differs from the master's copy (file sync behind?)"]);
    const down = judgeWeb({ page: { ...page, status: null, error: "connect ECONNREFUSED 192.0.2.11:80" } }, "mirror");
    expect(down).toEqual({ level: "CRITICAL", reasons: ["web: page http://192.0.2.11/index.php did not answer (connect ECONNREFUSED 192.0.2.11:80)"] });
    expect(judgeWeb({ page: { ...page, status: 500 }, file: { ...file, status: 404 } }, "master").reasons).toEqual([
      "web: page http://192.0.2.11/index.php answered HTTP 500",
      "web: mirrored file http://192.0.2.11/images/logo.png answered HTTP 404",
    ]);
    expect(webCell(undefined)).toBe("-");
  });
});
