// Brings the lab up once for all end-to-end tests and takes it down afterwards (root only).
import { execFileSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const mirrors = process.env.MIRRORSTACK_E2E_MIRRORS ?? "1";

export async function setup(): Promise<() => void> {
  if (!isRoot) {
    console.warn("[e2e] not root: lab tests are skipped (they need network namespaces and mounts)");
    return () => undefined;
  }
  // Tests start from fresh hosts: whatever an earlier run or the demo left is taken down first (the demo
  // notices a rebuilt lab and refreshes its state).
  console.log(`[e2e] fresh lab${process.env.MIRRORSTACK_LAB_ID ? ` ${process.env.MIRRORSTACK_LAB_ID}` : ""}: down, then up --mirrors ${mirrors}`);
  execFileSync("bash", [path.join(ROOT, "lab/lab.sh"), "down"], { stdio: "inherit" });
  execFileSync("bash", [path.join(ROOT, "lab/lab.sh"), "up", "--mirrors", mirrors], { stdio: "inherit" });
  return () => {
    console.log("[e2e] lab down");
    execFileSync("bash", [path.join(ROOT, "lab/lab.sh"), "down"], { stdio: "inherit" });
    const check = 'ip netns list | grep -c "^mslab$MIRRORSTACK_LAB_ID-" || true; findmnt -rn -o TARGET | grep -c "mirrorstack-lab${MIRRORSTACK_LAB_ID:+-$MIRRORSTACK_LAB_ID}/" || true';
    const leftovers = execFileSync("bash", ["-c", check], { encoding: "utf8", env: { ...process.env, MIRRORSTACK_LAB_ID: process.env.MIRRORSTACK_LAB_ID ?? "" } })
      .trim()
      .split("\n")
      .map(Number);
    if (leftovers.some((n) => n > 0)) throw new Error(`[e2e] lab down left namespaces/mounts behind: ${leftovers.join(",")}`);
  };
}
