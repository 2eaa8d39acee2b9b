// End-to-end (root + lab): apply is atomic, validated, reviewable, reversible and survives being killed.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostFileProvider, type HostFileState } from "../../infra/providers/hostFile";
import { acceptedSessions, inventory, isRoot, labTarget, onHost, pulumi, ROOT, freshStack, skipReason, stackExportText, writeTestStack, useLab } from "./lab";

const STACK = "e2e-safety";
useLab("safety", { mirrors: 1, image: "prepared" });
const CNF = "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf";
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

const target = labTarget;
const sha = (host: string, file: string) => onHost(host, `sha256sum ${file} | cut -d' ' -f1`).stdout.trim();
const mariadbPid = (host: string) => onHost(host, "cat /run/mysqld/mysqld.pid").stdout.trim();
/** The master's my.cnf drop-in as a HostFile with the given content and validator (restart on change). */
const masterCnf = (content: string, validate: string): HostFileState => ({
  target: target("master"),
  stack: STACK,
  path: CNF,
  kind: "whole",
  owner: "root",
  group: "root",
  mode: "0644",
  content,
  validate,
  actions: ["mariadb:restart"],
});
/** Every process below `pid`, children first found through /proc (to stop a killed run's plugins by PID). */
function descendants(pid: number): number[] {
  const out = spawnSync("ps", ["-eo", "pid=,ppid="], { encoding: "utf8" }).stdout;
  const kids = new Map<number, number[]>();
  for (const line of out.trim().split("\n")) {
    const [c, p] = line.trim().split(/\s+/).map(Number);
    kids.set(p, [...(kids.get(p) ?? []), c]);
  }
  const all: number[] = [];
  const walk = (p: number) => (kids.get(p) ?? []).forEach((c) => (all.push(c), walk(c)));
  walk(pid);
  return all;
}
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^Z/.test(spawnSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" }).stdout.trim());
  } catch {
    return false;
  }
}
const up = (...extra: string[]) => pulumi(["up", "--yes", "--skip-preview", "--stack", STACK, ...extra]);

