import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

// The project root (where Pulumi.yaml is): relative paths in a stack config, templates/, docs/ and the host-side
// scripts are found from it. Looked up rather than `__dirname + "/.."` because this code runs both as TypeScript
// from infra/ (tests, CLIs) and compiled from dist/infra/ (`pulumi up`, see infra/main.js).
function findRoot(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, "Pulumi.yaml"))) return d;
    if (dirname(d) === d) throw new Error(`internal: no Pulumi.yaml above ${from}`);
  }
}

export const PROJECT_ROOT = findRoot(__dirname);
