// `npm run review` without the engine: what it asks the engine, its exit statuses, masking of the stack's secrets,
// and the one pull-request comment per stack (with a fake GitHub).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { STRICT_CONTEXT } from "../infra/review/context";
import { commentBody, githubTargetFromEnv, upsertReviewComment, type Fetch, type GitHubTarget } from "../infra/review/github";
import { EXIT, previewArgs, runReview, secretValuesFromConfigJson, type EngineResult } from "../infra/review/run";

const FIX = join(__dirname, "fixtures/review");
const json = (name: string) => readFileSync(join(FIX, `${name}.json`), "utf8");
const ctx = { ...STRICT_CONTEXT, master: "master", mirrors: ["mirror1", "mirror2"] };

/** A fake engine: the preview answers with `preview`, `config --json --show-secrets` with `config`. */
function engine(preview: EngineResult, config: EngineResult = { code: 0, stdout: "{}", stderr: "" }) {
  const calls: string[][] = [];
  return {
    calls,
    run: (args: readonly string[]) => {
      calls.push([...args]);
      return args[0] === "preview" ? preview : config;
    },
  };
}

describe("runReview", () => {
  it("asks for a JSON preview with the unchanged resources, never secrets in clear, never a refresh", () => {
    expect(previewArgs("prod")).toEqual(["preview", "--diff", "--json", "--show-sames", "--non-interactive", "--stack", "prod"]);
    expect(previewArgs("prod")).not.toContain("--show-secrets");
    expect(previewArgs("prod").some((a) => a.startsWith("--refresh"))).toBe(false);
  });

  it("exit 0 with changes and with none", () => {
    for (const name of ["mycnf", "nochange", "new-mirror"]) {
      const e = engine({ code: 0, stdout: json(name), stderr: "" });
      const r = runReview({ stack: "e2e-review", runEngine: e.run, policy: ctx });
      expect(r.exitCode, name).toBe(EXIT.ok);
      expect(r.previewOk).toBe(true);
      expect(e.calls.map((c) => c[0])).toEqual(["preview", "config"]);
    }
  });

  it("exit 1 when the preview failed, with the engine's errors in the report", () => {
    const e = engine({ code: 1, stdout: json("failed"), stderr: "" });
    const r = runReview({ stack: "e2e-review", runEngine: e.run, policy: ctx });
    expect(r.exitCode).toBe(EXIT.previewFailed);
    expect(r.report).toContain("the preview failed");
    expect(r.report).toContain("binlogFormat");
    // The engine printed no JSON at all (e.g. no such stack): its stderr is the report.
    const none = runReview({ stack: "nope", runEngine: engine({ code: 255, stdout: "", stderr: "error: no stack named 'nope' found" }).run });
    expect(none.exitCode).toBe(EXIT.previewFailed);
    expect(none.report).toContain("error: no stack named 'nope' found");
    // Exit 0 but an error diagnostic is a failure too.
    const odd = runReview({ stack: "x", runEngine: engine({ code: 0, stdout: JSON.stringify({ steps: [], diagnostics: [{ severity: "error", message: "error: boom" }] }), stderr: "" }).run });
    expect(odd.exitCode).toBe(EXIT.previewFailed);
  });

  it("exit 3 when a policy rule is violated (the report lists it)", () => {
    const keys: Record<string, string> = {
      "/work/main/.lab-r/review-e2e/weak_rsa.pub":
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC323AYX1ZrVR9IFGIul3TdHANyCXzKBPMa4d1Jhg0KrbkkbPjIDW3KejMT9p9EiWybOmxUrUN4kn67B2HGRTgD2ZXpoRdHzAJRBDwAC2M5zilTYn87OEDLDsO7FNDHt3GKoxWDj5Xq26NvUmFqDVP+L3+pOfVbxFSmj6V6EEGhDCG2dz6fhIUUqUVHePUDotehVSafPIraG5beMFjVDAR4AM7f8bqccqnBfphiAo+ENuu3zE152cTZEdaDmc1PjxoK3KhFJ/EvgtjRxt6sGzcyVVfmhIYSaLozRzF6brG5KmX+hjRz1MvnA2JJKQn4agGAhIZHXbPaFZ64GkaiAdhx rsa2048\n",
    };
    const e = engine({ code: 0, stdout: json("weak-key"), stderr: "" });
    const r = runReview({ stack: "e2e-review", runEngine: e.run, policy: { ...ctx, readLocalFile: (p) => keys[p] } });
    expect(r.exitCode).toBe(EXIT.policy);
    expect(r.violations.map((v) => [v.policy, v.key])).toEqual([["ssh-key-strength", "ssh.privateKeyPath"]]);
    expect(r.report).toContain("### Policy: 1 violation");
    // Without the policy context the rules do not run.
    expect(runReview({ stack: "e2e-review", runEngine: e.run }).exitCode).toBe(EXIT.ok);
  });

  it("masks the stack's decrypted secrets in the report, and says so when it cannot read them", () => {
    const leaky = JSON.stringify({
      steps: [
        {
          op: "update",
          urn: "urn:pulumi:s::mirrorstack::mirrorstack:index:MirrorHost$pulumi-nodejs:dynamic/mirrorstack:HostFile::h-x",
          oldState: { type: "pulumi-nodejs:dynamic/mirrorstack:HostFile", outputs: { target: { host: "h" }, path: "/etc/x", kind: "whole", content: "a\n" } },
          newState: { type: "pulumi-nodejs:dynamic/mirrorstack:HostFile", inputs: { target: { host: "h" }, path: "/etc/x", kind: "whole", content: "pw=Sup3r-Secret-Pw\n" } },
        },
      ],
    });
    const config = JSON.stringify({
      "mirrorstack:replicationPassword": { value: "Sup3r-Secret-Pw", secret: true },
      "mirrorstack:master": { value: '{"name":"db1"}', objectValue: { name: "db1" }, secret: false },
    });
    const r = runReview({ stack: "s", runEngine: engine({ code: 0, stdout: leaky, stderr: "" }, { code: 0, stdout: config, stderr: "" }).run });
    expect(r.report).not.toContain("Sup3r-Secret-Pw");
    expect(r.report).toContain("+pw=[secret]");
    const noCfg = runReview({ stack: "s", runEngine: engine({ code: 0, stdout: json("mycnf"), stderr: "" }, { code: 255, stdout: "", stderr: "error: passphrase must be set" }).run });
    expect(noCfg.notes.join("\n")).toContain("could not read the stack's secrets to mask them");
    expect(noCfg.exitCode).toBe(EXIT.ok);
  });

  it("reads the secret values of `pulumi config --json --show-secrets`, structured ones included", () => {
    const text = JSON.stringify({
      "mirrorstack:a": { value: "plain", secret: false },
      "mirrorstack:b": { value: "s1-secret", secret: true },
      "mirrorstack:c": { value: '{"k":"s2-secret"}', objectValue: { k: "s2-secret" }, secret: true },
    });
    expect(secretValuesFromConfigJson(text).sort()).toEqual(["s1-secret", "s2-secret", "s2-secret"].sort());
    expect(secretValuesFromConfigJson("not json")).toEqual([]);
  });
});

