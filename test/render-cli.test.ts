// npm run render: offline render of a stack file into a directory tree, PLAN.md index, exit 2 on a bad config.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./render-stacks";

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "infra/cli/render.ts"), ...args], { cwd: ROOT, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("render CLI", () => {
  it("writes every file of the staging stack under <out>/<host>/<path>, with PLAN.md", () => {
    const out = join(mkdtempSync(join(tmpdir(), "mirrorstack-cli-")), "staging");
    const r = cli("--stack", "staging", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^rendered 28 files for 3 hosts of stack staging/);
    const plan = readFileSync(join(out, "PLAN.md"), "utf8");
    expect(plan).toContain("## stg-db1 (master, 192.0.2.10)");
    expect(plan).toContain("[`/etc/cron.d/mirrorstack-sync`](stg-db2/etc/cron.d/mirrorstack-sync)");
    expect(readFileSync(join(out, "stg-db1/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf"), "utf8")).toMatch(/^server_id = 1$/m);
    const pass = join(out, "stg-db2/etc/mirrorstack/backup-passphrase");
    expect(readFileSync(pass, "utf8").trim().split("\n").at(-1)).toBe("[secret]");
    expect(statSync(pass).mode & 0o777).toBe(0o600);
    expect(statSync(join(out, "stg-db2/usr/local/sbin/mirrorstack-sync")).mode & 0o777).toBe(0o755);
    // placeholder: no mirror keys offline
    expect(readFileSync(join(out, "stg-db1/etc/ssh/authorized_keys/mirrorsync"), "utf8")).toContain("# mirror stg-db2 (192.0.2.11): sync key not known yet");

    // A second render replaces the first.
    writeFileSync(join(out, "stale"), "x");
    expect(cli("--stack", "staging", "--out", out).code).toBe(0);
    expect(existsSync(join(out, "stale"))).toBe(false);
  });

  it("renders the backup host of backups.push as a host of its own (prod: vault)", () => {
    const out = join(mkdtempSync(join(tmpdir(), "mirrorstack-cli-")), "prod");
    const r = cli("--stack", "prod", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^rendered \d+ files for 5 hosts of stack prod/);
    const plan = readFileSync(join(out, "PLAN.md"), "utf8");
    expect(plan).toContain("backups: on db-mirror3, pushed to vault.");
    expect(plan).toContain("## vault (backup host, 203.0.113.40)");
    expect(statSync(join(out, "vault/usr/local/lib/mirrorstack/backup-receive")).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(out, "vault/etc/ssh/authorized_keys/mirrorbackup"), "utf8")).toContain("backup push key not known yet");
  });

  it("writes block files as the block between the apply layer's markers, with a note", () => {
    const out = join(mkdtempSync(join(tmpdir(), "mirrorstack-cli-")), "prod");
    const r = cli("--stack", "prod", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    const fstab = readFileSync(join(out, "db-mirror1/etc/fstab"), "utf8");
    expect(fstab).toMatch(/^# NOTE \(render preview\): on db-mirror1 mirrorstack manages only the block below inside \/etc\/fstab;/);
    expect(fstab).toContain("# BEGIN mirrorstack managed block (stack prod)\n# This block is managed by mirrorstack (stack: prod).");
    expect(fstab.endsWith("# END mirrorstack managed block\n")).toBe(true);
  });

  it("prints one line per problem and exits 2 on a bad config", () => {
    const out = mkdtempSync(join(tmpdir(), "mirrorstack-cli-"));
    const r = cli("--stack", "bad", "--file", join(ROOT, "test/fixtures/bad-configs/bad-ipv4-octet.yaml"), "--out", join(out, "x"));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('mirrorstack:mirrors[1].address: "10.0.0.300" is not an IP address or host name\n');
    expect(existsSync(join(out, "x", "PLAN.md"))).toBe(false);
  });

  it("exits 2 on bad arguments and refuses to empty a directory it did not write", () => {
    expect(cli("--stack", "staging").code).toBe(2);
    expect(cli("--out", "/tmp/x").code).toBe(2);
    expect(cli("--stack", "../etc", "--out", "/tmp/x").code).toBe(2);
    const dir = mkdtempSync(join(tmpdir(), "mirrorstack-cli-"));
    mkdirSync(join(dir, "keep"));
    const r = cli("--stack", "staging", "--out", dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to overwrite/);
    expect(existsSync(join(dir, "keep"))).toBe(true);
  });
});
