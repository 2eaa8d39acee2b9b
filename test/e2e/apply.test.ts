// End-to-end (root + lab): the real engine applies the rendered files over SSH, a second `up` changes
// nothing and opens no SSH session, and `destroy` puts every original back.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceptedSessions, inventory, isRoot, onHost, pulumi, freshStack, ROOT, skipReason, writeTestStack, useLab } from "./lab";

const STACK = "e2e-apply";
useLab("apply", { mirrors: 1, image: "bare" });
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

function sha(host: string, file: string): string {
  const r = onHost(host, `if [ -e ${file} ]; then sha256sum ${file} | cut -d' ' -f1; else echo absent; fi`);
  return r.stdout.trim();
}

/** Every file mirrorstack manages on each host, as the offline render lists them. */
function managedFiles(stack: string): Record<string, string[]> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-apply-render-"));
  try {
    execFileSync("node", ["--import", "tsx", "infra/cli/render.ts", "--stack", stack, "--out", out], { cwd: ROOT, stdio: "pipe" });
    const files: Record<string, string[]> = {};
    for (const host of fs.readdirSync(out).filter((d) => fs.statSync(path.join(out, d)).isDirectory())) {
      const dir = path.join(out, host);
      files[host] = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).map((f) => `/${f}`);
    }
    return files;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

describe.skipIf(!isRoot)("apply over SSH (lab)", { shuffle: false }, () => {
  // The bare hosts start without MariaDB, cron or logrotate: mirrorstack's software step installs them. The
  // packages stay after destroy, as they would after an operator's apt-get; every file mirrorstack writes goes.
  let watched: Record<string, string[]> = {};
  const before: Record<string, Record<string, string>> = {};

  beforeAll(async () => {
    writeTestStack(STACK);
    await freshStack(STACK);
    watched = managedFiles(STACK);
    for (const h of inventory().hosts) {
      expect(watched[h.name]?.length, `managed files of ${h.name}`).toBeGreaterThan(3);
      before[h.name] = Object.fromEntries(watched[h.name]!.map((f) => [f, sha(h.name, f)]));
      // A freshly installed server: no database, no cron, no logrotate yet.
      expect(onHost(h.name, "command -v mariadbd || command -v cron || command -v logrotate").code, h.name).not.toBe(0);
    }
  });

  afterAll(async () => {
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
  });

  it("first up writes each host's my.cnf drop-in with its own server-id", async () => {
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    const ids = new Set<string>();
    for (const h of inventory().hosts) {
      const r = onHost(h.name, "cat /etc/mysql/mariadb.conf.d/60-mirrorstack.cnf");
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("managed by mirrorstack");
      const id = /server[-_]id\s*=\s*(\d+)/.exec(r.stdout)?.[1];
      expect(id, `${h.name} server-id`).toBeDefined();
      ids.add(id!);
      // The running server took the file: its server_id is the rendered one.
      const live = onHost(h.name, "mariadb -N -B -e 'select @@server_id'");
      expect(live.stdout.trim()).toBe(id);
    }
    expect(ids.size).toBe(inventory().hosts.length);
    // The software step installed and started what the hosts lacked, through systemd as on any Debian server.
    for (const h of inventory().hosts) {
      expect(onHost(h.name, "systemctl is-active mariadb cron").stdout, h.name).toBe("active\nactive\n");
      expect(onHost(h.name, "command -v logrotate").code, h.name).toBe(0);
    }
    expect(onHost("master", "systemctl is-active ssh").stdout).toBe("active\n");
  });

  it("second up reports no changes and opens no SSH session", async () => {
    const hosts = inventory().hosts.map((h) => h.name);
    const sessions = hosts.map(acceptedSessions);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    expect(up.out).not.toMatch(/\b\d+ (created|updated|replaced|deleted)\b/);
    expect(up.out).toMatch(/\d+ unchanged/);
    expect(hosts.map(acceptedSessions)).toEqual(sessions);
  });

  it("destroy restores every original byte for byte", async () => {
    const d = await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    expect(d.code, d.out).toBe(0);
    for (const h of inventory().hosts) {
      const after = Object.fromEntries(watched[h.name]!.map((f) => [f, sha(h.name, f)]));
      expect(after, h.name).toEqual(before[h.name]);
    }
  });
});
