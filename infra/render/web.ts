// The site on a host marked web: true (issue 13, "a mirror can serve the site"): the web server's virtual host on
// the host's own copy of the mirrored tree, and /etc/mirrorstack/site.php, which tells the application its role and
// whether it may write. Pure: no Pulumi, no SSH. The site's database account is made by a step
// (templates/steps/site-account.sh.hbs, MirrorHost), not a file.

import type { HostConfig, OsFamily, StackConfig } from "../config/types";
import { dbSocket, header } from "./common";
import { renderTemplate } from "./templates";
import type { FileBody, ServiceAction } from "./types";

/** Where each server reads a site, per OS family; the validator checks the candidate with the server's own parser. */
const SERVERS = {
  apache: {
    path: { debian: "/etc/apache2/sites-enabled/00-mirrorstack.conf", rhel: "/etc/httpd/conf.d/00-mirrorstack.conf" },
    // -c: the candidate is read after the whole configuration (modules loaded); the live copy, if any, is read too,
    // which only warns about an overlapping virtual host.
    // Debian's run and lock directories exist only once apache2 ran: the check gets its own, removed after.
    validate: {
      debian: [
        `. /etc/apache2/envvars`,
        `d=$(mktemp -d) || exit 1`,
        `trap 'rm -rf "$d"' EXIT`,
        `APACHE_RUN_DIR=$d APACHE_LOCK_DIR=$d APACHE_PID_FILE=$d/pid apache2 -t -c "Include $FILE"`,
      ].join("\n"),
      rhel: `httpd -t -c "Include $FILE"`,
    },
    service: "apache",
  },
  nginx: {
    path: { debian: "/etc/nginx/sites-enabled/mirrorstack.conf", rhel: "/etc/nginx/conf.d/mirrorstack.conf" },
    // The candidate alone inside a minimal http block: its own syntax and directives, without the live copy.
    validate: {
      debian: nginxValidate("/etc/nginx"),
      rhel: nginxValidate("/etc/nginx"),
    },
    service: "nginx",
  },
} as const;

function nginxValidate(dir: string): string {
  return [
    `conf=$(mktemp) || exit 1`,
    `trap 'rm -f "$conf"' EXIT`,
    `printf 'events {}\\nhttp {\\ninclude ${dir}/mime.types;\\ninclude "%s";\\n}\\n' "$FILE" > "$conf"`,
    `nginx -t -q -c "$conf" -g "pid /tmp/mirrorstack-nginx-test.pid; error_log stderr;"`,
  ].join("\n");
}

/** The OS user PHP runs as: the site's database account has its name (socket authentication). */
export function webUser(os: OsFamily, server: "apache" | "nginx"): string {
  if (os === "debian") return "www-data";
  return server === "apache" ? "apache" : "nginx";
}

/** PHP-FPM's socket (nginx): Debian's php-fpm.sock alternative points at the installed version's pool. */
function fpmSocket(os: OsFamily): string {
  return os === "rhel" ? "/run/php-fpm/www.sock" : "/run/php/php-fpm.sock";
}

/** Path of the include the application reads. */
export const SITE_INCLUDE = "/etc/mirrorstack/site.php";

export function renderWebFiles(cfg: StackConfig, host: HostConfig): FileBody[] {
  if (!host.web) return [];
  const web = cfg.web;
  const server = SERVERS[web.server];
  const os = host.osFamily;
  const common = {
    header: header(cfg.stack),
    host: host.name,
    role: host.role,
    serverName: web.serverName ?? host.address,
    documentRoot: web.documentRoot!,
    uploads: web.uploadsPath !== undefined,
    uploadsPath: web.uploadsPath ?? "",
    uploadsUrl: web.uploadsUrl.replace(/\/+$/, ""),
    fpmSocket: fpmSocket(os),
  };
  const reload: ServiceAction[] = [{ service: server.service, action: "reload" }];
  return [
    {
      path: server.path[os],
      kind: "whole",
      owner: "root",
      group: "root",
      mode: "0644",
      content: renderTemplate(web.server === "apache" ? "apache-site.conf.hbs" : "nginx-site.conf.hbs", common),
      secret: false,
      validate: server.validate[os],
      onChange: reload,
      description: `the site's ${web.server} virtual host on this host's copy of ${web.documentRoot}`,
    },
    {
      path: SITE_INCLUDE,
      kind: "whole",
      owner: "root",
      group: "root",
      mode: "0644",
      content: renderTemplate("site.php.hbs", {
        header: header(cfg.stack),
        host: host.name,
        role: host.role,
        readOnly: host.role === "mirror",
        mediawikiReadOnly: host.role === "mirror" && web.app === "mediawiki",
        readOnlyMessage: web.readOnlyMessage,
        socket: dbSocket(os),
        database: web.database,
        user: webUser(os, web.server),
      }),
      secret: false,
      validate: `php -l "$FILE" >/dev/null`,
      onChange: [],
      description: "tells the site's code its role, whether it may write, and its database account",
    },
  ];
}
