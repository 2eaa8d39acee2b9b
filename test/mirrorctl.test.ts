// mirrorctl without hosts: argument parsing, output and exit codes, key audit, drift comparison, job scripts.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../infra/cli/mirrorctl";
import { execCommandLine, parseArgs, UsageError } from "../infra/ops/args";
import { appliedText, compareDrift, DRIFT_SCRIPT, formatDrift, parseDriftOutput, sha256 } from "../infra/ops/drift";
import { formatExec } from "../infra/ops/exec";
import { parseDf } from "../infra/ops/hosts";
import { auditKeyFile, keyBits, KEYS_SCRIPT, parseKeyLine, parseKeysOutput, splitOptions } from "../infra/ops/keys";
import { levelExit, mapLimit, table, worst } from "../infra/ops/output";
import { positionReport } from "../infra/ops/positions";
import { formatDecision } from "../infra/ops/purge";
import { parseCheckOutput } from "../infra/ops/repair";
import { oneGroup } from "../infra/ops/skip";
import { formatStatus, formatStatusMetrics, judgeDisks, judgeSync, lagThresholds, type HostStatus } from "../infra/ops/status";
import { comparePositions, describeDifferences } from "../infra/ops/verify";
import { decidePurge } from "../infra/replication/purge";
import type { ReplicaStatus } from "../infra/replication/status";
import type { FileBody } from "../infra/render/types";
import { renderStack } from "../infra/render";
import { PATHS } from "../infra/render/common";
import { loadStack, MIRROR_KEYS } from "./render-stacks";
import { dsaKeyLine, ed25519Line, rsaKeyLine } from "./fixtures/ssh-keys";
import { toolPath } from "./tools";

function usage(argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`no usage error for ${argv.join(" ")}`);
}

