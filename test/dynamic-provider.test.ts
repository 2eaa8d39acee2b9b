// infra/providers/dynamic.ts: the provider code stored with every resource is compressed behind a loader, and the
// SDK's dynamic-provider host (which loads `__provider` with require-from-string and calls `.handler()`) gets the
// same provider object as from the plain serialized text.
import { describe, expect, it } from "vitest";
import { packProviderCode, serializeProvider, unpackProviderCode } from "../infra/providers/dynamic";
import { PROVIDERS } from "../infra/providers/prebuild";
import type { ProviderId } from "../infra/providers/dynamic";

// The loader the engine's Node.js dynamic provider uses (cmd/dynamic-provider: requireFromString(code).handler()).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const requireFromString = require(require.resolve("require-from-string", { paths: [require.resolve("@pulumi/pulumi")] })) as (code: string) => { handler: () => Record<string, unknown> };

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
      const packed = await serializeProvider(id as ProviderId, provider);
      const plain = unpackProviderCode(packed);
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
    const code = unpackProviderCode(await serializeProvider("MirrorReplication", PROVIDERS.MirrorReplication));
    expect(code.match(/this\.name\s*=\s*"ReplicationNotConfiguredError"/g)).toHaveLength(1);
    expect(code).toMatch(/instanceof (\w+\.)?ReplicationNotConfiguredError\b/);
    expect(code).not.toMatch(/not configured\/i/);
  }, 60_000);
});
