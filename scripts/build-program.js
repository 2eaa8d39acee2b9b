// Compiles the Pulumi program (infra/**/*.ts) to dist/ with tsc, when a source is newer than the last build.
// `npm run build` and setup.sh call it; so does infra/main.js before every `pulumi up|preview`, which makes a
// run after an edit compile first instead of running stale code, and keeps the everyday run free of a TypeScript
// compiler (loading and running it was about 2 s of an 8 s no-op `up`). Plain JavaScript: it runs before anything
// is compiled. The lock is a directory (mkdir is atomic) because parallel test files run `pulumi up` at once.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

/** The sources whose change needs a new build: the program, the host script its providers carry, and what
 * configures its compilation. */
function newestSourceMs(root) {
  let newest = 0;
  const visit = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) visit(p);
      else if (e.name.endsWith(".ts") || e.name.endsWith(".sh")) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  visit(path.join(root, "infra"));
  for (const f of ["tsconfig.json", "tsconfig.build.json", "package-lock.json"]) {
    const p = path.join(root, f);
    if (fs.existsSync(p)) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

const stampOf = (root) => path.join(root, "dist", ".built");

/** True when dist/ is missing or older than a source. */
function isStale(root) {
  try {
    return fs.statSync(stampOf(root)).mtimeMs < newestSourceMs(root);
  } catch {
    return true;
  }
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Builds dist/ if stale; returns whether it compiled. Throws with tsc's output when compilation fails. */
function ensureBuilt(root, log = (m) => process.stderr.write(`${m}\n`)) {
  if (!isStale(root)) return false;
  fs.mkdirSync(path.join(root, "dist"), { recursive: true });
  const lock = path.join(root, "dist", ".build.lock");
  for (let waited = 0; ; waited += 100) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
      // A lock older than 5 minutes belongs to a build that was killed.
      if (Date.now() - fs.statSync(lock).mtimeMs > 300_000) fs.rmSync(lock, { recursive: true, force: true });
      if (waited > 600_000) throw new Error(`[build] ${lock} is held by another build for 10 minutes`);
      sleep(100);
    }
  }
  try {
    if (!isStale(root)) return false; // another process built it while this one waited
    const started = new Date();
    log("[build] compiling infra/ to dist/ (a source changed since the last build)");
    const tsc = require.resolve("typescript/bin/tsc", { paths: [root] });
    const r = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], { cwd: root, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`[build] tsc -p tsconfig.build.json failed (exit ${r.status}):\n${(r.stdout + r.stderr).trim()}`);
    // The dynamic providers' code, serialized once here instead of in every run (infra/providers/dynamic.ts).
    const prebuild = path.join(root, "dist", "infra", "providers", "prebuild.js");
    if (fs.existsSync(prebuild)) {
      const p = spawnSync(process.execPath, [prebuild], { cwd: root, encoding: "utf8" });
      if (p.status !== 0) throw new Error(`[build] serializing the dynamic providers failed (exit ${p.status}):\n${(p.stdout + p.stderr).trim()}`);
    }
    // Stamped with the start time: a file saved during the build is newer, so the next run builds again.
    fs.writeFileSync(stampOf(root), "");
    fs.utimesSync(stampOf(root), started, started);
    return true;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

module.exports = { ensureBuilt, isStale };

if (require.main === module) {
  try {
    const built = ensureBuilt(path.resolve(__dirname, ".."));
    if (!built) process.stderr.write("[build] dist/ is up to date\n");
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
}
