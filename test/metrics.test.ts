// The metric families (infra/render/metrics.ts) and their text format, checked by promtool itself.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { formatMetrics, METRICS } from "../infra/render/metrics";
import { toolPath } from "./tools";

describe("metrics", () => {
  it("every family is named by Prometheus conventions and formats as promtool accepts", () => {
    const samples = Object.values(METRICS).map((f) => ({
      family: f,
      host: "mirror1",
      value: 1,
      ...("labels" in f && f.labels ? { labels: Object.fromEntries(f.labels.map((l) => [l, l === "path" ? '/srv/my "photos"' : "x"])) } : {}),
    }));
    const text = formatMetrics("prod", samples);
    for (const f of Object.values(METRICS)) expect(f.name).toMatch(/^mirrorstack_[a-z_]+$/);
    expect(text).toContain('mirrorstack_filesystem_avail_bytes{stack="prod",host="mirror1",purpose="x",path="/srv/my \\"photos\\""} 1');
    const r = spawnSync(toolPath("promtool"), ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("promtool refuses what the check must catch (the test can fail)", () => {
    const r = spawnSync(toolPath("promtool"), ["check", "metrics"], { input: "# TYPE mirrorstack_x_total gauge\nmirrorstack_x_total 1\n", encoding: "utf8" });
    expect(r.status).not.toBe(0);
  });
});
