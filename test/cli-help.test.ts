// Every command-line entry point answers --help with its usage on stdout and exit status 0 (asked for, so not
// an error), and an unknown argument with a non-zero status.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");
const CLIS = ["infra/cli/review.ts", "infra/cli/mirrorctl.ts", "infra/cli/render.ts", "bench/index.ts"];

function run(file: string, ...args: string[]) {
  return spawnSync("node", ["--import", "tsx", file, ...args], { cwd: ROOT, encoding: "utf8" });
}

describe.each(CLIS)("%s", (file) => {
  it("--help prints usage and exits 0", () => {
    const r = run(file, "--help");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/usage/i);
  });

  it("an unknown argument exits non-zero", () => {
    const r = run(file, "--no-such-option-anywhere");
    expect(r.status).not.toBe(0);
  });
});
