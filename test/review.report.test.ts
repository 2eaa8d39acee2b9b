// The review report: JSON of real lab previews (test/fixtures/review, captured by test/e2e/review.test.ts with
// MIRRORSTACK_REVIEW_CAPTURE=1) in, Markdown out. Also: secrets never leak, sizes stay under GitHub's limit.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parsePreviewJson, resourceChanges, resourcesAfterUp, trimPreview, UNKNOWN, type PreviewDoc } from "../infra/review/preview";
import { commentMarker, maskSecrets, renderReview, type ReviewInput } from "../infra/review/report";
import type { Violation } from "../infra/review/rules";

const FIX = join(__dirname, "fixtures/review");
const CNF = "/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf";

function fixture(name: string): PreviewDoc {
  return parsePreviewJson(readFileSync(join(FIX, `${name}.json`), "utf8"));
}

function report(name: string, extra: Partial<ReviewInput> = {}): string {
  const preview = fixture(name);
  const failed = (preview.diagnostics ?? []).some((d) => d.severity === "error");
  return renderReview({ stack: "e2e-review", previewOk: !failed, preview, violations: [], rulesChecked: 7, ...extra });
}

function hostSection(md: string, host: string): string {
  const start = md.indexOf(`### Host \`${host}\``);
  if (start < 0) return "";
  const next = md.slice(start + 1).search(/\n### /);
  return next < 0 ? md.slice(start) : md.slice(start, start + 1 + next);
}

function diffLines(md: string, host: string, file: string): string[] {
  const section = hostSection(md, host);
  const rest = section.slice(section.indexOf(`#### \`${file}\``));
  const m = /```diff\n([\s\S]*?)\n```/.exec(rest);
  return m ? m[1]!.split("\n").filter((l) => /^[-+]/.test(l) && !/^(---|\+\+\+) /.test(l)) : [];
}

/** Every "[secret]" the fixtures hold, and the addresses of the lab hosts in them. */
const fixtureNames = ["initial", "nochange", "mycnf", "new-mirror", "nfs-new", "nfs-change", "reseed", "rotation", "failed", "weak-key", "switchover"];

describe("review report from real previews", () => {
  it("no change: one line", () => {
    expect(report("nochange")).toBe("No changes: stack `e2e-review` is up to date (20 resources unchanged; policy: 7 rules checked, no violations).\n");
    expect(renderReview({ stack: "lab", previewOk: true, preview: fixture("nochange") })).toBe("No changes: stack `lab` is up to date (20 resources unchanged).\n");
  });

  it("a changed my.cnf value: exactly that line, the restart, only on the master", () => {
    const md = report("mycnf");
    expect(diffLines(md, "master", CNF)).toEqual(["-binlog_expire_logs_seconds = 604800", "+binlog_expire_logs_seconds = 777600"]);
    const master = hostSection(md, "master");
    expect(master).toContain("**Services that would restart or reload:**\n\n- `mariadb` restart — after `/etc/mysql/mariadb.conf.d/60-mirrorstack.cnf`");
    expect(master).toContain(`#### \`${CNF}\` — updated, −1 +1 lines\n\n- then: \`mariadb\` restart`);
    expect(master).toContain("@@ -20,7 +20,7 @@");
    expect(hostSection(md, "mirror1")).toBe("");
    expect(md).not.toContain("### Replication");
    expect(md.split("\n")[0]).toBe("## mirrorstack review of stack `e2e-review`: 2 files on 1 host, 1 service action, 0 replication changes");
  });

  it("a switchover by config change (captured by test/e2e/declarative-switchover.test.ts): the steps, no copy, no restart", () => {
    const md = renderReview({ stack: "e2e-declarative", previewOk: true, preview: fixture("switchover"), violations: [], rulesChecked: 7 });
    expect(md).toContain("### Switchover: `master` → `mirror1`");
    expect(md).toContain("2. fence `master`: read_only, a global read lock, its client sessions ended: **writes stop here**;");
    expect(md).toContain("5. point `mirror2`, `master` at `mirror1` by GTID: no data is copied;");
    expect(md).toContain("the deadline (30 s)");
    // Before the hosts: it runs first.
    expect(md.indexOf("### Switchover")).toBeLessThan(md.indexOf("### Host "));
    expect(md).toContain("- **follows the new master** `mirror1` (was `master`): no copy");
    expect(md).toContain("- **old master** `master` becomes a mirror of `mirror1`: no copy");
    expect(md).toContain("- **promoted** `mirror1`: it replicates from nobody now");
    expect(md).not.toMatch(/re-seed|password rotation|\bmariadb\b` restart/);
    // Both servers' settings change at run time.
    expect(hostSection(md, "master")).toContain("`mariadb` options applied live (SET GLOBAL), no restart");
    expect(hostSection(md, "mirror1")).toContain("`mariadb` options applied live (SET GLOBAL), no restart");
    expect(diffLines(md, "master", CNF)).toContain("+read_only = ON");
  });

  it("a new mirror: its files, its restart, its account and grant", () => {
    const md = report("new-mirror");
    const m2 = hostSection(md, "mirror2");
    expect(m2).toContain("### Host `mirror2` (10.250.39.12)");
    expect(m2).toContain(`#### \`${CNF}\` — new, `);
    expect(m2).toContain("<details><summary>content of the new file</summary>");
    expect(m2).toContain("+read_only = ON");
    expect(m2).toContain("- `mirror2-software` (new): runs once during up");
    expect(hostSection(md, "mirror1")).toBe("");
    expect(md).toContain("- **new mirror** `mirror2`: seeded from `master` and started\n");
    expect(md).toContain("account 'mirrorstack_repl'@'10.250.39.12' created on `master` (password [secret]) with `GRANT REPLICATION SLAVE ON *.* TO 'mirrorstack_repl'@'10.250.39.12'`");
    expect(md).toContain("copies wiki to `mirror2` with a consistent logical dump");
    // Master first, then the mirrors.
    expect(md.indexOf("### Host `master`")).toBeLessThan(md.indexOf("### Host `mirror2`"));
  });

  it("NFS: new exports, blocks said to be managed blocks, and the steps that make them live", () => {
    const md = report("nfs-new");
    const master = hostSection(md, "master");
    expect(master).toContain("#### `/etc/exports` — new, 4 lines");
    expect(master).toContain("+/srv/www 10.250.39.11(ro,sync,root_squash,no_subtree_check,secure)");
    expect(master).toContain("#### `/etc/hosts.allow` — new, managed block, ");
    expect(master).toContain("_managed block: only the lines between mirrorstack's BEGIN/END markers are written; the rest of the file stays as it is_");
    // This program writes the NFS files without actions and runs one step per host to make them live: the report
    // shows that step and its script.
    expect(master).toContain("- `master-nfs-server` (new): runs once during up\n\n<details><summary>the script</summary>");
    expect(master).toContain('+out=$(exportfs -ra 2>&1) || fail "exportfs -ra failed: $out"');
    const m1 = hostSection(md, "mirror1");
    expect(m1).toContain("#### `/etc/fstab` — new, managed block, ");
    expect(m1).toContain("+10.250.39.10:/srv/www /srv/www nfs ro,");
    expect(m1).toContain("- `mirror1-nfs-mount` (new): runs once during up");
    expect(m1).toContain("- `mirror1-software` (updated): runs again during up with the new script");
    expect(m1).toContain("+for p in mariadb-server mariadb-backup rsync socat zstd gnupg cron openssh-client nfs-common; do");
  });

  it("NFS: a changed export is a one-line diff of /etc/exports", () => {
    const md = report("nfs-change");
    expect(diffLines(md, "master", "/etc/exports")).toEqual([
      "-/srv/www 10.250.39.11(ro,sync,root_squash,no_subtree_check,secure)",
      "+/srv/www 10.250.39.0/24(ro,async,root_squash,no_subtree_check,secure)",
    ]);
    expect(hostSection(md, "master")).toContain("#### `/etc/exports` — updated, −1 +1 lines");
  });

  it("a file action is listed as a service action of its host", () => {
    // The same exports change in a program that gives /etc/exports its exportfs action (as the render declares).
    const doc = fixture("nfs-change");
    const withAction: PreviewDoc = {
      ...doc,
      steps: doc.steps.map((s) =>
        s.urn.endsWith("::master-etc-exports") ? { ...s, newState: { ...s.newState!, inputs: { ...s.newState!.inputs, actions: ["nfs-kernel-server:exportfs"] } } } : s,
      ),
    };
    const md = renderReview({ stack: "e2e-review", previewOk: true, preview: withAction });
    expect(hostSection(md, "master")).toContain("**Services that would restart or reload:**\n\n- `exportfs -ra` (re-export) — after `/etc/exports`");
  });

  it("a re-seed: replace of the replication, with the reason and the grants", () => {
    const md = report("reseed");
    expect(md).toContain("- **re-seed** of `mirror1` (replace, because `seedToken` changed)");
    expect(md).toContain("the replicated databases on `mirror1` are overwritten");
    expect(md).toContain("grants: `GRANT REPLICATION SLAVE ON *.* TO 'mirrorstack_repl'@'10.250.39.11'` (account re-created)");
    expect(md).toContain('`seedToken`: "" → r20261121');
  });

  it("a password rotation: [secret], no re-seed", () => {
    const md = report("rotation");
    expect(md).toContain("- **password rotation** for `mirror1`");
    expect(md).toContain("`ALTER USER 'mirrorstack_repl'@'10.250.39.11'` on `master` with the new password [secret]");
    expect(md).not.toMatch(/password`?: (?!\[secret\])/);
  });

  it("the first deployment: secret files are never diffed", () => {
    const md = report("initial");
    const m1 = hostSection(md, "mirror1");
    expect(m1).toContain("#### `/etc/mirrorstack/backup-passphrase` — new\n");
    expect(m1).toContain("Content: [secret] (secret; not shown)");
    expect(md).toContain("**new mirror** `mirror1`");
  });

  it("a failed preview: the engine's error, nothing else", () => {
    const md = report("failed");
    expect(md.split("\n")[0]).toBe("## mirrorstack review of stack `e2e-review`: the preview failed");
    expect(md).toContain("stack e2e-review has an invalid config:");
    expect(md).toContain("mirrorstack:database.binlogFormat: MIXED can make mirrors diverge");
    expect(md).not.toContain("### Host");
  });

  it("policy violations come first, with host and key", () => {
    const v: Violation = { policy: "ssh-key-strength", host: "master, mirror1", key: "ssh.privateKeyPath", message: "master, mirror1: the deploying SSH key /k is a 2048-bit RSA key; at least 3072 bits are required", urn: "u" };
    const md = report("weak-key", { violations: [v] });
    expect(md).toContain("### Policy: 1 violation (7 rules checked)\n\n- ❌ `ssh-key-strength` — host `master, mirror1`, key `ssh.privateKeyPath`: master, mirror1: the deploying SSH key /k is a 2048-bit RSA key");
    expect(md).toContain("No changes to apply.");
    expect(md.split("\n")[0]).toBe("## mirrorstack review of stack `e2e-review`: no changes, 1 policy violation");
    // Even with no change, a violation is not a one-line report.
    expect(md.split("\n").length).toBeGreaterThan(3);
  });

  it("every fixture renders, and no report shows a secret", () => {
    for (const name of fixtureNames) {
      const doc = fixture(name);
      const md = report(name);
      expect(md.length, name).toBeLessThan(60000);
      // The engine's secrets are "[secret]" in the JSON; nothing secret-looking appears in clear text.
      expect(md, name).not.toMatch(/v1:[A-Za-z0-9+/=]{8,}:/);
      for (const r of resourceChanges(doc)) {
        for (const k of r.secretKeys) {
          for (const v of [r.before?.[k], r.after?.[k]]) {
            if (typeof v === "string" && v !== "[secret]" && v.length > 3) expect(md, `${name} ${r.name}.${k}`).not.toContain(v);
          }
        }
      }
    }
  });
});

describe("review report: secrets and odd inputs", () => {
  const hostFile = (over: Record<string, unknown>, state: Record<string, unknown> = {}) => ({
    op: "update",
    urn: "urn:pulumi:s::mirrorstack::mirrorstack:index:MirrorHost$pulumi-nodejs:dynamic/mirrorstack:HostFile::h-etc-x",
    oldState: { type: "pulumi-nodejs:dynamic/mirrorstack:HostFile", outputs: { target: { host: "h" }, path: "/etc/x", kind: "whole", mode: "0600", owner: "root", group: "root", content: "old\n", actions: [] }, ...state },
    newState: { type: "pulumi-nodejs:dynamic/mirrorstack:HostFile", inputs: { target: { host: "h" }, path: "/etc/x", kind: "whole", mode: "0600", owner: "root", group: "root", content: "new\n", actions: ["mariadb:restart"], ...over }, ...state },
  });
  const doc = (...steps: unknown[]): PreviewDoc => ({ steps: steps as PreviewDoc["steps"], changeSummary: { update: steps.length } });

  it("content of a property listed in additionalSecretOutputs is never shown, even in clear text", () => {
    const md = renderReview({ stack: "s", previewOk: true, preview: doc(hostFile({ content: "hunter2-clear\n" }, { additionalSecretOutputs: ["content"] })) });
    expect(md).not.toContain("hunter2");
    expect(md).toContain("Content: [secret] (secret; not shown)");
    expect(md).toContain("- then: `mariadb` restart");
  });

  it("the engine's wire form of a secret is a secret too", () => {
    const wire = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "hunter2-wire" };
    const md = renderReview({ stack: "s", previewOk: true, preview: doc(hostFile({ content: wire })) });
    expect(md).not.toContain("hunter2");
    expect(md).toContain("[secret]");
  });

  it("known secret values are masked wherever they appear (a secret leaked into plain text by mistake)", () => {
    const md = renderReview({ stack: "s", previewOk: true, preview: doc(hostFile({ content: "password = Lab-Secret-123\n" })), secretValues: ["Lab-Secret-123", "abc"] });
    expect(md).not.toContain("Lab-Secret-123");
    expect(md).toContain("+password = [secret]");
    expect(maskSecrets("a abc b", ["abc"])).toBe("a abc b"); // too short to mask safely
    // A multi-line secret (a private key) shows up one line at a time in a diff.
    const key = "-----BEGIN KEY-----\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\nMDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3A=\n-----END KEY-----\n";
    const diffed = "+QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n+MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3A=\n";
    expect(maskSecrets(diffed, [key])).toBe("+[secret]\n+[secret]\n");
  });

  it("a failed preview's engine output is masked too", () => {
    const md = renderReview({ stack: "s", previewOk: false, engineOutput: "error: could not log in with Lab-Secret-123", secretValues: ["Lab-Secret-123"] });
    expect(md).toContain("error: could not log in with [secret]");
  });

  it("values known only during up", () => {
    const md = renderReview({ stack: "s", previewOk: true, preview: doc(hostFile({ content: UNKNOWN })) });
    expect(md).toContain("Content: known only during `up`");
    expect(md).toContain("- then: `mariadb` restart");
  });

  it("a database option file says what its check decided: applied live, nothing, or a restart", () => {
    const settings = (applies?: string) => hostFile({ actions: ["mariadb:settings"], ...(applies === undefined ? {} : { applies }) });
    const live = renderReview({ stack: "s", previewOk: true, preview: doc(settings("applied live, no restart: SET GLOBAL sync_binlog = 0")) });
    expect(live).toContain("- then: `mariadb` options applied live (SET GLOBAL), no restart");
    expect(live).not.toContain("`mariadb` restart");
    const none = renderReview({ stack: "s", previewOk: true, preview: doc(settings("no option changed: no restart")) });
    expect(none).not.toContain("- then:");
    // No decision known (an older engine state): the safe reading, a restart.
    expect(renderReview({ stack: "s", previewOk: true, preview: doc(settings()) })).toContain("- then: `mariadb` restart");
    expect(renderReview({ stack: "s", previewOk: true, preview: doc(settings("restart (server_id cannot change at run time)")) })).toContain("- then: `mariadb` restart");
  });

  it("mode and owner changes without content change: no restart", () => {
    const md = renderReview({ stack: "s", previewOk: true, preview: doc(hostFile({ content: "old\n", mode: "0640" })) });
    expect(md).toContain("- mode 0600 → 0640");
    expect(md).toContain("Content: unchanged");
    expect(md).not.toContain("restart");
  });

  it("file contents cannot close the code fence", () => {
    const md = renderReview({ stack: "s", previewOk: true, preview: doc(hostFile({ content: "```\n# not markdown\n" })) });
    expect(md).toContain("````diff\n");
    expect(md).toContain("+```\n");
  });

  it("stays under the size limit: new files first, then long diffs, then a cut that closes its fence", () => {
    const big = fixture("initial");
    const full = renderReview({ stack: "s", previewOk: true, preview: big });
    const smaller = renderReview({ stack: "s", previewOk: true, preview: big, maxChars: Math.floor(full.length / 2) });
    expect(smaller.length).toBeLessThanOrEqual(Math.floor(full.length / 2));
    expect(smaller).toContain("content not shown: report size limit");
    const tiny = renderReview({ stack: "s", previewOk: true, preview: big, maxChars: 1500 });
    expect(tiny.length).toBeLessThanOrEqual(1500);
    expect(tiny).toContain("report cut at the size limit");
    expect((tiny.match(/^`{3,}/gm) ?? []).length % 2).toBe(0);
  });

  it("the comment marker names the stack and is an HTML comment", () => {
    expect(commentMarker("prod")).toBe("<!-- mirrorstack-review stack=prod -->");
    expect(commentMarker("a b-->")).toBe("<!-- mirrorstack-review stack=a_b--_ -->");
  });

  it("trimPreview keeps what the report and the rules read", () => {
    const doc0 = fixture("mycnf");
    const withProvider = (st: typeof doc0.steps[number]["newState"]) =>
      st?.inputs ? ({ ...st, inputs: { ...st.inputs, __provider: "x".repeat(1000) }, stackTrace: [] } as never) : st;
    const t = trimPreview({ ...doc0, steps: doc0.steps.map((s) => ({ ...s, newState: withProvider(s.newState) })) });
    expect(JSON.stringify(t)).not.toContain("x".repeat(100));
    expect(renderReview({ stack: "e2e-review", previewOk: true, preview: t })).toBe(renderReview({ stack: "e2e-review", previewOk: true, preview: doc0 }));
    expect(resourcesAfterUp(t).length).toBe(resourcesAfterUp(doc0).length);
  });
});
