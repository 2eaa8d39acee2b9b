// End-to-end (root + lab): `npm run review` against real previews of the lab with the real engine. A stack with one
// mirror is applied; then each config change is reviewed (no change, a my.cnf value, a second mirror, NFS exports,
// re-seed, password rotation, a bad config, a weak deploying key) and the report must say exactly that. Reviews open
// no SSH session. The policy pack runs under the engine through policy/analyzer and blocks a violation.
//
// MIRRORSTACK_REVIEW_CAPTURE=1 also stores each preview (trimmed) in test/fixtures/review/ for the unit tests.
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceptedSessions, inventory, freshStack, isRoot, LAB_ID, onHost, pulumi, ROOT, skipReason, writeTestStack, type LabHost, useLab } from "./lab";

const STACK = "e2e-review";
useLab("review", { mirrors: 2, image: "prepared" });
const CNF = "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf";
const CAPTURE = process.env.MIRRORSTACK_REVIEW_CAPTURE === "1";
const FIXTURES = path.join(ROOT, "test/fixtures/review");
const WORK = path.join(ROOT, `.lab${LAB_ID ? `-${LAB_ID}` : ""}`, "review-e2e");
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

interface Review {
  code: number;
  report: string;
  stderr: string;
  json: string;
}

/** Runs a command without blocking the test worker (previews and ups take seconds). */
function run(cmd: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs `npm run review` the way a person or CI does; keeps the trimmed preview as a fixture when capturing. */
async function review(fixture: string, capture = true): Promise<Review> {
  fs.mkdirSync(WORK, { recursive: true });
  const out = path.join(WORK, `${fixture}.md`);
  const json = path.join(WORK, `${fixture}.json`);
  fs.rmSync(out, { force: true });
  fs.rmSync(json, { force: true });
  const r = await run("npm", ["run", "-s", "review", "--", "--stack", STACK, "--out", out, "--json-out", json]);
  const res = { code: r.code, report: fs.existsSync(out) ? fs.readFileSync(out, "utf8") : "", stderr: r.stderr, json: fs.existsSync(json) ? fs.readFileSync(json, "utf8") : "" };
  if (CAPTURE && capture && res.json) {
    fs.mkdirSync(FIXTURES, { recursive: true });
    fs.writeFileSync(path.join(FIXTURES, `${fixture}.json`), res.json);
  }
  return res;
}

/** The lines a report's diff of `file` (in the section of `host`) removes and adds. */
function diffLines(report: string, host: string, file: string): string[] {
  const section = hostSection(report, host);
  const at = section.indexOf(`#### \`${file}\``);
  if (at < 0) return [];
  const rest = section.slice(at);
  const m = /```diff\n([\s\S]*?)\n```/.exec(rest);
  if (!m) return [];
  return m[1]!.split("\n").filter((l) => /^[-+]/.test(l) && !/^(---|\+\+\+) /.test(l));
}

/** The Markdown of one host's section ("" when the report has none). */
function hostSection(report: string, host: string): string {
  const start = report.indexOf(`### Host \`${host}\``);
  if (start < 0) return "";
  const next = report.slice(start + 1).search(/\n### /);
  return next < 0 ? report.slice(start) : report.slice(start, start + 1 + next);
}

function sessions(hosts: readonly LabHost[]): number[] {
  return hosts.map((h) => acceptedSessions(h.name));
}

describe.skipIf(!isRoot)("npm run review (lab, real engine)", { shuffle: false }, () => {
  let hosts: LabHost[] = [];
  let master: LabHost;
  let mirror1: LabHost;
  let mirror2: LabHost;
  const base = () => ({ mirrors: [{ name: mirror1.name, address: mirror1.address }] });
  const write = (extra: Record<string, unknown> = {}) => writeTestStack(STACK, { ...base(), ...extra });

  beforeAll(async () => {
    // Two lab mirrors: the stack manages one, the review adds the second.
    hosts = inventory().hosts;
    master = hosts.find((h) => h.role === "master")!;
    mirror1 = hosts.find((h) => h.name === "mirror1")!;
    mirror2 = hosts.find((h) => h.name === "mirror2")!;
    write();
    await freshStack(STACK);
  });

  afterAll(async () => {
    write();
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
  });

  it("reviews the first deployment: every file of every host is new, and the mirror is seeded", async () => {
    const r = await review("initial");
    expect(r.code, r.stderr).toBe(0);
    expect(hostSection(r.report, master.name)).toContain(`#### \`${CNF}\` — new`);
    expect(hostSection(r.report, mirror1.name)).toContain("#### `/etc/mirrorstack/backup-passphrase` — new");
    expect(hostSection(r.report, mirror1.name)).toContain("Content: [secret] (secret; not shown)");
    expect(r.report).toContain(`**new mirror** \`${mirror1.name}\``);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
  });

  it("no change: one line, and no SSH session on any host", async () => {
    const before = sessions(hosts);
    const r = await review("nochange");
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatch(/^No changes: stack `e2e-review` is up to date \(\d+ resources unchanged; policy: 7 rules checked, no violations\)\.\n$/);
    expect(r.report.trim().split("\n")).toHaveLength(1);
    // The providers' diff is local: a review needs no SSH key and logs in nowhere.
    expect(sessions(hosts)).toEqual(before);
  });

  it("a changed my.cnf value: exactly that line on the master, applied live (no restart)", async () => {
    write({ database: { databases: ["wiki"], binlogRetentionDays: 9 } });
    const before = sessions(hosts);
    const r = await review("mycnf");
    expect(r.code, r.stderr).toBe(0);
    expect(diffLines(r.report, master.name, CNF)).toEqual(["-binlog_expire_logs_seconds = 604800", "+binlog_expire_logs_seconds = 777600"]);
    // binlog_expire_logs_seconds changes at run time: the report says so, from the provider's check.
    expect(hostSection(r.report, master.name)).toContain(`- \`mariadb\` options applied live (SET GLOBAL), no restart — after \`${CNF}\``);
    expect(hostSection(r.report, master.name)).not.toContain("`mariadb` restart");
    // Only the master changes (its my.cnf, and the purge job that names the retention); no mirror, no replication.
    expect(hostSection(r.report, mirror1.name)).toBe("");
    expect(r.report).not.toContain("### Replication");
    expect(sessions(hosts)).toEqual(before);
  });

  it("a new mirror: its files and its replication; no other host's service is touched", async () => {
    write({ mirrors: [{ name: mirror1.name, address: mirror1.address }, { name: mirror2.name, address: mirror2.address }] });
    const r = await review("new-mirror");
    expect(r.code, r.stderr).toBe(0);
    const m2 = hostSection(r.report, mirror2.name);
    expect(m2).toContain(`#### \`${CNF}\` — new`);
    expect(m2).toContain("+read_only = ON");
    expect(m2).toContain("+server_id = 101");
    expect(m2).toContain("- `mariadb` restart");
    // The master's binlog purge job lists the mirrors it waits for: that script changes, nothing restarts there.
    const m = hostSection(r.report, master.name);
    expect(m.match(/^#### .*$/gm)).toEqual([expect.stringMatching(/^#### `\/usr\/local\/sbin\/mirrorstack-binlog-purge` — updated, /)]);
    expect(diffLines(r.report, master.name, "/usr/local/sbin/mirrorstack-binlog-purge")).toContain(`+readonly MIRRORS=('${mirror1.name}' '${mirror2.name}')`);
    expect(m).not.toContain("Services that would restart");
    expect(hostSection(r.report, mirror1.name)).toBe("");
    expect(r.report).toContain(`**new mirror** \`${mirror2.name}\`: seeded from \`${master.name}\``);
    expect(r.report).toContain(`\`GRANT REPLICATION SLAVE ON *.* TO 'mirrorstack_repl'@'${mirror2.address}'\``);
    expect(r.report).toMatch(/Preview: \d+ to create, 1 to update, \d+ unchanged\./);
  });

  it("NFS exports: a new export on a files.method nfs stack (preview only: it touches no host)", async () => {
    const before = sessions(hosts);
    write({ files: { method: "nfs", trees: ["/srv/www"] }, nfs: { exports: [{ path: "/srv/www" }] } });
    const r = await review("nfs-new");
    expect(r.code, r.stderr).toBe(0);
    const m = hostSection(r.report, master.name);
    expect(m).toContain("#### `/etc/exports` — new");
    expect(m).toContain(`+/srv/www ${mirror1.address}(ro,sync,root_squash,no_subtree_check,secure)`);
    // Re-exported during up: by the file's own action, or by the step that makes the NFS files live.
    expect(m).toContain("exportfs -ra");
    expect(m).toContain("#### `/etc/hosts.allow` — new, managed block");
    expect(hostSection(r.report, mirror1.name)).toContain("#### `/etc/fstab` — new, managed block");
    expect(hostSection(r.report, mirror1.name)).toContain(`+${master.address}:/srv/www /mnt/mirrorstack/srv/www nfs ro,`);
    // The job that copies the mount into the local /srv/www.
    expect(hostSection(r.report, mirror1.name)).toContain("#### `/usr/local/sbin/mirrorstack-sync` — new");
    expect(sessions(hosts)).toEqual(before);
  });

  it("NFS exports: a changed export shows the exports diff and what applies it", async () => {
    // Only /etc/exports is applied (the lab runs no nfsd); its URN comes from the preview of the NFS stack.
    expect(onHost(master.name, "mkdir -p /srv/www").code).toBe(0);
    write({ files: { method: "nfs", trees: ["/srv/www"] }, nfs: { exports: [{ path: "/srv/www" }] } });
    const first = await review("nfs-first", false);
    const urn = (JSON.parse(first.json) as { steps: { urn: string }[] }).steps.map((s) => s.urn).find((u) => u.endsWith(`::${master.name}-etc-exports`));
    expect(urn).toBeDefined();
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK, "--target", urn!]);
    expect(up.code, up.out).toBe(0);
    const subnet = `${mirror1.address.split(".").slice(0, 3).join(".")}.0/24`;
    write({ files: { method: "nfs", trees: ["/srv/www"] }, nfs: { exports: [{ path: "/srv/www", clients: [subnet], sync: false }] } });
    const r = await review("nfs-change");
    expect(r.code, r.stderr).toBe(0);
    expect(diffLines(r.report, master.name, "/etc/exports")).toEqual([
      `-/srv/www ${mirror1.address}(ro,sync,root_squash,no_subtree_check,secure)`,
      `+/srv/www ${subnet}(ro,async,root_squash,no_subtree_check,secure)`,
    ]);
    const m = hostSection(r.report, master.name);
    expect(m).toContain("#### `/etc/exports` — updated, −1 +1 lines");
    expect(m).toMatch(/`exportfs -ra` \(re-export\) — after `\/etc\/exports`|\n- `[^`]*nfs[^`]*` \((new|updated)\): runs/);
  });

  it("a re-seed (new reseed token) is a replace of the mirror's replication", async () => {
    // Back to the applied stack: /etc/exports is put back first.
    write();
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    expect(onHost(master.name, "rmdir /srv/www").code).toBe(0);
    writeTestStack(STACK, { mirrors: [{ name: mirror1.name, address: mirror1.address, reseed: "r20261121" }] });
    const r = await review("reseed");
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toContain(`**re-seed** of \`${mirror1.name}\` (replace, because \`seedToken\` changed)`);
    expect(r.report).toContain("`seedToken`: \"\" → r20261121");
    expect(hostSection(r.report, master.name)).toBe("");
  });

  it("a password rotation shows [secret] and never a password", async () => {
    write();
    const oldPw = (await pulumi(["config", "get", "replicationPassword", "--stack", STACK])).out.trim().split("\n")[0]!;
    const newPw = "Rotated-Lab-Passw0rd-" + Date.now().toString(36);
    const set = await pulumi(["config", "set", "--secret", "replicationPassword", newPw, "--stack", STACK]);
    expect(set.code, set.out).toBe(0);
    const backup = (await pulumi(["config", "get", "backupPassphrase", "--stack", STACK])).out.trim().split("\n")[0]!;
    const r = await review("rotation");
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toContain(`**password rotation** for \`${mirror1.name}\``);
    expect(r.report).toContain("[secret]");
    for (const secret of [oldPw, newPw, backup]) {
      expect(secret.length).toBeGreaterThan(8);
      expect(r.report).not.toContain(secret);
      expect(r.json).not.toContain(secret);
    }
    write(); // the committed lab secret again
  });

  it("a failed preview exits non-zero and prints the engine's error", async () => {
    write({ database: { databases: ["wiki"], binlogFormat: "MIXED" } });
    const r = await review("failed");
    expect(r.code).toBe(1);
    expect(r.report).toContain("the preview failed");
    expect(r.report).toContain("mirrorstack:database.binlogFormat: MIXED can make mirrors diverge");
    expect(r.stderr).toContain("database.binlogFormat");
    write();
  });

  it("a policy violation (a 2048-bit RSA deploying key): the review exits 3, the engine's policy pack blocks the preview", async () => {
    const key = path.join(WORK, "weak_rsa");
    fs.rmSync(key, { force: true });
    fs.rmSync(`${key}.pub`, { force: true });
    execFileSync("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", key]);
    const sshCfg = { user: "root", port: 22, privateKeyPath: path.relative(ROOT, key), knownHostsPath: `.lab${LAB_ID ? `-${LAB_ID}` : ""}/known_hosts` };
    write({ ssh: sshCfg });
    const r = await review("weak-key");
    expect(r.code, r.stderr).toBe(3);
    expect(r.report).toContain("### Policy: 1 violation");
    expect(r.report).toMatch(/`ssh-key-strength` — host `master, mirror1`, key `ssh.privateKeyPath`: .* is a 2048-bit RSA key; at least 3072 bits are required/);
    // The same rule inside the engine: the pack starts as an analyzer plugin (absolute path) and fails the preview.
    const p = await pulumi(["preview", "--stack", STACK, "--policy-pack", path.join(ROOT, "policy/analyzer")]);
    expect(p.code, p.out).not.toBe(0);
    expect(p.out).toContain("mirrorstack@v0.1.0");
    expect(p.out).toMatch(/\[mandatory\]\s+ssh-key-strength/);
    expect(p.out).toContain("config key: ssh.privateKeyPath");
    write();
    const ok = await pulumi(["preview", "--stack", STACK, "--policy-pack", path.join(ROOT, "policy/analyzer")]);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/✅ mirrorstack@v0\.1\.0/);
  });
});