describe("the pull-request comment", () => {
  const gh: GitHubTarget = { apiUrl: "https://api.example.test", repo: "o/r", pr: 7, token: "t0ken" };

  function fakeGitHub(pages: { id: number; body: string }[][]) {
    const calls: { method: string; url: string; body?: string; auth?: string }[] = [];
    const fetchFn: Fetch = async (url, init) => {
      calls.push({ method: init.method, url, ...(init.body ? { body: init.body } : {}), auth: init.headers.Authorization });
      const respond = (status: number, data: unknown) => ({ ok: status < 300, status, json: async () => data, text: async () => JSON.stringify(data) });
      if (init.method === "GET") {
        const page = Number(new URL(url).searchParams.get("page"));
        return respond(200, pages[page - 1] ?? []);
      }
      if (init.method === "PATCH") return respond(200, { id: Number(url.split("/").pop()), html_url: "https://x/c" });
      return respond(201, { id: 99, html_url: "https://x/new" });
    };
    return { calls, fetchFn };
  }

  it("creates the comment when the pull request has none for this stack", async () => {
    const f = fakeGitHub([[{ id: 1, body: "lgtm" }, { id: 2, body: "<!-- mirrorstack-review stack=prod -->\nold" }]]);
    const res = await upsertReviewComment(gh, "staging", "the report", f.fetchFn);
    expect(res).toEqual({ action: "created", id: 99, url: "https://x/new" });
    expect(f.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "GET https://api.example.test/repos/o/r/issues/7/comments?per_page=100&page=1",
      "POST https://api.example.test/repos/o/r/issues/7/comments",
    ]);
    expect(JSON.parse(f.calls[1]!.body!)).toEqual({ body: "<!-- mirrorstack-review stack=staging -->\nthe report" });
    expect(f.calls[0]!.auth).toBe("Bearer t0ken");
  });

  it("updates the one marked comment, found on a later page", async () => {
    const page1 = Array.from({ length: 100 }, (_, i) => ({ id: i + 1, body: `comment ${i}` }));
    const f = fakeGitHub([page1, [{ id: 555, body: commentBody("staging", "old report") }]]);
    const res = await upsertReviewComment(gh, "staging", "new report", f.fetchFn);
    expect(res.action).toBe("updated");
    expect(res.id).toBe(555);
    expect(f.calls.map((c) => c.method)).toEqual(["GET", "GET", "PATCH"]);
    expect(f.calls[2]!.url).toBe("https://api.example.test/repos/o/r/issues/comments/555");
  });

  it("fails with the HTTP status when GitHub refuses", async () => {
    const fetchFn: Fetch = async () => ({ ok: false, status: 403, json: async () => ({}), text: async () => "Resource not accessible by integration" });
    await expect(upsertReviewComment(gh, "s", "r", fetchFn)).rejects.toThrow(/HTTP 403 Resource not accessible/);
  });

  it("reads the pull request from the Actions environment", () => {
    const env = { GITHUB_TOKEN: "t", GITHUB_REPOSITORY: "o/r", GITHUB_EVENT_PATH: "/ev.json", GITHUB_API_URL: "https://ghe.example/api/v3/" };
    expect(githubTargetFromEnv(env, () => JSON.stringify({ pull_request: { number: 12 } }))).toEqual({ apiUrl: "https://ghe.example/api/v3", repo: "o/r", pr: 12, token: "t" });
    expect(githubTargetFromEnv({ ...env, MIRRORSTACK_REVIEW_PR: "5" }, () => "{}").pr).toBe(5);
    expect(() => githubTargetFromEnv({ GITHUB_REPOSITORY: "o/r" }, () => "{}")).toThrow("needs GITHUB_TOKEN");
    expect(() => githubTargetFromEnv(env, () => JSON.stringify({ push: {} }))).toThrow("not about a pull request");
  });
});
