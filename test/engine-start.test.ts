// What mirrorstack trims from the engine's processes at every `up` and `preview` (issue 15, bench/RESULTS.md):
// the SDK's per-resource extras in the program (infra/sdk-trim.js) and the provider host's start through
// scripts/pulumi-resource-pulumi-nodejs with scripts/provider-preload.js, which setup.sh installs beside the CLI.
// Each runs in a Node.js process of its own, as the engine starts them.
import { spawn } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "./e2e/lab";

const ROOT = path.resolve(__dirname, "..");

/** Runs Node.js from the repository (test/e2e/lab.ts `run`); what it prints ends with a JSON line. */
const node = (args: string[], env: NodeJS.ProcessEnv = {}) => run("node", args, { env });

const trimmed = `
  const log = require("@pulumi/pulumi/log");
  const { Resource } = require("@pulumi/pulumi/resource");
  const debuggable = require("@pulumi/pulumi/runtime/debuggable");
  const before = { debug: log.debug, callsites: Resource.callsites().length };
  require("./infra/sdk-trim").trimSdk(process.env);
  const p = Promise.resolve(7);
  debuggable.debuggablePromise(p, "probe");
  console.log(JSON.stringify({
    debugReplaced: log.debug !== before.debug,
    promiseStack: p._debugStackTrace ?? null,
    promiseLabel: p._debugCtx ?? null,
    callsitesBefore: before.callsites,
    callsitesAfter: Resource.callsites().length,
    prepareStackTrace: Error.prepareStackTrace === undefined,
  }));`;

describe("the program's SDK trim (infra/sdk-trim.js)", () => {
  it("drops the per-resource debug messages and stack walks, keeps V8's stack formatting", async () => {
    const r = await node(["-e", trimmed], { MIRRORSTACK_SDK_DEBUG: "" });
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(got.callsitesBefore).toBeGreaterThan(0);
    expect(got).toMatchObject({ debugReplaced: true, callsitesAfter: 0, prepareStackTrace: true });
    // The pending-promise report still names the promise, without the stack it was made on.
    expect(got.promiseStack).toBe("Error");
    expect(got.promiseLabel).toBe("probe");
  });

  it("keeps the SDK's debug messages with MIRRORSTACK_SDK_DEBUG=1", async () => {
    const r = await node(["-e", trimmed], { MIRRORSTACK_SDK_DEBUG: "1" });
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(got).toMatchObject({ debugReplaced: false, callsitesAfter: 0, promiseLabel: "probe" });
    expect(got.promiseStack).toMatch(/\n\s+at /);
  });
});

describe("the provider host's preload (scripts/provider-preload.js)", () => {
  const loaded = (what: string) => `Object.keys(require.cache).some((f) => f.includes(${JSON.stringify(what)}))`;
  const probe = `
    const runtime = require("@pulumi/pulumi/runtime");
    const opts = runtime.grpcChannelOptions;
    const early = ${loaded("runtime/closure/serializeClosure")};
    const fn = typeof runtime.serializeFunction;
    console.log(JSON.stringify({ opts, early, fn, late: ${loaded("runtime/closure/serializeClosure")} }));`;

  it("gives the host its gRPC options without loading the closure serializer, and the whole runtime on any other use", async () => {
    const r = await node(["--require", "./scripts/provider-preload.js", "-e", probe]);
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout.trim().split("\n").pop()!);
    const settings = require("@pulumi/pulumi/runtime/settings") as { grpcChannelOptions: object };
    expect(got.opts).toEqual(settings.grpcChannelOptions);
    expect(got.early).toBe(false);
    expect(got).toMatchObject({ fn: "function", late: true });
  });

  it("changes nothing but when: without it the runtime loads the serializer at once", async () => {
    const r = await node(["-e", probe]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split("\n").pop()!)).toMatchObject({ early: true, fn: "function" });
  });
});

describe("the dynamic-provider plugin (scripts/pulumi-resource-pulumi-nodejs)", () => {
  it("starts the SDK's provider host from the program's directory (the engine starts it in infra/) with the preload", async () => {
    // The host prints the port it serves on; the engine then talks to it. Stopped here by its PID.
    const child = spawn("sh", [path.join(ROOT, "scripts/pulumi-resource-pulumi-nodejs"), "127.0.0.1:1"], { cwd: path.join(ROOT, "infra") });
    try {
      const port = await new Promise<string>((resolve, reject) => {
        let out = "";
        let err = "";
        const timer = setTimeout(() => reject(new Error(`no port within 30 s: ${err}`)), 30_000);
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (/^\d+\s*$/m.test(out)) {
            clearTimeout(timer);
            resolve(out.trim());
          }
        });
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("close", (code) => reject(new Error(`exited ${code}: ${err}`)));
      });
      expect(Number(port)).toBeGreaterThan(0);
      const fs = await import("node:fs");
      const cmdline = fs.readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0");
      expect(cmdline).toContain("--require");
      expect(cmdline.some((a) => a.endsWith("scripts/provider-preload.js"))).toBe(true);
      expect(cmdline).toContain(path.join(ROOT, "node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js"));
    } finally {
      child.kill();
    }
  });
});
