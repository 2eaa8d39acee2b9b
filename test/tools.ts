// Tools the tests run that npm run setup provides outside the system packages (promtool: scripts/setup.sh takes
// it out of Debian's prometheus package into the cache). A missing tool fails the test that needs it, saying how
// to get it, never skips it.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The path of `name` in mirrorstack's tool cache (scripts/engine-env.sh MS_TOOLS_BIN), else on PATH. */
export function toolPath(name: string): string {
  const cache = process.env.MIRRORSTACK_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "mirrorstack");
  const candidates = [join(cache, "tools", "bin", name), ...(process.env.PATH ?? "").split(":").filter((d) => d !== "").map((d) => join(d, name))];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`${name} is not installed: run npm run setup (it puts ${name} in ${join(cache, "tools", "bin")})`);
  return found;
}
