// End-to-end (root + lab): the deployed health job on a mirror with a stopped replication SQL thread, an old file
// sync, a degraded md array and a nearly full mirrored tree: one run shows each in the status file, in the metrics
// file (checked by promtool) and in one alert (a recording alertCommand); a second run sends no new alert.
// The degraded array is test/fixtures/mdstat/degraded-raid1.txt seen at /proc/mdstat: this machine's kernel has no
// md driver (no /proc/mdstat to bind-mount over), so the run happens in a private mount namespace inside the host
// whose /proc is a tmpfs of links to the real one with the fixture bind-mounted at /proc/mdstat (where the kernel
// has /proc/mdstat, the fixture is bind-mounted straight over it). The namespace ends with the run.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PATHS } from "../../infra/render/common";
import { METRICS } from "../../infra/render/metrics";
import { toolPath } from "../tools";
import { freshStack, inventory, isRoot, onHost, pulumi, ROOT, skipReason, sql, useLab, writeTestStack, mirrorctl as ctl } from "./lab";

const STACK = "e2e-health";
useLab("health", { mirrors: 1, image: "prepared" });
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

const TREE = "/srv/health-e2e";
const RECORDER = "/usr/local/bin/ms-alert-record";
const ALERTS = "/root/ms-alerts.log";
const FIXTURE = "/root/ms-mdstat-degraded";

/** One run of the deployed health job, /proc/mdstat showing the fixture. */
function healthRun(host: string): { code: number; out: string } {
  const r = onHost(
    host,
    `unshare --mount --propagation private -- bash -c '
set -e
if [ ! -e /proc/mdstat ]; then
  mkdir -p /run/ms-realproc
  mount --rbind /proc /run/ms-realproc
  mount -t tmpfs -o size=1m ms-proc /proc
  for e in /run/ms-realproc/*; do ln -s "$e" "/proc/\${e##*/}"; done
  rm -f /proc/mdstat && touch /proc/mdstat
fi
mount --bind ${FIXTURE} /proc/mdstat
set +e
${PATHS.healthScript}'`,
  );
  return { code: r.code, out: r.stdout + r.stderr };
}

