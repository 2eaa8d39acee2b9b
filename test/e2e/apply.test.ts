// End-to-end (root + lab): the real engine applies the rendered files over SSH, a second `up` changes
// nothing and opens no SSH session, and `destroy` puts every original back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceptedSessions, inventory, isRoot, onHost, pulumi, freshStack, skipReason, writeTestStack, useLab } from "./lab";

const STACK = "e2e-apply";
useLab("apply", { mirrors: 1, image: "bare" });
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

function sha(host: string, file: string): string {
  const r = onHost(host, `if [ -e ${file} ]; then sha256sum ${file} | cut -d' ' -f1; else echo absent; fi`);
  return r.stdout.trim();
}

describe.skipIf(!isRoot)("apply over SSH (lab)", () => {
  const watched = ["/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf", "/etc/fstab", "/etc/crontab"];
  const before: Record<string, Record<string, string>> = {};

  beforeAll(async () => {
    writeTestStack(STACK);
    await freshStack(STACK);
    for (const h of inventory().hosts) {
      before[h.name] = Object.fromEntries(watched.map((f) => [f, sha(h.name, f)]));
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
      const after = Object.fromEntries(watched.map((f) => [f, sha(h.name, f)]));
      expect(after, h.name).toEqual(before[h.name]);
    }
  });
});
