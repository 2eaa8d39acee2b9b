// Brings the lab up once for all end-to-end tests and takes it down afterwards (root only).
import { execFileSync, spawnSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const mirrors = process.env.MIRRORSTACK_E2E_MIRRORS ?? "1";

export async function setup(): Promise<() => void> {
  if (!isRoot) {
    console.warn("[e2e] not root: lab tests are skipped (they need network namespaces and mounts)");
    return () => undefined;
  }
  const wasUp = spawnSync("bash", [path.join(ROOT, "lab/lab.sh"), "status"], { stdio: "ignore" }).status === 0;
  console.log(`[e2e] lab up --mirrors ${mirrors}${wasUp ? " (already up: left up afterwards)" : ""}`);
  execFileSync("bash", [path.join(ROOT, "lab/lab.sh"), "up", "--mirrors", mirrors], { stdio: "inherit" });
  return () => {
    if (wasUp) return;
    console.log("[e2e] lab down");
    execFileSync("bash", [path.join(ROOT, "lab/lab.sh"), "down"], { stdio: "inherit" });
    const leftovers = execFileSync("bash", ["-c", "ip netns list | grep -c '^mslab-' || true; findmnt -rn -o TARGET | grep -c mirrorstack-lab || true"], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map(Number);
    if (leftovers.some((n) => n > 0)) throw new Error(`[e2e] lab down left namespaces/mounts behind: ${leftovers.join(",")}`);
  };
}
