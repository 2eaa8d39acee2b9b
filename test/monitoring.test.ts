// The example alert rules (monitoring/alerts.yml, its promtool unit tests in monitoring/alerts.test.yml) and the
// Grafana dashboard (monitoring/dashboard.json): promtool checks and runs the rules, and every metric name they or
// the dashboard read must be a family of infra/render/metrics.ts.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { METRICS } from "../infra/render/metrics";
import { toolPath } from "./tools";

const DIR = resolve(__dirname, "..", "monitoring");
const KNOWN = new Set<string>(Object.values(METRICS).map((f) => f.name));
const scratch = mkdtempSync(join(tmpdir(), "mirrorstack-monitoring-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The mirrorstack metric names a PromQL expression reads. */
function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\bmirrorstack_[a-zA-Z0-9_:]+/g) ?? [])];
}

function promtool(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(toolPath("promtool"), args, { encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

interface Rule {
  alert: string;
  expr: string;
}
interface RuleTest {
  alertname: string;
  exp_alerts: unknown[];
}
const rules: Rule[] = (parse(readFileSync(join(DIR, "alerts.yml"), "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const ruleTestText = readFileSync(join(DIR, "alerts.test.yml"), "utf8");
const ruleTests: RuleTest[] = (parse(ruleTestText) as { tests: { alert_rule_test: RuleTest[] }[] }).tests.flatMap((t) => t.alert_rule_test);

describe("metric names", () => {
  it("metricNames finds every mirrorstack name, so an unknown one fails the checks below", () => {
    expect(metricNames("mirrorstack_nope_bytes / mirrorstack_filesystem_size_bytes{stack=~\"$stack\"} < 0.05")).toEqual(["mirrorstack_nope_bytes", "mirrorstack_filesystem_size_bytes"]);
    expect(KNOWN.has("mirrorstack_nope_bytes")).toBe(false);
  });
});

describe("alert rules", () => {
  it("promtool check rules accepts monitoring/alerts.yml", () => {
    const r = promtool("check", "rules", join(DIR, "alerts.yml"));
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.status, r.out).toBe(0);
  });

  it("promtool test rules passes monitoring/alerts.test.yml", () => {
    const r = promtool("test", "rules", join(DIR, "alerts.test.yml"));
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.status, r.out).toBe(0);
  });

  it("the rule tests fail when a healthy host would alert (the edge of 5 % free moved below it)", () => {
    copyFileSync(join(DIR, "alerts.yml"), join(scratch, "alerts.yml"));
    const healthyDisk = `mirrorstack_filesystem_avail_bytes{stack="prod",host="db1",purpose="datadir",path="/var/lib/mysql"}'\n        values: '5x90'`;
    expect(ruleTestText).toContain(healthyDisk);
    writeFileSync(join(scratch, "alerts.test.yml"), ruleTestText.replace(healthyDisk, healthyDisk.replace("5x90", "4x90")));
    const r = promtool("test", "rules", join(scratch, "alerts.test.yml"));
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/alertname: MirrorstackFilesystemNearlyFull[\s\S]*host="db1"/);
  });

  it("every expr reads only families of infra/render/metrics.ts", () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) {
      const names = metricNames(r.expr);
      expect(names.length, `${r.alert}: reads no mirrorstack metric`).toBeGreaterThan(0);
      for (const n of names) expect(KNOWN.has(n), `${r.alert}: ${n} is not in METRICS`).toBe(true);
    }
  });

  it("alerts on health, both replication threads, lag, file sync, backup, disk, md and the vendor check", () => {
    const read = new Set(rules.flatMap((r) => metricNames(r.expr)));
    for (const f of [METRICS.healthOk, METRICS.replicationIoRunning, METRICS.replicationSqlRunning, METRICS.replicationLag, METRICS.fileSyncAge, METRICS.backupAge, METRICS.filesystemAvail, METRICS.filesystemSize, METRICS.mdDegraded, METRICS.vendorCheckOk]) {
      expect(read.has(f.name), `no alert reads ${f.name}`).toBe(true);
    }
  });

  it("every alert is tested both firing and silent", () => {
    for (const r of rules) {
      const mine = ruleTests.filter((t) => t.alertname === r.alert);
      expect(mine.some((t) => t.exp_alerts.length > 0), `${r.alert}: no test where it fires`).toBe(true);
      expect(mine.some((t) => t.exp_alerts.length === 0), `${r.alert}: no test where it stays silent`).toBe(true);
    }
  });
});

interface Panel {
  title: string;
  type: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}

describe("Grafana dashboard", () => {
  const dash = JSON.parse(readFileSync(join(DIR, "dashboard.json"), "utf8")) as {
    __inputs: { name: string; type: string; pluginId: string }[];
    panels: Panel[];
    templating: { list: { name: string; datasource?: { uid: string }; query: { query: string } }[] };
  };
  const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  it("takes its Prometheus data source as the ${DS_PROMETHEUS} input, in every panel, query and variable", () => {
    expect(dash.__inputs).toContainEqual(expect.objectContaining({ name: "DS_PROMETHEUS", type: "datasource", pluginId: "prometheus" }));
    for (const p of dash.panels) {
      expect(p.datasource?.uid, p.title).toBe("${DS_PROMETHEUS}");
      expect(p.targets?.length, `${p.title}: no query`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe("${DS_PROMETHEUS}");
    }
    for (const v of dash.templating.list) expect(v.datasource?.uid, v.name).toBe("${DS_PROMETHEUS}");
  });

  it("shows health per host, replication lag and threads, file sync age, filesystem free % and md arrays", () => {
    const read = new Set(exprs.flatMap((e) => metricNames(e.expr)));
    for (const f of [METRICS.healthOk, METRICS.replicationLag, METRICS.replicationIoRunning, METRICS.replicationSqlRunning, METRICS.fileSyncAge, METRICS.filesystemAvail, METRICS.filesystemSize, METRICS.mdDegraded]) {
      expect(read.has(f.name), `no panel reads ${f.name}`).toBe(true);
    }
  });

  it("every expr reads only families of infra/render/metrics.ts, and promtool parses each one", () => {
    const all = [...exprs, ...dash.templating.list.map((v) => ({ panel: `variable ${v.name}`, expr: v.query.query }))];
    for (const e of all) {
      const names = metricNames(e.expr);
      expect(names.length, `${e.panel}: reads no mirrorstack metric`).toBeGreaterThan(0);
      for (const n of names) expect(KNOWN.has(n), `${e.panel}: ${n} is not in METRICS`).toBe(true);
    }
    // PromQL syntax: each panel query as a recording rule ($stack as the "All" value; label_values() is Grafana's
    // own function, not PromQL, so the variable is left out here).
    const groups = [{ name: "dashboard", rules: exprs.map((e, i) => ({ record: `mirrorstack_dashboard:query_${i}`, expr: e.expr.replaceAll("$stack", ".+") })) }];
    const file = join(scratch, "dashboard-queries.yml");
    writeFileSync(file, JSON.stringify({ groups }));
    const r = promtool("check", "rules", file);
    expect(r.status, r.out).toBe(0);
  });
});