const statusFile = (host: string) =>
  Object.fromEntries(onHost(host, `cat ${PATHS.healthStatus}`).stdout.split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
const metricsFile = (host: string) => onHost(host, `cat ${PATHS.healthMetrics}`).stdout;
const alerts = (host: string) => onHost(host, `cat ${ALERTS} 2>/dev/null`).stdout.split("@@\n").filter(Boolean);
function sample(metrics: string, host: string, family: string, labels = ""): string | undefined {
  const prefix = `${family}{stack="${STACK}",host="${host}"${labels}} `;
  return metrics.split("\n").find((l) => l.startsWith(prefix))?.slice(prefix.length);
}

describe.skipIf(!isRoot)("health job: replication, sync, RAID and disk problems in status, metrics and one alert (lab)", { shuffle: false }, () => {
  let master = "master";
  let mirror = "mirror1";
  let mounted = false;

  beforeAll(async () => {
    const inv = inventory();
    master = inv.hosts.find((h) => h.role === "master")!.name;
    mirror = inv.hosts.find((h) => h.role === "mirror")!.name;
    onHost(master, `mkdir -p ${TREE} && echo hello > ${TREE}/index.html && chmod -R a+rX ${TREE}`);
    onHost(mirror, `printf '#!/bin/sh\\n{ cat; echo @@; } >> ${ALERTS}\\n' > ${RECORDER} && chmod 755 ${RECORDER} && rm -f ${ALERTS}`);
    const copy = onHost(mirror, `cat > ${FIXTURE} <<'MDSTAT'\n${fs.readFileSync(path.join(ROOT, "test/fixtures/mdstat/degraded-raid1.txt"), "utf8")}MDSTAT`);
    expect(copy.code, copy.stderr).toBe(0);
    // The cron run of the health job would race the test's own runs: once a year is out of the way.
    writeTestStack(STACK, { files: { trees: [TREE] }, cron: { healthCheck: "0 3 1 1 *" }, health: { alertCommand: RECORDER } });
    await freshStack(STACK);
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    const sync = await ctl("sync-now", "--stack", STACK);
    expect(sync.code, `${sync.stdout}\n${sync.stderr}`).toBe(0);
  }, 900_000);

  afterAll(async () => {
    if (mounted) onHost(mirror, `umount ${TREE}`);
    expect(onHost(mirror, `mountpoint -q ${TREE}`).code).not.toBe(0);
    onHost(mirror, `rm -f ${RECORDER} ${ALERTS} ${FIXTURE}; rmdir /run/ms-realproc 2>/dev/null; true`);
    try {
      sql(mirror, "START SLAVE SQL_THREAD");
    } catch {
      /* already running, or the host is gone */
    }
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
    onHost(mirror, `rm -rf ${TREE}`);
    onHost(master, `rm -rf ${TREE}`);
  }, 300_000);

  it("a healthy mirror: status ok, health_ok 1, no alert (the first result told is a change from ok only)", () => {
    // Run as cron runs it: the host's own /proc (no md arrays in the lab).
    const r = onHost(mirror, PATHS.healthScript);
    expect(r.code, `${r.stdout}${r.stderr}\n${JSON.stringify(statusFile(mirror))}`).toBe(0);
    expect(statusFile(mirror)).toMatchObject({ status: "ok", problems: "" });
    const m = metricsFile(mirror);
    expect(sample(m, mirror, METRICS.healthOk.name)).toBe("1");
    expect(sample(m, mirror, METRICS.replicationSqlRunning.name)).toBe("1");
    expect(alerts(mirror)).toEqual([]);
  });

  it("one run shows each problem in the status file, the metrics and one alert; a second run sends no new alert", async () => {
    sql(mirror, "STOP SLAVE SQL_THREAD");
    const old = Math.floor(Date.now() / 1000) - 2 * 86400;
    expect(onHost(mirror, `sed -i 's/^last_success=.*/last_success=${old}/' ${PATHS.syncStatus} && grep -c last_success=${old} ${PATHS.syncStatus}`).stdout.trim()).toBe("1");
    const mount = onHost(mirror, `mount -t tmpfs -o size=1m ms-health-e2e ${TREE} && { dd if=/dev/zero of=${TREE}/fill bs=4k count=256 2>/dev/null; true; } && df -P ${TREE}`);
    expect(mount.code, mount.stderr).toBe(0);
    mounted = true;

    const r = healthRun(mirror);
    expect(r.code, r.out).toBe(1);
    const problems = statusFile(mirror).problems!.split(";");
    expect(problems).toContain("replication SQL thread is not running");
    expect(problems).toContain("last successful file sync is older than 180 minutes");
    expect(problems).toContain("md0 degraded: [U_]");
    expect(problems.find((p) => p.startsWith(`tree ${TREE}: only `))).toMatch(/^tree \S+: only [0-4]% free \(below 5%\)$/);
    expect(statusFile(mirror).status).toBe("fail");

    const m = metricsFile(mirror);
    const check = spawnSync(toolPath("promtool"), ["check", "metrics"], { input: m, encoding: "utf8" });
    expect(check.stdout + check.stderr, m).toBe("");
    expect(check.status).toBe(0);
    expect(sample(m, mirror, METRICS.healthOk.name)).toBe("0");
    expect(sample(m, mirror, METRICS.healthProblems.name)).toBe(String(problems.length));
    expect(sample(m, mirror, METRICS.replicationSqlRunning.name)).toBe("0");
    expect(sample(m, mirror, METRICS.replicationIoRunning.name)).toBe("1");
    expect(Number(sample(m, mirror, METRICS.fileSyncAge.name))).toBeGreaterThanOrEqual(2 * 86400);
    expect(sample(m, mirror, METRICS.mdDegraded.name, ',array="md0"')).toBe("1");
    expect(sample(m, mirror, METRICS.mdResyncing.name, ',array="md0"')).toBe("0");
    const size = Number(sample(m, mirror, METRICS.filesystemSize.name, `,purpose="tree",path="${TREE}"`));
    const avail = Number(sample(m, mirror, METRICS.filesystemAvail.name, `,purpose="tree",path="${TREE}"`));
    expect(size).toBe(1024 * 1024);
    expect(avail / size).toBeLessThan(0.05);

    const told = alerts(mirror);
    expect(told, told.join("\n---\n")).toHaveLength(1);
    expect(told[0]).toMatch(new RegExp(`^stack=${STACK}\nhost=${mirror}\nchecked=\\d+\nstatus=fail\nproblems=`));
    for (const p of problems) expect(told[0]).toContain(p);

    const again = healthRun(mirror);
    expect(again.code, again.out).toBe(1);
    expect(statusFile(mirror).problems).toBe(problems.join(";"));
    expect(alerts(mirror)).toHaveLength(1);

    // mirrorctl status: its own live checks, and the RAID state the health job measured (status cannot see it).
    const st = await ctl("status", "--stack", STACK);
    expect(st.code, st.stdout + st.stderr).toBe(2);
    expect(st.stdout).toMatch(new RegExp(`${mirror}: RAID md0 is degraded \\(health job, .+ ago\\)`));
    expect(st.stdout).toMatch(/SQL/);
    expect(st.stdout).toMatch(new RegExp(`last successful file sync is .* old`));
    expect(st.stdout).toMatch(new RegExp(`tree ${TREE}: only [0-4]% free`));
  });
});
