// The health job (templates/mirrorstack-health.sh.hbs) run here with bash: rendered from a stack config through
// healthContext, with its paths (status, log, metrics, alert state, /proc/mdstat, sendmail, the data directories)
// moved into a temporary directory, and stand-ins first on its PATH for the database client, df, sendmail, the
// vendor RAID tool and the alert command. The production script has no hook for this: only the rendering differs.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { parseStackConfig, parseStackText } from "../infra/config";
import { HEALTH_TEMPLATE, healthContext } from "../infra/render/jobs";
import { formatMetrics, METRICS } from "../infra/render/metrics";
import { renderTemplate } from "../infra/render/templates";
import { LAB_LIKE_YAML } from "./render-stacks";
import { toolPath } from "./tools";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ms-health-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const at = (rel: string) => path.join(dir, rel);
const FIXTURES = path.join(__dirname, "fixtures/mdstat");

// The lab-like stack with backups on mirror1 (the default backup host is checked below) and every health option.
const cfg = (() => {
  const yaml = `${LAB_LIKE_YAML}  mirrorstack:backups: {host: mirror1, destination: ${at("backups")}}
  mirrorstack:health:
    diskWarnPercent: 10
    diskCritPercent: 5
    vendorCommand: ${at("bin/tw_cli")} /c0 show
    alertMail: ops@example.org
    alertCommand: ${at("bin/hook")} --json
`;
  const { raw, secretKeys } = parseStackText(yaml, "health-test");
  return parseStackConfig(raw, { stack: "lab", secretKeys });
})();

function stub(name: string, body: string): void {
  fs.writeFileSync(at(`bin/${name}`), `#!/bin/bash\n${body}\n`);
  fs.chmodSync(at(`bin/${name}`), 0o755);
}

/** The script for `host`, its paths in the sandbox and /proc/mdstat replaced by `mdstat`. */
function script(host: string, mdstat = "clean-raid1.txt"): string {
  const h = cfg.hosts.find((x) => x.name === host)!;
  return renderTemplate(HEALTH_TEMPLATE, {
    ...healthContext(cfg, h),
    searchPath: `${at("bin")}:/usr/bin:/bin`,
    logFile: at("log/health.log"),
    status: at("state/health-status"),
    metricsFile: at("prom/mirrorstack.prom"),
    syncStatus: at("state/sync-status"),
    alertState: at("state/health-alert"),
    mdstat: path.join(FIXTURES, mdstat),
    sendmail: at("bin/sendmail"),
    binlogDir: at("binlog"),
    trees: [at("tree"), at("absent-tree")],
    // The lab-like stack has tls.enabled: its certificate files, in the sandbox.
    certs: healthContext(cfg, h).certs.map((c) => ({ ...c, path: at(`tls/${path.basename(c.path)}`) })),
  });
}

/** Writes a self-signed certificate valid `days` days at each of the sandbox's TLS paths. */
function setCerts(days: number): void {
  fs.mkdirSync(at("tls"), { recursive: true });
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null", "-subj", "/CN=t", "-days", String(days)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  for (const f of ["ca.pem", "server.pem"]) fs.writeFileSync(at(`tls/${f}`), r.stdout);
}

