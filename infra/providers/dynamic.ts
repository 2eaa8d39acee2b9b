import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import type { ResourceProvider } from "@pulumi/pulumi/dynamic";
import { CustomResource, output, type CustomResourceOptions, type Input, type Inputs } from "../pulumi";
import { PROJECT_ROOT } from "../paths";

// mirrorstack's dynamic resources. Pulumi stores a dynamic provider's code, serialized from the running program,
// with each resource; serializing the providers took about 1.5 s of every `up` and `preview` (the SDK's closure
// serializer loads the TypeScript parser and walks every captured function). `npm run build` serializes them once,
// from the same compiled code (infra/providers/prebuild.ts), into dist/providers/<id>.js, and a run from dist/
// stores with each resource only a reference to that file (providerReference below). A run from the TypeScript
// sources (tests) stores the serialized code itself, compressed, as the SDK's own pulumi.dynamic.Resource would.

/** The type names, which are also the file names of the code serialized at build time. */
export type ProviderId = "HostFile" | "RemoteCommand" | "MirrorReplication" | "HostProbe" | "TlsCertificate" | "MasterRole";

/** Where `npm run build` puts each provider's serialized code (`<id>.js`, a module exporting `handler`). */
export const PREBUILT_DIR = path.join(PROJECT_ROOT, "dist", "providers");

const RUNS_COMPILED = __filename.startsWith(path.join(PROJECT_ROOT, "dist") + path.sep);
const serialized = new WeakMap<ResourceProvider, Input<string>>();

/**
 * A provider's code as the engine's Node.js dynamic provider loads it (exports.handler returns the provider). The
 * code is stored in the state unencrypted (compressed is not hidden), so a provider must take secrets as inputs,
 * never capture them.
 */
export async function serializeProvider(id: ProviderId, provider: ResourceProvider): Promise<string> {
  // Loaded here, not at the top: the serializer loads the SDK's index and the TypeScript parser (about 0.7 s).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { serializeFunction } = require("@pulumi/pulumi/runtime/closure/serializeClosure") as typeof import("@pulumi/pulumi/runtime/closure/serializeClosure");
  // The same closure the SDK serializes (`() => provider`), so the stored text is the same either way.
  const sf = await serializeFunction(() => provider, { allowSecrets: true });
  if (sf.containsSecrets) throw new Error(`internal: the ${id} provider captured a secret`);
  // Minified (names kept): a run from the sources stores it with every resource (packed, below), where its size
  // is paid per resource in every message. Loaded here for the same reason as the serializer.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { transformSync } = require("esbuild") as typeof import("esbuild");
  return transformSync(sf.text, { minify: true, keepNames: true, target: "node20" }).code;
}

/**
 * What a compiled run stores as a resource's `__provider`: a loader of mirrorstack's dist/providers/<id>.js, found
 * from the directory the engine starts the provider host in (the program's) upward: mirrorstack's own checkout
 * (`dist/providers/`), or a program that uses the package (`node_modules/mirrorstack/dist/providers/`). The
 * stored code, even packed, was 3–28 KB per resource, twice in the state, in every message between program,
 * engine and provider host and in the engine's secret scan of each step: the part of a no-op `up` that grew with
 * the number of mirrors (issue 15). So `refresh` and `destroy` of a resource the program no longer declares run
 * the provider code found there, not the code of the run that made it, as with a provider plugin: keep each
 * provider able to delete what its earlier versions made, and never rename a ProviderId. The text does not
 * change with the code, so a new build is not a change to any resource.
 */
export function providerReference(id: ProviderId): string {
  const file = JSON.stringify(`${id}.js`);
  return (
    `// mirrorstack dynamic provider ${id}: dist/providers/${id}.js of mirrorstack, found from the program's directory (infra/providers/dynamic.ts)\n` +
    `exports.handler = (() => { const path = require("path"), fs = require("fs"); ` +
    `for (let d = process.cwd(); ; d = path.dirname(d)) { ` +
    `for (const f of [path.join(d, "node_modules", "mirrorstack", "dist", "providers", ${file}), path.join(d, "dist", "providers", ${file})]) ` +
    `if (fs.existsSync(f)) return require(f).handler; ` +
    `if (path.dirname(d) === d) throw new Error("mirrorstack: no dist/providers/" + ${file} + " (mirrorstack's checkout or node_modules/mirrorstack) in " + process.cwd() + " or above it: run npm run build in the mirrorstack checkout"); } })();\n`
  );
}

const REFERENCE = /^\/\/ mirrorstack dynamic provider (\w+): dist\/providers\/\w+\.js of mirrorstack/;

/**
 * The serialized code, compressed, behind a one-line loader: what a run from the sources stores. The engine
 * stores it twice with every resource (inputs and outputs) and sends it in each call: in the clear, 23–55 KB per
 * resource made the state of 1 + 16 hosts 6 MB and a no-op `up` there 0.7 s slower (bench/RESULTS.md). The loader
 * runs the code as the SDK's dynamic provider would have (a module body with exports and require) and hands over
 * its handler.
 */
export function packProviderCode(code: string): string {
  const packed = zlib.brotliCompressSync(Buffer.from(code, "utf8"), { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).toString("base64");
  return (
    `// mirrorstack dynamic provider, brotli-compressed (infra/providers/dynamic.ts)\n` +
    `exports.handler = new Function("exports", "require", "module", "__filename", "__dirname", ` +
    `require("zlib").brotliDecompressSync(Buffer.from("${packed}", "base64")).toString("utf8") + "\\nreturn exports.handler;")` +
    `({}, require, module, __filename, __dirname);\n`
  );
}

/**
 * The code behind a stored `__provider` (for readers of the state, e.g. a test that searches it): a reference
 * reads dist/providers/<id>.js under `root`, packed code is unpacked, other text is returned as is.
 */
export function storedProviderCode(stored: string, root: string = PROJECT_ROOT): string {
  const ref = REFERENCE.exec(stored);
  if (ref) return fs.readFileSync(path.join(root, "dist", "providers", `${ref[1]}.js`), "utf8");
  const m = /brotliDecompressSync\(Buffer\.from\("([A-Za-z0-9+/=]*)", "base64"\)\)/.exec(stored);
  return m ? zlib.brotliDecompressSync(Buffer.from(m[1], "base64")).toString("utf8") : stored;
}

function providerCode(id: ProviderId, provider: ResourceProvider): Input<string> {
  if (RUNS_COMPILED && fs.existsSync(path.join(PREBUILT_DIR, `${id}.js`))) return providerReference(id);
  let code = serialized.get(provider);
  if (code === undefined) {
    code = output(serializeProvider(id, provider).then(packProviderCode));
    serialized.set(provider, code);
  }
  return code;
}

/** A resource whose create/read/update/delete run in this process's `provider` (a pulumi.dynamic.Resource). */
export class MirrorstackDynamicResource extends CustomResource {
  constructor(id: ProviderId, provider: ResourceProvider, name: string, props: Inputs, opts?: CustomResourceOptions) {
    // Same type token and `__provider` property as pulumi.dynamic.Resource(provider, name, props, opts, "mirrorstack", id).
    super(`pulumi-nodejs:dynamic/mirrorstack:${id}`, name, { ...props, __provider: providerCode(id, provider) }, opts);
  }
}