describe("mirrorctl arguments", () => {
  it("parses each command with its options", () => {
    expect(parseArgs(["status", "--stack", "prod"])).toMatchObject({ command: "status", stack: "prod", json: false, parallel: 8 });
    expect(parseArgs(["status", "--stack=prod", "--json", "--parallel", "3"])).toMatchObject({ json: true, parallel: 3 });
    expect(parseArgs(["exec", "--stack", "prod", "--hosts", "db2,db3", "--", "df", "-h", "/"])).toMatchObject({
      command: "exec",
      hosts: ["db2", "db3"],
      yes: false,
      commandWords: ["df", "-h", "/"],
    });
    expect(parseArgs(["exec", "--stack", "p", "--yes", "--", "--version"]).commandWords).toEqual(["--version"]);
    expect(parseArgs(["verify", "--stack", "p", "--chunk-size", "500", "--timeout", "60"])).toMatchObject({ chunkSize: 500, timeoutSeconds: 60 });
    expect(parseArgs(["restore", "--stack", "p", "--host", "db2", "--to", "scratch_1", "--keep"])).toMatchObject({ host: "db2", to: "scratch_1", keep: true });
    expect(parseArgs(["purge-binlogs", "--stack", "p", "--dry-run"]).dryRun).toBe(true);
    expect(parseArgs(["purge-binlogs", "--stack", "p", "--record-only"])).toMatchObject({ recordOnly: true, dryRun: false });
    expect(parseArgs(["purge-binlogs", "--stack", "p"])).toMatchObject({ recordOnly: false, dryRun: false });
    expect(parseArgs(["reseed", "--stack", "p", "--host", "db2", "--yes"]).yes).toBe(true);
    expect(parseArgs(["status", "--stack", "p"]).format).toBe("text");
    expect(parseArgs(["status", "--stack", "p", "--format", "prometheus"]).format).toBe("prometheus");
    expect(parseArgs(["status", "--stack", "p", "--format=text", "--json"])).toMatchObject({ format: "text", json: true });
  });

  it("refuses bad arguments with a clear message", () => {
    expect(usage([])).toMatch(/no command/);
    expect(usage(["frobnicate", "--stack", "p"])).toMatch(/unknown command "frobnicate"/);
    expect(usage(["status"])).toMatch(/--stack is required/);
    expect(usage(["status", "--stack", "a b"])).toMatch(/bad stack name/);
    expect(usage(["status", "--stack", "p", "--yes"])).toMatch(/status does not take --yes/);
    expect(usage(["exec", "--stack", "p"])).toMatch(/exec needs a command after --/);
    expect(usage(["exec", "--stack", "p", "--"])).toMatch(/exec needs a command/);
    expect(usage(["exec", "--stack", "p", "uptime"])).toMatch(/put the command after --/);
    expect(usage(["status", "--stack", "p", "--", "x"])).toMatch(/takes no command/);
    expect(usage(["repair", "--stack", "p"])).toMatch(/needs --host/);
    expect(usage(["skip-event", "--stack", "p", "--host", "Bad_Host"])).toMatch(/not a host name/);
    expect(usage(["reseed", "--stack", "p", "--host", "db2"])).toMatch(/add --yes/);
    expect(usage(["restore", "--stack", "p", "--host", "db2"])).toMatch(/needs --to/);
    expect(usage(["restore", "--stack", "p", "--host", "db2", "--to", "x;drop"])).toMatch(/scratch database name/);
    expect(usage(["restore", "--stack", "p", "--host", "db2", "--to", "s", "--backup", "../etc"])).toMatch(/not a backup name/);
    expect(usage(["status", "--stack", "p", "--parallel", "0"])).toMatch(/--parallel must be/);
    expect(usage(["verify", "--stack", "p", "--chunk-size"])).toMatch(/needs a value/);
    expect(usage(["status", "--stack", "p", "--stack", "q"])).toMatch(/given twice/);
    expect(usage(["keys", "--stack", "p", "--json=1"])).toMatch(/takes no value/);
    expect(usage(["purge-binlogs", "--stack", "p", "--dry-run", "--record-only"])).toMatch(/give one of them/);
    expect(usage(["status", "--stack", "p", "--record-only"])).toMatch(/status does not take --record-only/);
    expect(usage(["status", "--stack", "p", "--format", "json"])).toMatch(/--format "json": give one of text, prometheus/);
    expect(usage(["status", "--stack", "p", "--format", "prometheus", "--json"])).toMatch(/--json and --format prometheus are two outputs/);
    expect(usage(["verify", "--stack", "p", "--format", "prometheus"])).toMatch(/verify does not take --format/);
  });

  it("builds the remote command line: one word as a shell line, several quoted word by word", () => {
    expect(execCommandLine(["uptime; df -h"])).toBe("uptime; df -h");
    expect(execCommandLine(["ls", "-l", "/tmp/a b", "it's"])).toBe("ls -l '/tmp/a b' 'it'\\''s'");
  });

  it("main(): bad arguments exit 2 and touch nothing (no stack file is even read)", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t) };
    expect(await main(["exec", "--stack", "does-not-exist"], io)).toBe(2);
    expect(err.join("")).toMatch(/exec needs a command/);
    expect(await main(["nope"], io)).toBe(2);
    expect(await main(["status", "--stack", "does-not-exist-either"], io)).toBe(2);
    expect(err.join("")).toMatch(/no stack file/);
    expect(await main(["status", "--stack", "does-not-exist-either", "--json"], io)).toBe(2);
    expect(JSON.parse(out[out.length - 1]!)).toMatchObject({ command: "status", exitCode: 2 });
    expect(await main(["--help"], io)).toBe(0);
    expect(out[out.length - 1]).toMatch(/status \[--format text\|prometheus\]/);
  });
});

describe("output", () => {
  it("aligns tables, multi-line cells included", () => {
    expect(table(["A", "BB"], [["xxx", "1\n2"], ["y", "3"]])).toBe("A    BB\nxxx  1\n     2\ny    3");
  });

  it("maps levels to monitoring exit codes", () => {
    expect(worst([])).toBe("OK");
    expect(worst(["OK", "WARNING", "OK"])).toBe("WARNING");
    expect(worst(["WARNING", "CRITICAL"])).toBe("CRITICAL");
    expect([levelExit("OK"), levelExit("WARNING"), levelExit("CRITICAL")]).toEqual([0, 1, 2]);
  });

  it("mapLimit keeps order and never exceeds the limit", async () => {
    let running = 0;
    let peak = 0;
    const r = await mapLimit([5, 1, 3, 2, 4], 2, async (x) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((res) => setTimeout(res, x * 3));
      running--;
      return x * 10;
    });
    expect(r).toEqual([50, 10, 30, 20, 40]);
    expect(peak).toBe(2);
  });
});