describe.skipIf(!isRoot)("safe apply (lab)", { shuffle: false }, () => {
  beforeAll(async () => {
    writeTestStack(STACK);
    await freshStack(STACK);
    const first = await up();
    expect(first.code, first.out).toBe(0);
  });

  afterAll(async () => {
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
  });

  it("a file its validator rejects leaves the old file and the running service untouched", async () => {
    const before = sha("master", CNF);
    const pid = mariadbPid("master");
    const state = masterCnf("[mysqld]\nthis_option_does_not_exist = 1\n", 'mariadbd --defaults-file="$FILE" --help --verbose >/dev/null');
    await expect(hostFileProvider.update!("x", state, state)).rejects.toThrow(/\[master\].*rejected by its validator/s);
    expect(sha("master", CNF)).toBe(before);
    expect(mariadbPid("master")).toBe(pid);
    expect(onHost("master", `ls -a ${path.dirname(CNF)} | grep -c '^.mirrorstack' || true`).stdout.trim()).toBe("0");
  });

  it("a file the service cannot start with is rolled back and the service brought back", async () => {
    const before = sha("master", CNF);
    const state = masterCnf("[mysqld]\ndatadir = /nonexistent/mirrorstack\n", "");
    await expect(hostFileProvider.update!("x", state, state)).rejects.toThrow(/restart of mariadb failed[\s\S]*restored the previous/);
    expect(sha("master", CNF)).toBe(before);
    expect(onHost("master", "mariadb-admin ping").code).toBe(0);
  }, 120_000);

  it("a live option change is applied with SET GLOBAL; against a hand-edited file it restarts instead", async () => {
    const now = onHost("master", `cat ${CNF}`).stdout;
    const withMax = (n: number) => `${now}max_connections = ${n}\n`;
    const st = (content: string): HostFileState => ({ ...masterCnf(content, ""), actions: ["mariadb:settings"] });
    const maxConnections = () => onHost("master", "mariadb -N -e 'SELECT @@GLOBAL.max_connections'").stdout.trim();
    const pid = mariadbPid("master");
    await hostFileProvider.update!("x", st(now), st(withMax(150)));
    expect([mariadbPid("master"), maxConnections()]).toEqual([pid, "150"]);
    // The host's file is not the one the change was planned against: SET GLOBAL could miss the hand edit.
    expect(onHost("master", `echo 'max_connections = 170' >> ${CNF}`).code).toBe(0);
    await hostFileProvider.update!("x", st(withMax(150)), st(withMax(160)));
    expect(mariadbPid("master")).not.toBe(pid);
    expect(maxConnections()).toBe("160");
    await hostFileProvider.update!("x", st(withMax(160)), st(now));
  }, 120_000);

  it("one changed value changes only its file, shows a line diff and 'applied live' in preview, and restarts no server", async () => {
    writeTestStack(STACK, { database: { databases: ["wiki"], binlogRetentionDays: 3 } });
    const prev = await pulumi(["preview", "--diff", "--stack", STACK]);
    expect(prev.code, prev.out).toBe(0);
    expect(prev.out).toMatch(/-\s+binlog_expire_logs_seconds = 604800/);
    expect(prev.out).toMatch(/\+\s+binlog_expire_logs_seconds = 259200/);
    // binlog_expire_logs_seconds can change at run time: the preview says how the change reaches the server.
    expect(prev.out).toMatch(/applies\s*:.*=> "applied live, no restart: SET GLOBAL binlog_expire_logs_seconds = 259200"/);
    // Only the master's resources change (its my.cnf, and the purge script that names the retention).
    const updates = prev.out.split("(update)").slice(1).map((chunk) => /::([\w.-]+)\]/.exec(chunk)?.[1] ?? "");
    expect(updates.length).toBeGreaterThan(0);
    for (const u of updates) expect(u, "only master resources update").toMatch(/^master-/);
    const mirrors = inventory().hosts.filter((h) => h.role === "mirror").map((h) => h.name);
    const mirrorSessions = mirrors.map(acceptedSessions);
    const mirrorPids = mirrors.map(mariadbPid);
    const masterPid = mariadbPid("master");
    const r = await up();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(new RegExp(`~ ${updates.length} updated`));
    expect(onHost("master", `grep binlog_expire_logs_seconds ${CNF}`).stdout).toContain("259200");
    expect(mirrors.map(acceptedSessions)).toEqual(mirrorSessions);
    expect(mirrors.map(mariadbPid)).toEqual(mirrorPids);
    // Applied with SET GLOBAL: the master's server kept running and has the new value.
    expect(mariadbPid("master")).toBe(masterPid);
    expect(onHost("master", "mariadb -N -e 'SELECT @@GLOBAL.binlog_expire_logs_seconds'").stdout.trim()).toBe("259200");
  });

  it("a hand-edited managed file is reported by refresh and put back by the next up --refresh", async () => {
    const good = sha("mirror1", CNF);
    expect(onHost("mirror1", `echo '# hand edit' >> ${CNF}`).code).toBe(0);
    const drift = await pulumi(["preview", "--refresh", "--diff", "--stack", STACK]);
    expect(drift.code, drift.out).toBe(0);
    expect(drift.out).toMatch(/mirror1-etc-mysql-mariadb\.conf\.d-60-mirrorstack\.cnf/);
    expect(drift.out).toContain("# hand edit");
    const r = await up("--refresh");
    expect(r.code, r.out).toBe(0);
    expect(sha("mirror1", CNF)).toBe(good);
  });

  it("an up killed with SIGKILL midway is followed by an up that converges and leaves no temp files", async () => {
    writeTestStack(STACK, { database: { databases: ["wiki"], binlogRetentionDays: 4 }, cron: { healthCheck: "*/7 * * * *" } });
    // One step at a time (--parallel 1), killed while the master's my.cnf is being validated on the host (its
    // temp file exists): midway through a file's apply, and never while the engine saves its checkpoint. A kill
    // during that save truncates the file backend's state (`failed to load checkpoint: EOF`), a separate hazard.
    const child = spawn("bash", [path.join(ROOT, "scripts/pulumi.sh"), "up", "--yes", "--skip-preview", "--parallel", "1", "--stack", STACK], {
      cwd: ROOT,
      stdio: "ignore",
    });
    let exited = false;
    child.on("exit", () => (exited = true));
    const tempOnMaster = () => onHost("master", `ls -a ${path.dirname(CNF)} | grep -c '^\\.mirrorstack\\.' || true`).stdout.trim() !== "0";
    for (let i = 0; i < 3000 && !exited && !tempOnMaster(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(exited, "the up finished before it could be killed midway").toBe(false);
    // The engine starts its plugins (language host, program, dynamic providers) in process groups of their own,
    // so killing the CLI's group would orphan them: kill the whole tree it started, by PID.
    const signal = (pids: number[], sig: NodeJS.Signals) =>
      pids.forEach((pid) => {
        try {
          process.kill(pid, sig);
        } catch {
          // already gone
        }
      });
    // Freeze first so nothing new is started between listing the tree and killing it.
    const first = [child.pid!, ...descendants(child.pid!)];
    signal(first, "SIGSTOP");
    const tree = [...new Set([...first, ...descendants(child.pid!)])];
    signal(tree, "SIGKILL");
    await new Promise((r) => child.on("close", r));
    // SIGKILL is delivered at once but a process takes a moment to finish exiting (a node process tears down its
    // memory): allow a few seconds before calling one left over.
    for (let i = 0; i < 50 && tree.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    expect(tree.filter(alive), "no process of the killed run is left").toEqual([]);
    // A killed engine leaves the stack locked: `pulumi cancel` is the documented way to release it.
    await pulumi(["cancel", "--yes", "--stack", STACK]);
    const again = await up();
    expect(again.code, again.out).toBe(0);
    const final = await up();
    expect(final.out).not.toMatch(/\b\d+ (created|updated|replaced|deleted)\b/);
    for (const h of inventory().hosts) {
      const left = onHost(h.name, "find /etc /usr/local -name '.mirrorstack.*' 2>/dev/null | wc -l");
      expect(left.stdout.trim(), `${h.name} temp files`).toBe("0");
    }
    expect(onHost("master", `grep binlog_expire_logs_seconds ${CNF}`).stdout).toContain(String(4 * 86400));
  });

  it("an unreachable host fails with its name and address; the other hosts' work completes", async () => {
    const inv = inventory();
    const m = inv.hosts.filter((h) => h.role === "mirror").map((h) => ({ name: h.name, address: h.address }));
    const subnet = inv.hosts[0].address.split(".").slice(0, 3).join(".");
    writeTestStack(STACK, { mirrors: [...m, { name: "ghost", address: `${subnet}.99` }], database: { databases: ["wiki"], binlogRetentionDays: 5 } });
    const r = await up();
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(new RegExp(`\\[ghost\\] cannot reach root@${subnet.replace(/\./g, "\\.")}\\.99:22`));
    // The master's change still landed.
    expect(onHost("master", `grep binlog_expire_logs_seconds ${CNF}`).stdout).toContain(String(5 * 86400));
    writeTestStack(STACK);
  }, 300_000);

  it("a key in a misspelt namespace fails preview and up with the key named, before any host is touched", async () => {
    writeTestStack(STACK);
    const file = path.join(ROOT, `stacks/Pulumi.${STACK}.yaml`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const YAML = require("yaml") as typeof import("yaml");
    const doc = YAML.parse(fs.readFileSync(file, "utf8"));
    doc.config["mirrorstak:backups"] = { enabled: false };
    fs.writeFileSync(file, YAML.stringify(doc));
    const hosts = inventory().hosts.map((h) => h.name);
    const before = hosts.map(acceptedSessions);
    try {
      for (const cmd of [["preview"], ["up", "--yes", "--skip-preview"]]) {
        const r = await pulumi([...cmd, "--stack", STACK]);
        expect(r.code, cmd[0]).not.toBe(0);
        expect(r.out).toContain('mirrorstak:backups: unknown namespace "mirrorstak" (did you mean mirrorstack:backups?)');
      }
      expect(hosts.map(acceptedSessions)).toEqual(before);
    } finally {
      writeTestStack(STACK);
    }
  });

  it("the stack export holds no secret in plain text", async () => {
    const exp = await stackExportText(STACK);
    for (const key of ["replicationPassword", "backupPassphrase"]) {
      const v = (await pulumi(["config", "get", key, "--stack", STACK])).out.trim();
      expect(v.length).toBeGreaterThan(8);
      expect(exp, key).not.toContain(v);
    }
  });
});