function run(host: string, mdstat?: string): { code: number; status: Record<string, string>; metrics: string; log: string } {
  const r = spawnSync("bash", ["-c", script(host, mdstat)], { encoding: "utf8", env: { PATH: "/usr/bin:/bin", HOME: dir } });
  const read = (p: string) => (fs.existsSync(p) ? fs.readFileSync(p, "utf8") : "");
  const status = Object.fromEntries(read(at("state/health-status")).split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  return { code: r.status ?? -1, status, metrics: read(at("prom/mirrorstack.prom")), log: read(at("log/health.log")) };
}

/** `promtool check metrics` on the text: its complaints, "" when it passes. */
function promtool(text: string): string {
  const r = spawnSync(toolPath("promtool"), ["check", "metrics"], { input: text, encoding: "utf8" });
  return r.status === 0 ? r.stdout + r.stderr : `exit ${r.status}: ${r.stdout}${r.stderr}`;
}

/** The value of one sample line (family and labels after stack/host as written), or undefined. */
function value(metrics: string, family: string, host: string, labels = ""): string | undefined {
  const prefix = `${family}{stack="lab",host="${host}"${labels}} `;
  return metrics.split("\n").find((l) => l.startsWith(prefix))?.slice(prefix.length);
}

const mails = () => (fs.existsSync(at("mail.log")) ? fs.readFileSync(at("mail.log"), "utf8").split("\n@@\n").filter(Boolean) : []);
const hooks = () => (fs.existsSync(at("hook.log")) ? fs.readFileSync(at("hook.log"), "utf8").split("\n@@\n").filter(Boolean) : []);
const now = () => Math.floor(Date.now() / 1000);
const setDf = (lines: string) => fs.writeFileSync(at("df.txt"), lines);

beforeEach(() => {
  for (const d of ["bin", "state", "log", "prom", "backups", "binlog", "tree", "data"]) {
    fs.rmSync(at(d), { recursive: true, force: true });
    fs.mkdirSync(at(d), { recursive: true });
  }
  for (const f of ["mail.log", "hook.log", "sendmail.calls", "fail-sendmail", "replica.txt"]) fs.rmSync(at(f), { force: true });
  // The database client: answers the health job's queries; the replica status comes from replica.txt.
  stub(
    "mariadb",
    `case "$*" in
  *"-e SELECT 1") echo 1 ;;
  *"SELECT @@datadir"*) echo ${at("data")}/ ;;
  *"SELECT @@log_bin"*) echo 1 ;;
  *"SHOW BINARY LOGS"*) printf 'mysql-bin.000001\\t1000\\nmysql-bin.000002\\t2345\\n' ;;
  *"SHOW SLAVE STATUS"*) cat ${at("replica.txt")} ;;
  *) echo "unexpected query: $*" >&2; exit 1 ;;
esac`,
  );
  fs.writeFileSync(at("replica.txt"), "*************************** 1. row ***************************\n  Slave_IO_Running: Yes\n  Slave_SQL_Running: Yes\n  Seconds_Behind_Master: 3\n");
  // df -P -B1 -- <path>: size and available bytes per path from df.txt ("<path> <size> <avail>").
  stub(
    "df",
    `p=\${!#}
read -r _ size avail < <(grep -F -- "$p " ${at("df.txt")} | head -n 1) || { echo "df: $p: no such file" >&2; exit 1; }
echo "Filesystem 1-blocks Used Available Capacity Mounted on"
echo "/dev/x $size $(( size - avail )) $avail 50% /"`,
  );
  if (!fs.existsSync(at("tls/ca.pem"))) setCerts(30);
  setDf(`${at("data")} 1000000 500000\n${at("binlog")} 1000000 400000\n${at("tree")} 2000000 1000000\n`);
  // sendmail -t: records the message; fails while fail-sendmail exists.
  stub("sendmail", `echo "$*" >> ${at("sendmail.calls")}\nmsg=$(cat)\n[ ! -e ${at("fail-sendmail")} ] || { echo "sendmail: cannot connect" >&2; exit 75; }\nprintf '%s\\n@@\\n' "$msg" >> ${at("mail.log")}`);
  stub("hook", `[ "$1" = --json ] || exit 9\nprintf '%s\\n@@\\n' "$(cat)" >> ${at("hook.log")}`);
  fs.writeFileSync(at("tw.txt"), "Unit  UnitType  Status\nu0    RAID-1    OK\n\nPort   Status           Unit   Size\np0     OK               u0     465.76 GB\np1     OK               u0     465.76 GB\n");
  stub("tw_cli", `[ "$*" = "/c0 show" ] || exit 8\ncat ${at("tw.txt")}\nexit $(cat ${at("tw.rc")} 2>/dev/null || echo 0)`);
  fs.rmSync(at("tw.rc"), { force: true });
  fs.writeFileSync(at("state/sync-status"), `last_run=${now() - 100}\nlast_run_exit=0\nlast_success=${now() - 100}\n`);
  fs.mkdirSync(at("backups/mirrorstack-20240101T000000Z"));
  fs.mkdirSync(at("backups/mirrorstack-20240102T030405Z"));
  fs.writeFileSync(at("backups/mirrorstack-20240102T030405Z/MANIFEST"), "name=mirrorstack-20240102T030405Z\ncreated=2024-01-02T03:04:05Z\nhost=mirror1\n");
  // Named in the far future (it sorts last): not a backup by the backup job's rule, so never taken for the newest.
  fs.mkdirSync(at("backups/mirrorstack-29991231T000000Z"));
  fs.writeFileSync(at("backups/mirrorstack-29991231T000000Z/MANIFEST"), "created=2999-12-31T00:00:00Z\n");
});

describe("the health job (rendered, run with stand-ins)", () => {
  it("a healthy mirror: status ok, every metric the host has, in the format formatMetrics writes, accepted by promtool", () => {
    const r = run("mirror1");
    expect(r.code, r.log).toBe(0);
    expect(r.status).toMatchObject({ status: "ok", problems: "" });
    expect(Math.abs(Number(r.status.checked) - now())).toBeLessThan(60);
    expect(promtool(r.metrics)).toBe("");
    const m = r.metrics;
    expect(value(m, METRICS.healthOk.name, "mirror1")).toBe("1");
    expect(value(m, METRICS.healthProblems.name, "mirror1")).toBe("0");
    expect(value(m, METRICS.healthChecked.name, "mirror1")).toBe(r.status.checked);
    expect(value(m, METRICS.replicationIoRunning.name, "mirror1")).toBe("1");
    expect(value(m, METRICS.replicationSqlRunning.name, "mirror1")).toBe("1");
    expect(value(m, METRICS.replicationLag.name, "mirror1")).toBe("3");
    expect(Number(value(m, METRICS.fileSyncAge.name, "mirror1"))).toBeGreaterThanOrEqual(100);
    expect(Number(value(m, METRICS.fileSyncAge.name, "mirror1"))).toBeLessThan(160);
    // The newest backup (by name), its age from the MANIFEST's created=.
    expect(Number(value(m, METRICS.backupAge.name, "mirror1"))).toBeCloseTo(now() - Date.UTC(2024, 0, 2, 3, 4, 5) / 1000, -2);
    expect(value(m, METRICS.vendorCheckOk.name, "mirror1")).toBe("1");
    expect(value(m, METRICS.mdDegraded.name, "mirror1", ',array="md0"')).toBe("0");
    expect(value(m, METRICS.filesystemAvail.name, "mirror1", `,purpose="datadir",path="${at("data")}"`)).toBe("500000");
    expect(value(m, METRICS.filesystemSize.name, "mirror1", `,purpose="tree",path="${at("tree")}"`)).toBe("2000000");
    expect(m).not.toContain("absent-tree"); // a tree not on the host has no filesystem
    expect(m).not.toContain('purpose="binlog"'); // the binary log directory is the master's
    expect(m).not.toContain(METRICS.binlogSize.name);
    // Same text as mirrorctl status --format prometheus (formatMetrics) for the same samples.
    const fs1 = formatMetrics("lab", [{ family: METRICS.filesystemAvail, host: "mirror1", labels: { purpose: "datadir", path: at("data") }, value: 500000 }]).split("\n");
    expect(m).toContain(`${fs1[0]}\n${fs1[1]}\n${fs1[2]}\n`);
    const ok = formatMetrics("lab", [{ family: METRICS.healthOk, host: "mirror1", value: 1 }]);
    expect(m).toContain(ok);
    // No temporary file is left beside the metrics file.
    expect(fs.readdirSync(at("prom"))).toEqual(["mirrorstack.prom"]);
    expect(fs.statSync(at("prom/mirrorstack.prom")).mode & 0o777).toBe(0o644);
    expect(mails()).toEqual([]); // healthy from the start: nothing to tell
    expect(hooks()).toEqual([]);
  });

  it("the master: binary log size (sum of SHOW BINARY LOGS) and the binlog filesystem; no replica or backup metrics", () => {
    const r = run("master");
    expect(r.code, r.log).toBe(0);
    expect(promtool(r.metrics)).toBe("");
    expect(value(r.metrics, METRICS.binlogSize.name, "master")).toBe("3345");
    expect(value(r.metrics, METRICS.filesystemAvail.name, "master", `,purpose="binlog",path="${at("binlog")}"`)).toBe("400000");
    expect(r.metrics).not.toContain(METRICS.replicationIoRunning.name);
    expect(r.metrics).not.toContain(METRICS.backupAge.name);
    expect(r.metrics).not.toContain(METRICS.fileSyncAge.name);
  });

  it.each([
    { fixture: "clean-raid1.txt", md: { md0: [0, 0] }, problem: undefined, warning: undefined },
    { fixture: "degraded-raid1.txt", md: { md0: [1, 0] }, problem: "md0 degraded: [U_]", warning: undefined },
    { fixture: "raid5-resync.txt", md: { md0: [0, 0], md1: [0, 1] }, problem: undefined, warning: "md1 resync 22.5% in progress" },
    { fixture: "no-arrays.txt", md: {}, problem: undefined, warning: undefined },
    { fixture: "raid10-failed.txt", md: { md2: [1, 0] }, problem: "md2 degraded: [UUU_] sdd1(F)", warning: undefined },
  ])("RAID: $fixture", ({ fixture, md, problem, warning }) => {
    const r = run("mirror1", fixture);
    expect(promtool(r.metrics)).toBe("");
    const arrays = [...r.metrics.matchAll(/^mirrorstack_md_degraded\{[^}]*array="([^"]+)"\}/gm)].map((x) => x[1]);
    expect(arrays).toEqual(Object.keys(md));
    for (const [name, [degraded, resyncing]] of Object.entries(md)) {
      expect(value(r.metrics, METRICS.mdDegraded.name, "mirror1", `,array="${name}"`), name).toBe(String(degraded));
      expect(value(r.metrics, METRICS.mdResyncing.name, "mirror1", `,array="${name}"`), name).toBe(String(resyncing));
    }
    expect(r.status.problems).toBe(problem ?? "");
    expect(r.code).toBe(problem ? 1 : 0);
    expect(value(r.metrics, METRICS.healthOk.name, "mirror1")).toBe(problem ? "0" : "1");
    if (warning) expect(r.log).toMatch(new RegExp(`warning: ${warning.replace(/[.[\]]/g, "\\$&")}\n`));
    else expect(r.log).not.toMatch(/warning: md/);
  });

  it("disks: below diskCritPercent is a problem, below diskWarnPercent a warning line; both show in the metrics", () => {
    setDf(`${at("data")} 1000000 80000\n${at("tree")} 2000000 60000\n`);
    const r = run("mirror1");
    expect(r.code).toBe(1);
    expect(r.status.problems).toBe(`tree ${at("tree")}: only 3% free (below 5%)`);
    expect(r.log).toContain(`warning: datadir ${at("data")}: only 8% free (below 10%)`);
    expect(value(r.metrics, METRICS.filesystemAvail.name, "mirror1", `,purpose="tree",path="${at("tree")}"`)).toBe("60000");
    expect(value(r.metrics, METRICS.filesystemAvail.name, "mirror1", `,purpose="datadir",path="${at("data")}"`)).toBe("80000");
    expect(value(r.metrics, METRICS.healthProblems.name, "mirror1")).toBe("1");
    expect(promtool(r.metrics)).toBe("");
  });

  it("TLS certificates (tls.enabled): an expiry metric each; within tls.warnDays a warning line, missing a problem", () => {
    const ok = run("mirror1");
    expect(ok.code, ok.log).toBe(0);
    const expiry = Number(value(ok.metrics, METRICS.tlsCertExpiry.name, "mirror1", `,purpose="host certificate",path="${at("tls/server.pem")}"`));
    expect(Math.abs(expiry - (now() + 30 * 86400))).toBeLessThan(120);
    expect(value(ok.metrics, METRICS.tlsCertExpiry.name, "mirror1", `,purpose="CA certificate",path="${at("tls/ca.pem")}"`)).toBe(String(expiry));
    expect(promtool(ok.metrics)).toBe("");
    try {
      setCerts(10);
      const warn = run("mirror1");
      expect(warn.code).toBe(0);
      expect(warn.log).toMatch(new RegExp(`warning: TLS host certificate ${at("tls/server.pem")} expires in (9|10) days`));
      fs.rmSync(at("tls/server.pem"));
      const missing = run("mirror1");
      expect(missing.code).toBe(1);
      expect(missing.status.problems).toBe(`TLS host certificate ${at("tls/server.pem")} is missing or unreadable`);
    } finally {
      setCerts(30);
    }
  });

  it("replication: a stopped SQL thread and an unknown lag are problems; the lag sample is left out", () => {
    fs.writeFileSync(at("replica.txt"), "  Slave_IO_Running: Yes\n  Slave_SQL_Running: No\n  Seconds_Behind_Master: NULL\n");
    fs.writeFileSync(at("state/sync-status"), `last_run=${now() - 100}\nlast_run_exit=0\nlast_success=${now() - 4 * 3600}\n`);
    const r = run("mirror1");
    expect(r.code).toBe(1);
    expect(r.status.problems).toBe("replication SQL thread is not running;replication lag unknown;last successful file sync is older than 180 minutes");
    expect(value(r.metrics, METRICS.replicationIoRunning.name, "mirror1")).toBe("1");
    expect(value(r.metrics, METRICS.replicationSqlRunning.name, "mirror1")).toBe("0");
    expect(r.metrics).not.toContain(METRICS.replicationLag.name);
    expect(Number(value(r.metrics, METRICS.fileSyncAge.name, "mirror1"))).toBeGreaterThanOrEqual(4 * 3600);
    expect(value(r.metrics, METRICS.healthProblems.name, "mirror1")).toBe("3");
    expect(promtool(r.metrics)).toBe("");
  });

  it("vendor command: a port that does not say OK, or a failing command, is a problem naming it", () => {
    fs.writeFileSync(at("tw.txt"), "Port   Status           Unit\np0     OK               u0\np1     DEGRADED         u0\np2     ECC-ERROR        u0\nNot a port DEGRADED\n");
    let r = run("mirror1");
    expect(r.status.problems).toBe(`RAID ports not OK (${at("bin/tw_cli")} /c0 show): p1 DEGRADED, p2 ECC-ERROR`);
    expect(value(r.metrics, METRICS.vendorCheckOk.name, "mirror1")).toBe("0");
    fs.writeFileSync(at("tw.rc"), "3");
    fs.writeFileSync(at("tw.txt"), "error: no controller\n");
    r = run("mirror1");
    expect(r.status.problems).toBe(`${at("bin/tw_cli")} /c0 show failed (exit 3): error: no controller`);
    expect(value(r.metrics, METRICS.vendorCheckOk.name, "mirror1")).toBe("0");
  });

  it("alerts: one mail and one command call per change of the result, none while it stays", () => {
    expect(run("mirror1").code).toBe(0);
    expect(mails()).toHaveLength(0);
    setDf(`${at("data")} 1000000 10000\n${at("tree")} 2000000 1000000\n`);
    run("mirror1");
    expect(mails()).toHaveLength(1);
    expect(mails()[0]).toBe(`To: ops@example.org\nSubject: mirrorstack lab mirror1: FAIL\n\ndatadir ${at("data")}: only 1% free (below 5%)`);
    expect(fs.readFileSync(at("sendmail.calls"), "utf8")).toBe("-t\n");
    expect(hooks()).toHaveLength(1);
    expect(hooks()[0]).toMatch(new RegExp(`^stack=lab\nhost=mirror1\nchecked=\\d+\nstatus=fail\nproblems=datadir ${at("data")}: only 1% free \\(below 5%\\)$`));
    run("mirror1");
    run("mirror1");
    expect(mails()).toHaveLength(1);
    expect(hooks()).toHaveLength(1);
    // Another problem besides: a new result, told once.
    fs.writeFileSync(at("replica.txt"), "  Slave_IO_Running: No\n  Slave_SQL_Running: Yes\n  Seconds_Behind_Master: 0\n");
    run("mirror1");
    run("mirror1");
    expect(mails()).toHaveLength(2);
    expect(mails()[1]).toContain("\nreplication IO thread is not running\ndatadir");
    // Healthy again: told once.
    fs.writeFileSync(at("replica.txt"), "  Slave_IO_Running: Yes\n  Slave_SQL_Running: Yes\n  Seconds_Behind_Master: 0\n");
    setDf(`${at("data")} 1000000 500000\n${at("tree")} 2000000 1000000\n`);
    run("mirror1");
    run("mirror1");
    expect(mails()).toHaveLength(3);
    expect(mails()[2]).toBe("To: ops@example.org\nSubject: mirrorstack lab mirror1: OK\n\nmirror1 is healthy again.");
    expect(hooks()).toHaveLength(3);
    expect(hooks()[2]).toMatch(/status=ok\nproblems=$/);
  });

  it("alerts: a failed sendmail is logged and tried again on the next run, until it goes through", () => {
    fs.writeFileSync(at("fail-sendmail"), "");
    run("mirror1", "degraded-raid1.txt");
    expect(mails()).toHaveLength(0);
    expect(run("mirror1", "degraded-raid1.txt").log).toMatch(/alert by mail FAILED \(tried again next run\): sendmail exit 75: sendmail: cannot connect\n[^]*alert by mail FAILED/);
    expect(fs.readFileSync(at("sendmail.calls"), "utf8").split("\n").filter(Boolean)).toHaveLength(2);
    expect(hooks()).toHaveLength(1); // the command went through the first time: not repeated
    fs.rmSync(at("fail-sendmail"));
    run("mirror1", "degraded-raid1.txt");
    expect(mails()).toHaveLength(1);
    expect(mails()[0]).toContain("Subject: mirrorstack lab mirror1: FAIL\n\nmd0 degraded: [U_]");
    run("mirror1", "degraded-raid1.txt");
    expect(mails()).toHaveLength(1);
    expect(fs.readFileSync(at("sendmail.calls"), "utf8").split("\n").filter(Boolean)).toHaveLength(3);
  });
});