const replica = (over: Partial<ReplicaStatus> = {}): ReplicaStatus => ({
  flavour: "mariadb",
  ioRunning: true,
  ioConnecting: false,
  sqlRunning: true,
  secondsBehind: 0,
  sqlDelay: 0,
  lastIoErrno: 0,
  lastIoError: null,
  lastSqlErrno: 0,
  lastSqlError: null,
  sourceHost: "10.0.0.10",
  sourcePort: 3306,
  sourceUser: "mirrorstack_repl",
  readFile: "mysql-bin.000002",
  readPos: 900,
  execFile: "mysql-bin.000002",
  execPos: 900,
  usingGtid: false,
  gtidReceived: null,
  gtidExecuted: null,
  gtid: null,
  sqlState: null,
  ioState: null,
  ...over,
});

describe("status", () => {
  const cfg = loadStack("staging");

  it("takes its lag thresholds from health.maxReplicationLagSeconds", () => {
    expect(lagThresholds(cfg)).toEqual({ warn: Math.ceil(cfg.health.maxReplicationLagSeconds / 2), crit: cfg.health.maxReplicationLagSeconds });
  });

  it("judges the file sync and the disks", () => {
    expect(judgeSync({ configured: false }, 60).level).toBe("OK");
    expect(judgeSync({ configured: true, lastRun: null }, 60)).toEqual({ level: "CRITICAL", reasons: ["file sync has never run"] });
    expect(judgeSync({ configured: true, lastRun: 100, lastRunExit: 0, lastSuccess: 100, ageSeconds: 120 }, 60).level).toBe("OK");
    expect(judgeSync({ configured: true, lastRun: 100, lastRunExit: 23, lastSuccess: 90, ageSeconds: 130 }, 60).level).toBe("WARNING");
    expect(judgeSync({ configured: true, lastRun: 100, lastRunExit: 0, lastSuccess: 100, ageSeconds: 3601 }, 60).level).toBe("CRITICAL");
    const disks = parseDf("DF\t/var/lib/mysql\t1000\t40\nDF\t/srv/www\t1000\t90\nDFMISSING\t/var/backups/x\n", new Map([["/var/lib/mysql", "datadir"], ["/srv/www", "tree"], ["/var/backups/x", "backups"]]));
    expect(disks.map((d) => d.freePercent)).toEqual([4, 9, -1]);
    const j = judgeDisks(disks, { diskWarnPercent: 10, diskCritPercent: 5 });
    expect(j.level).toBe("CRITICAL");
    expect(j.reasons).toEqual(["datadir /var/lib/mysql: only 4% free", "tree /srv/www: only 9% free"]);
  });

  it("prints a plugin-style summary line and the SQL error", () => {
    const hosts: HostStatus[] = [
      { host: "db1", role: "master", address: "10.0.0.10", level: "OK", reasons: [], reachable: true, replication: null, binlog: { file: "mysql-bin.000002", pos: 900 }, sync: { configured: false }, disks: [] },
      {
        host: "db2",
        role: "mirror",
        address: "10.0.0.11",
        level: "CRITICAL",
        reasons: ["SQL thread is not running: error 1062: Duplicate entry '7'"],
        reachable: true,
        replication: replica({ sqlRunning: false, secondsBehind: null, lastSqlErrno: 1062, lastSqlError: "Duplicate entry '7'", execPos: 500 }),
        sync: { configured: true, lastRun: 100, lastRunExit: 0, lastSuccess: 100, ageSeconds: 65 },
        disks: [],
      },
    ];
    const text = formatStatus("staging", hosts);
    expect(text.split("\n")[0]).toBe("MIRRORSTACK CRITICAL - stack staging: db2: SQL thread is not running: error 1062: Duplicate entry '7'");
    expect(text).toMatch(/db2 +mirror +CRITICAL +Yes +No +NULL +mysql-bin\.000002:500 +ok, 1m 5s ago/);
    expect(text).toContain("db2: last SQL error 1062: Duplicate entry '7'");
    expect(formatStatus("s", [hosts[0]!]).split("\n")[0]).toBe("MIRRORSTACK OK - stack s: 0 mirror(s) replicating, 1 host(s) healthy");
  });

  it("--format prometheus: the metric families of infra/render/metrics.ts per host, as promtool accepts them", () => {
    const hosts: HostStatus[] = [
      {
        host: "db1",
        role: "master",
        address: "10.0.0.10",
        level: "WARNING",
        reasons: ["datadir /var/lib/mysql: only 8% free"],
        reachable: true,
        replication: null,
        binlog: { file: "mysql-bin.000002", pos: 900 },
        sync: { configured: false },
        disks: parseDf("DF\t/var/lib/mysql\t1000\t80\nDFMISSING\t/var/backups/mirrorstack\n", new Map([["/var/lib/mysql", "datadir"], ["/var/backups/mirrorstack", "backups"]])),
      },
      {
        host: "db2",
        role: "mirror",
        address: "10.0.0.11",
        level: "CRITICAL",
        reasons: ["SQL thread is not running: error 1062: Duplicate entry '7'", "no successful file sync recorded"],
        reachable: true,
        replication: replica({ sqlRunning: false, secondsBehind: null }),
        sync: { configured: true, lastRun: 100, lastRunExit: 23, lastSuccess: null, ageSeconds: null },
        disks: parseDf('DF\t/srv/my "photos"\t2000\t1500\n', new Map([['/srv/my "photos"', "tree"]])),
      },
      { host: "db3", role: "mirror", address: "10.0.0.12", level: "OK", reasons: [], reachable: true, replication: replica({ secondsBehind: 3 }), sync: { configured: true, lastRun: 100, lastRunExit: 0, lastSuccess: 100, ageSeconds: 65 }, disks: [] },
      { host: "db4", role: "mirror", address: "10.0.0.13", level: "CRITICAL", reasons: ["database not reachable: timeout"], reachable: false, replication: null, sync: { configured: false }, disks: [] },
    ];
    const text = formatStatusMetrics("staging", hosts);
    const samples = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    expect(samples).toEqual([
      'mirrorstack_health_ok{stack="staging",host="db1"} 0',
      'mirrorstack_health_ok{stack="staging",host="db2"} 0',
      'mirrorstack_health_ok{stack="staging",host="db3"} 1',
      'mirrorstack_health_ok{stack="staging",host="db4"} 0',
      'mirrorstack_health_problems{stack="staging",host="db1"} 1',
      'mirrorstack_health_problems{stack="staging",host="db2"} 2',
      'mirrorstack_health_problems{stack="staging",host="db3"} 0',
      'mirrorstack_health_problems{stack="staging",host="db4"} 1',
      // An unreadable replica status (db4) gives no thread samples; a NULL lag (db2) no lag sample.
      'mirrorstack_replication_io_running{stack="staging",host="db2"} 1',
      'mirrorstack_replication_io_running{stack="staging",host="db3"} 1',
      'mirrorstack_replication_sql_running{stack="staging",host="db2"} 0',
      'mirrorstack_replication_sql_running{stack="staging",host="db3"} 1',
      'mirrorstack_replication_lag_seconds{stack="staging",host="db3"} 3',
      'mirrorstack_file_sync_age_seconds{stack="staging",host="db3"} 65',
      'mirrorstack_filesystem_avail_bytes{stack="staging",host="db1",purpose="datadir",path="/var/lib/mysql"} 80',
      'mirrorstack_filesystem_avail_bytes{stack="staging",host="db2",purpose="tree",path="/srv/my \\"photos\\""} 1500',
      'mirrorstack_filesystem_size_bytes{stack="staging",host="db1",purpose="datadir",path="/var/lib/mysql"} 1000',
      'mirrorstack_filesystem_size_bytes{stack="staging",host="db2",purpose="tree",path="/srv/my \\"photos\\""} 2000',
    ]);
    expect(text).toContain("# TYPE mirrorstack_replication_sql_running gauge\n");
    const r = spawnSync(toolPath("promtool"), ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("writes position reports for the purge job that understate nothing", () => {
    expect(positionReport("db2", replica({ execFile: "mysql-bin.000007", execPos: 42 }), 1700000000)).toBe(
      "reported=1700000000\nmirror=db2\nio_running=Yes\nsql_running=Yes\nexec_file=mysql-bin.000007\nexec_pos=42\nsource_host=10.0.0.10\n",
    );
  });
});

describe("exec output", () => {
  it("groups output by host with the exit status", () => {
    const text = formatExec([
      { host: "db1", role: "master", exitCode: 0, stdout: "up 3 days\n", stderr: "", seconds: 0.1 },
      { host: "db2", role: "mirror", exitCode: 3, stdout: "", stderr: "boom\n", seconds: 0.2 },
      { host: "db3", role: "mirror", exitCode: null, stdout: "", stderr: "", error: "cannot reach", seconds: 10 },
    ]);
    expect(text).toBe(
      "=== db1 (master): exit 0 (0.1s)\n  up 3 days\n=== db2 (mirror): exit 3 (0.2s)\n  ! boom\n=== db3 (mirror): unreachable: cannot reach (10.0s)\nfailed on db2 (exit 3), db3 (unreachable)",
    );
  });
});

describe("keys", () => {
  const dsa = dsaKeyLine("old@laptop");
  const rsa2048 = rsaKeyLine(2048, "ops@bastion");
  const rsa3072 = rsaKeyLine(3072, "ci@runner");
  const ed = ed25519Line("admin@desk");

  it("reads key sizes from the blob", () => {
    const size = (line: string) => {
      const p = parseKeyLine(line);
      if (!p || "error" in p) throw new Error("no key");
      return keyBits(p.type, p.blob);
    };
    expect(size(dsa)).toBe(1024);
    expect(size(rsa2048)).toBe(2048);
    expect(size(rsa3072)).toBe(3072);
    expect(size(ed)).toBe(256);
  });

  it("parses options with quoted commas and spaces", () => {
    expect(splitOptions('restrict,from="10.0.0.1,10.0.0.2",command="/bin/echo a, b"')).toEqual(["restrict", 'from="10.0.0.1,10.0.0.2"', 'command="/bin/echo a, b"']);
    const p = parseKeyLine(`restrict,from="10.0.0.1",command="/usr/local/lib/mirrorstack/validate-rsync x y" ${ed}`);
    expect(p).toMatchObject({ options: ["restrict", 'from="10.0.0.1"', 'command="/usr/local/lib/mirrorstack/validate-rsync x y"'], type: "ssh-ed25519", comment: "admin@desk" });
    expect(parseKeyLine("# comment")).toBeNull();
    expect(parseKeyLine("   ")).toBeNull();
    expect(parseKeyLine("garbage here")).toEqual({ error: "not a key line: garbage here" });
  });

  it("flags DSA, short RSA and unrestricted sync-account keys", () => {
    const content = [`# root keys`, dsa, rsa2048, rsa3072, `from="10.0.0.5" ${ed}`, "not a key"].join("\n");
    const keys = auditKeyFile("root", "/root/.ssh/authorized_keys", content, "mirrorsync");
    expect(keys.map((k) => [k.line, k.type, k.bits, k.flags])).toEqual([
      [2, "ssh-dss", 1024, ["weak: DSA key (disabled in current OpenSSH)"]],
      [3, "ssh-rsa", 2048, ["weak: RSA key of 2048 bits (< 3072)"]],
      [4, "ssh-rsa", 3072, []],
      [5, "ssh-ed25519", 256, []],
      [6, "?", null, ["not a key line: not a key"]],
    ]);
    expect(keys[3]!.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const sync = auditKeyFile("mirrorsync", "/etc/ssh/authorized_keys/mirrorsync", [`restrict,from="10.0.0.11",command="/x" ${ed}`, `command="/x" ${ed}`, ed].join("\n"), "mirrorsync");
    expect(sync.map((k) => k.flags)).toEqual([
      [],
      ["sync account key without from= (any address may use it)"],
      ["sync account key without from= (any address may use it)", "sync account key without command= (not limited to validate-rsync)"],
    ]);
  });

  it("the host script lists users' and /etc/ssh key files; its output parses", () => {
    expect(KEYS_SCRIPT).toContain("/etc/ssh/authorized_keys/*");
    const files = parseKeysOutput(`@@FILE\troot\t/root/.ssh/authorized_keys\nL\t${ed}\nL\t\n@@FILE\tmirrorsync\t/etc/ssh/authorized_keys/mirrorsync\nL\t# none yet\n`);
    expect(files).toEqual([
      { user: "root", file: "/root/.ssh/authorized_keys", content: `${ed}\n` },
      { user: "mirrorsync", file: "/etc/ssh/authorized_keys/mirrorsync", content: "# none yet" },
    ]);
  });
});

describe("drift", () => {
  const file = (over: Partial<FileBody>): FileBody => ({
    path: "/etc/x",
    kind: "whole",
    owner: "root",
    group: "root",
    mode: "0644",
    content: "a\n",
    secret: false,
    onChange: [],
    description: "",
    ...over,
  });

  it("compares content hashes, owner, group and mode; blocks by their lines only", () => {
    const files = [
      file({ path: "/etc/same" }),
      file({ path: "/etc/edited" }),
      file({ path: "/etc/mode" }),
      file({ path: "/etc/gone" }),
      file({ path: "/etc/fstab", kind: "block", content: "line" }),
      file({ path: "/etc/hosts.allow", kind: "block", content: "x\n" }),
      file({ path: "/etc/mirrorstack/backup-passphrase", secret: true, mode: "0600", content: "pw\n" }),
    ];
    const observed = new Map([
      ["/etc/same", { absent: false as const, sha256: sha256("a\n"), owner: "root", group: "root", mode: "644" }],
      ["/etc/edited", { absent: false as const, sha256: sha256("a\nb\n"), owner: "root", group: "root", mode: "644" }],
      ["/etc/mode", { absent: false as const, sha256: sha256("a\n"), owner: "www", group: "root", mode: "600" }],
      ["/etc/gone", { absent: true as const }],
      ["/etc/fstab", { absent: false as const, sha256: sha256("line\n"), owner: "root", group: "root", mode: "644" }],
      ["/etc/hosts.allow", { absent: false as const, sha256: "", owner: "root", group: "root", mode: "644", noBlock: true }],
      ["/etc/mirrorstack/backup-passphrase", { absent: false as const, sha256: sha256("other\n"), owner: "root", group: "root", mode: "600" }],
    ]);
    const drift = compareDrift(files, observed);
    expect(drift.map((d) => [d.path, d.problems])).toEqual([
      ["/etc/edited", ["content differs"]],
      ["/etc/mode", ["owner www (want root)", "mode 0600 (want 0644)"]],
      ["/etc/gone", ["missing"]],
      ["/etc/hosts.allow", ["managed block missing"]],
      ["/etc/mirrorstack/backup-passphrase", ["content differs"]],
    ]);
    const text = formatDrift("prod", [{ host: "db2", files: 7, drift }]);
    expect(text).toContain("/etc/mirrorstack/backup-passphrase (secret: hashes only)  content differs");
    expect(text).not.toContain("pw");
    expect(text).toMatch(/5 file\(s\) drifted; to put the managed content back: npm run pulumi -- up --refresh --stack prod$/);
    expect(appliedText(file({ kind: "block", content: "" }))).toBe("");
  });

  it("the host script hashes whole files and managed blocks the way compareDrift expects", () => {
    const dir = mkdtempSync(join(tmpdir(), "mirrorctl-drift-"));
    try {
      writeFileSync(join(dir, "whole"), "a\n");
      chmodSync(join(dir, "whole"), 0o640);
      writeFileSync(join(dir, "fstab"), "/dev/sda1 / ext4 defaults 0 1\n# BEGIN mirrorstack managed block (stack prod)\nline\n# END mirrorstack managed block\ntail\n");
      writeFileSync(join(dir, "noblock"), "x\n");
      const input = `whole\t${dir}/whole\nblock\t${dir}/fstab\nblock\t${dir}/noblock\nwhole\t${dir}/absent\n`;
      const r = spawnSync("bash", ["-c", DRIFT_SCRIPT], { input, encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const obs = parseDriftOutput(r.stdout);
      const files = [
        file({ path: `${dir}/whole`, mode: "0640", owner: String(obs.get(`${dir}/whole`) && (obs.get(`${dir}/whole`) as { owner: string }).owner), group: String((obs.get(`${dir}/whole`) as { group: string }).group) }),
        file({ path: `${dir}/fstab`, kind: "block", content: "line" }),
      ];
      expect(compareDrift(files, obs)).toEqual([]);
      expect(obs.get(`${dir}/noblock`)).toMatchObject({ noBlock: true });
      expect(obs.get(`${dir}/absent`)).toEqual({ absent: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("verify, purge, repair, skip-event helpers", () => {
  it("orders binlog coordinates", () => {
    expect(comparePositions({ file: "mysql-bin.000002", pos: 4 }, { file: "mysql-bin.000001", pos: 9000 })).toBeGreaterThan(0);
    expect(comparePositions({ file: "mysql-bin.000002", pos: 400 }, { file: "mysql-bin.000002", pos: 400 })).toBe(0);
    expect(comparePositions({ file: "mysql-bin.000002", pos: 4 }, { file: "mysql-bin.000002", pos: 400 })).toBeLessThan(0);
  });

  it("names the table and chunk that differ", () => {
    const lines = describeDifferences({
      mirror: "db2",
      position: { file: "mysql-bin.000001", pos: 4 },
      equal: false,
      seconds: 1,
      tables: [
        { db: "wiki", table: "pages", noPrimaryKey: false, chunks: 3, equal: false, differing: [{ index: 1, lower: [1001], upper: [2001], master: { count: 1000, checksum: "1/2" }, mirror: { count: 1000, checksum: "1/3" } }] },
        { db: "wiki", table: "log", noPrimaryKey: true, chunks: 1, equal: false, differing: [{ index: 0, lower: null, upper: null, master: { count: 5, checksum: "1" }, mirror: { count: 4, checksum: "2" } }] },
        { db: "wiki", table: "new", noPrimaryKey: false, chunks: 0, equal: false, differing: [], schemaDiffers: "master: id int; mirror: (missing)" },
        { db: "wiki", table: "ok", noPrimaryKey: false, chunks: 1, equal: true, differing: [] },
      ],
    });
    expect(lines).toEqual([
      "wiki.pages chunk 1 (key >= (1001) and < (2001)): master 1000 rows, mirror 1000 rows, checksums differ",
      "wiki.log chunk 0 (whole table): master 5 rows, mirror 4 rows",
      "wiki.new: table definition differs (master: id int; mirror: (missing))",
    ]);
  });

  it("prints purge refusals and plans", () => {
    const binlogs = [{ name: "mysql-bin.000001", size: 100 }, { name: "mysql-bin.000002", size: 200 }];
    const refused = decidePurge({ binlogs, mirrors: [{ name: "db2", status: "unreachable", detail: "timeout" }] });
    expect(formatDecision(binlogs, refused, false, false)).toBe(
      "master binary logs: 2 (300 B): mysql-bin.000001, mysql-bin.000002\nREFUSED: nothing purged\n  mirror db2 is unreachable (timeout); its position is unknown",
    );
    const ok = decidePurge({ binlogs, mirrors: [{ name: "db2", status: replica() }] });
    expect(formatDecision(binlogs, ok, true, false)).toContain("dry run: would run PURGE BINARY LOGS TO 'mysql-bin.000002'");
  });

  it("reads mariadb-check output", () => {
    expect(parseCheckOutput("wiki.pages                                         OK\nwiki.broken\nerror    : Corrupt\nwiki.myisam\nnote     : The storage engine for the table doesn't support check\n")).toEqual([
      { table: "wiki.pages", status: "OK", ok: true },
      { table: "wiki.broken", status: "error    : Corrupt", ok: false },
      { table: "wiki.myisam", status: "note     : The storage engine for the table doesn't support check", ok: true },
    ]);
  });

  it("cuts the relay log events to the failing event group", () => {
    const ev = (type: string, info: string) => ({ pos: 1, type, endPos: 2, info });
    expect(oneGroup([ev("Gtid", "BEGIN GTID 0-1-5"), ev("Table_map", "t"), ev("Write_rows_v1", "w"), ev("Xid", "COMMIT /* xid=1 */"), ev("Gtid", "BEGIN GTID 0-1-6")]).length).toBe(4);
    expect(oneGroup([ev("Gtid", "GTID 0-1-7"), ev("Query", "ALTER TABLE t ADD c INT"), ev("Gtid", "BEGIN GTID 0-1-8")]).length).toBe(2);
  });
});

describe("sync-now tells its own skip by the exit status", () => {
  // The rendered sync script, its log, status and lock moved into a temporary directory; another holder of the
  // lock (flock around the run) makes it skip.
  const plans = renderStack(loadStack("lab"), { stack: "lab", secrets: { replicationPassword: "x", backupPassphrase: "y" }, mirrorKeys: MIRROR_KEYS.lab });
  const script = plans.find((p) => p.host === "mirror1")!.files.find((f) => f.path === PATHS.syncScript)!.content;
  const skipRun = (env: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), "mirrorstack-sync-"));
    try {
      const moved = script
        .split(PATHS.syncLock).join(join(dir, "lock"))
        .split(PATHS.syncStatus).join(join(dir, "status"))
        .split(`${PATHS.logDir}/sync.log`).join(join(dir, "sync.log"));
      writeFileSync(join(dir, "sync"), moved);
      const r = spawnSync("flock", [join(dir, "lock"), "bash", join(dir, "sync")], { encoding: "utf8", env: { ...process.env, ...env } });
      return { code: r.status, log: spawnSync("cat", [join(dir, "sync.log")], { encoding: "utf8" }).stdout };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it("exits 0 for cron, and the status sync-now asks for (a number only) when it skipped", () => {
    expect(script).toContain(PATHS.syncLock);
    expect(skipRun({})).toMatchObject({ code: 0, log: expect.stringMatching(/previous sync still running; skipped\n$/) });
    expect(skipRun({ MIRRORSTACK_SKIP_STATUS: "75" }).code).toBe(75);
    expect(skipRun({ MIRRORSTACK_SKIP_STATUS: "1; rm -rf /" }).code).toBe(0);
  });
});

describe("status: the RAID state the health job measured", () => {
  it("reads md arrays and the vendor verdict from the health job's metrics file: degraded CRITICAL, resync WARNING", async () => {
    const { parseHealthJob, judgeHealthJob } = await import("../infra/ops/status");
    const { formatMetrics, METRICS } = await import("../infra/render/metrics");
    const file = formatMetrics("prod", [
      { family: METRICS.healthChecked, host: "mirror1", value: 1000 },
      { family: METRICS.mdDegraded, host: "mirror1", labels: { array: "md0" }, value: 1 },
      { family: METRICS.mdResyncing, host: "mirror1", labels: { array: "md0" }, value: 0 },
      { family: METRICS.mdDegraded, host: "mirror1", labels: { array: "md1" }, value: 0 },
      { family: METRICS.mdResyncing, host: "mirror1", labels: { array: "md1" }, value: 1 },
      { family: METRICS.vendorCheckOk, host: "mirror1", value: 0 },
    ]);
    const j = parseHealthJob(file, 1600);
    expect(j).toEqual({
      arrays: [
        { array: "md0", degraded: true, resyncing: false },
        { array: "md1", degraded: false, resyncing: true },
      ],
      vendorOk: false,
      ageSeconds: 600,
    });
    const v = judgeHealthJob(j);
    expect(v.level).toBe("CRITICAL");
    expect(v.reasons).toEqual([
      expect.stringMatching(/^RAID md0 is degraded \(health job, .+ ago\)$/),
      expect.stringMatching(/^RAID md1 is resyncing \(health job, .+ ago\)$/),
      expect.stringMatching(/^the RAID vendor command reports a problem \(health job, .+ ago; health\.vendorCommand\)$/),
    ]);
    // A clean array and no vendor command: nothing to say; no file (the job never ran): nothing either.
    const clean = formatMetrics("prod", [
      { family: METRICS.healthChecked, host: "m", value: 5 },
      { family: METRICS.mdDegraded, host: "m", labels: { array: "md0" }, value: 0 },
    ]);
    expect(judgeHealthJob(parseHealthJob(clean, 6))).toEqual({ level: "OK", reasons: [] });
    expect(parseHealthJob("", 6)).toBeUndefined();
    expect(judgeHealthJob(undefined)).toEqual({ level: "OK", reasons: [] });
  });
});
