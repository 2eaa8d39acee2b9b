// infra/providers/dynamic.ts: what is stored as each resource's `__provider` (a reference to dist/providers/<id>.js
// in compiled runs, compressed code in runs from the sources) gives the SDK's dynamic-provider host (which loads
// `__provider` with require-from-string and calls `.handler()`) the same provider as the plain serialized text.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { packProviderCode, providerReference, serializeProvider, storedProviderCode } from "../infra/providers/dynamic";
import { PROVIDERS } from "../infra/providers/prebuild";
import type { ProviderId } from "../infra/providers/dynamic";

// The loader the engine's Node.js dynamic provider uses (cmd/dynamic-provider: requireFromString(code).handler()).
const REQUIRE_FROM_STRING = require.resolve("require-from-string", { paths: [require.resolve("@pulumi/pulumi")] });
// eslint-disable-next-line @typescript-eslint/no-require-imports
const requireFromString = require(REQUIRE_FROM_STRING) as (code: string) => { handler: () => Record<string, unknown> };

describe("packProviderCode", () => {
  it("runs the code as a module body: exports, require and the module's paths work, and the handler is returned", () => {
    const code = [
      "var state = { n: 0 };",
      "exports.handler = __f0;",
      "function __f0() { return { sep: require('node:path').sep, file: typeof __filename, count: () => ++state.n }; }",
    ].join("\n");
    const packed = packProviderCode(code);
    expect(packed).not.toContain("__f0");
    const p = requireFromString(packed).handler() as { sep: string; file: string; count: () => number };
    expect(p.sep).toBe("/");
    expect(p.file).toBe("string");
    expect([p.count(), p.count()]).toEqual([1, 2]);
  });

  it("is deterministic (the same code gives the same stored text, so a no-op stays a no-op)", () => {
    expect(packProviderCode("exports.handler = () => 1;")).toBe(packProviderCode("exports.handler = () => 1;"));
  });

  it("keeps a thrown error of the code visible to the host", () => {
    expect(() => requireFromString(packProviderCode("throw new Error('broken provider');"))).toThrow(/broken provider/);
  });
});

describe("the four providers, serialized and packed", () => {
  for (const [id, provider] of Object.entries(PROVIDERS)) {
    it(`${id}: loads through the SDK's loader with the same methods, at under half the size`, async () => {
      const plain = await serializeProvider(id as ProviderId, provider);
      const packed = packProviderCode(plain);
      expect(storedProviderCode(packed)).toBe(plain);
      // Minified (dynamic.ts): the serializer's module, with the handler export kept.
      expect(plain).toMatch(/(^|;)exports\.handler=__f0;/);
      expect(packed.length).toBeLessThan(plain.length / 2);
      const loaded = requireFromString(packed).handler();
      const methods = (o: object) => Object.keys(o).filter((k) => typeof (o as Record<string, unknown>)[k] === "function").sort();
      expect(methods(loaded)).toEqual(methods(provider));
      expect(methods(loaded).length).toBeGreaterThanOrEqual(3);
    }, 60_000);
  }
});

describe("MirrorReplication serialized", () => {
  it("carries one ReplicationNotConfiguredError class, so read's instanceof sees the one normalizeReplicaStatus throws", async () => {
    const code = await serializeProvider("MirrorReplication", PROVIDERS.MirrorReplication);
    expect(code.match(/this\.name\s*=\s*"ReplicationNotConfiguredError"/g)).toHaveLength(1);
    expect(code).toMatch(/instanceof (\w+\.)?ReplicationNotConfiguredError\b/);
    expect(code).not.toMatch(/not configured\/i/);
  }, 60_000);
});

describe("providerReference (what a compiled run stores)", () => {
  const hostLoad = (cwd: string, stored: string) =>
    // A process of its own: the loader searches from the working directory, which the engine sets for the host.
    spawnSync(process.execPath, ["-e", `const r = require(${JSON.stringify(REQUIRE_FROM_STRING)}); console.log(JSON.stringify(r(process.argv[1]).handler()))`, stored], {
      cwd,
      encoding: "utf8",
    });

  it("loads dist/providers/<id>.js found from the host's working directory upward, and stays small and the same across builds", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "ms-ref-"));
    try {
      fs.mkdirSync(path.join(root, "dist", "providers"), { recursive: true });
      fs.mkdirSync(path.join(root, "infra"));
      fs.writeFileSync(path.join(root, "dist", "providers", "HostFile.js"), `exports.handler = () => ({ from: "HostFile", dir: __dirname });`);
      fs.writeFileSync(path.join(root, "dist", "providers", "RemoteCommand.js"), `exports.handler = () => ({ from: "RemoteCommand" });`);
      const ref = providerReference("HostFile");
      const r = hostLoad(path.join(root, "infra"), ref);
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({ from: "HostFile", dir: path.join(root, "dist", "providers") });
      expect(ref.length).toBeLessThan(1024); // against 3–28 KB of packed code
      expect(providerReference("HostFile")).toBe(ref);
      expect(storedProviderCode(ref, root)).toContain(`from: "HostFile"`);
      expect(storedProviderCode(providerReference("RemoteCommand"), root)).toContain(`from: "RemoteCommand"`);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("finds the package's build from a program that uses mirrorstack as a package (node_modules/mirrorstack)", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "ms-ref-"));
    try {
      const pkg = path.join(root, "node_modules", "mirrorstack", "dist", "providers");
      fs.mkdirSync(pkg, { recursive: true });
      fs.mkdirSync(path.join(root, "src"));
      fs.writeFileSync(path.join(pkg, "MasterRole.js"), `exports.handler = () => ({ from: "package" });`);
      const r = hostLoad(path.join(root, "src"), providerReference("MasterRole"));
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({ from: "package" });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("fails with the file it looked for and what to run when the checkout has no build", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "ms-ref-"));
    try {
      const r = hostLoad(root, providerReference("MirrorReplication"));
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`no dist/providers/MirrorReplication.js (mirrorstack's checkout or node_modules/mirrorstack) in ${fs.realpathSync(root)} or above it: run npm run build`);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
