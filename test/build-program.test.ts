// scripts/build-program.js: what `pulumi up` runs is compiled to dist/ once, rebuilt when (and only when) a source
// is newer, never half-built by two runs at once, and a type error stops the run with tsc's message.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureBuilt, isStale } = require("../scripts/build-program.js") as {
  ensureBuilt(root: string, log?: (m: string) => void): boolean;
  isStale(root: string): boolean;
};

const REPO = path.resolve(__dirname, "..");
let root: string;

function write(rel: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
}

/** Sets a file's mtime `s` seconds from now (a later edit without waiting). */
function touch(rel: string, s: number): void {
  const t = new Date(Date.now() + s * 1000);
  fs.utimesSync(path.join(root, rel), t, t);
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "ms-build-"));
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(root, "node_modules"));
  write("tsconfig.json", JSON.stringify({ compilerOptions: { target: "ES2022", module: "commonjs", strict: true, types: [] } }));
  write("tsconfig.build.json", JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { rootDir: ".", outDir: "dist" }, include: ["infra/**/*.ts"] }));
  write("infra/index.ts", 'import { n } from "./lib/n";\nexport const answer: number = n + 1;\n');
  write("infra/lib/n.ts", "export const n = 41;\n");
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const load = () => {
  const p = path.join(root, "dist/infra/index.js");
  delete require.cache[p];
  delete require.cache[path.join(root, "dist/infra/lib/n.js")];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(p) as { answer: number };
};

describe("build-program", () => {
  it("compiles a fresh checkout, then does nothing until a source changes", () => {
    const logs: string[] = [];
    expect(isStale(root)).toBe(true);
    expect(ensureBuilt(root, (m) => logs.push(m))).toBe(true);
    expect(load().answer).toBe(42);
    expect(logs.join("\n")).toMatch(/compiling infra\//);
    expect(isStale(root)).toBe(false);
    expect(ensureBuilt(root, (m) => logs.push(m))).toBe(false);
    expect(logs).toHaveLength(1);
  });

  it("rebuilds when a nested source or the compiler settings are newer than the build", () => {
    ensureBuilt(root, () => undefined);
    write("infra/lib/n.ts", "export const n = 99;\n");
    touch("infra/lib/n.ts", 5);
    expect(isStale(root)).toBe(true);
    expect(ensureBuilt(root, () => undefined)).toBe(true);
    expect(load().answer).toBe(100);
    touch("tsconfig.json", 10);
    expect(isStale(root)).toBe(true);
  });

  it("stops on a type error with tsc's message and the file, and stays stale", () => {
    write("infra/lib/n.ts", 'export const n: number = "forty-one";\n');
    expect(() => ensureBuilt(root, () => undefined)).toThrow(/tsc -p tsconfig.build.json failed[\s\S]*infra\/lib\/n\.ts[\s\S]*TS2322/);
    expect(isStale(root)).toBe(true);
    expect(fs.existsSync(path.join(root, "dist/.build.lock"))).toBe(false);
  });

  it("with the project's compiler settings, a subclass's declared output keeps what the base constructor set", () => {
    // The Pulumi SDK sets a resource's outputs on `this` inside CustomResource's constructor; a class field
    // emitted for `readonly value!: Output<string>` would reset it to undefined after super() returns.
    write("tsconfig.json", JSON.stringify({ extends: path.join(REPO, "tsconfig.json"), compilerOptions: { types: [] } }));
    write("infra/index.ts", 'class Base { constructor() { (this as Record<string, unknown>).value = "set by the base"; } }\nclass Probe extends Base { public readonly value!: string; }\nexport const answer = new Probe().value;\n');
    ensureBuilt(root, () => undefined);
    expect((load() as unknown as { answer: string }).answer).toBe("set by the base");
  });

  it("waits for another build's lock, then finds the build done", () => {
    ensureBuilt(root, () => undefined);
    touch("infra/index.ts", 5);
    // Another process holds the lock and finishes while this one waits: simulated by a lock that is released
    // by a child process after 300 ms, having stamped the build.
    fs.mkdirSync(path.join(root, "dist/.build.lock"));
    const { spawn } = require("node:child_process") as typeof import("node:child_process");
    const later = new Date(Date.now() + 10_000).toISOString();
    const child = spawn(process.execPath, [
      "-e",
      `setTimeout(() => { const fs = require("fs"); const t = new Date(${JSON.stringify(later)}); fs.utimesSync(${JSON.stringify(path.join(root, "dist/.built"))}, t, t); fs.rmdirSync(${JSON.stringify(path.join(root, "dist/.build.lock"))}); }, 300)`,
    ]);
    const logs: string[] = [];
    const t0 = Date.now();
    expect(ensureBuilt(root, (m) => logs.push(m))).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(logs).toHaveLength(0);
    child.kill();
  });
});
