// End-to-end (root + lab): examples/existing-program, another team's Pulumi program that imports SiteMirror from
// "mirrorstack", previewed by the real engine against a lab's hosts: its own resource and the SiteMirror's
// children are to be created; args that break the stack config's rules fail the preview, naming the key, with
// no resource made.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inventory, isRoot, pulumi, ROOT, skipReason, useLab } from "./lab";

useLab("example", { mirrors: 1, image: "prepared" });
const reason = skipReason();
if (reason) console.warn(`[e2e] ${reason}`);

const EXAMPLE = path.join(ROOT, "examples/existing-program");
const STACK = "e2e-example";
const PASSWORD = "Abcdefghijklmnop1234";

/**
 * The engine on the example's project. mirrorstack's engine runs its language host with TypeScript off (its own
 * program runs compiled, scripts/setup.sh); the example is TypeScript, as another team's program would be.
 */
const ex = (args: string[]) => pulumi(["--cwd", EXAMPLE, ...args, "--stack", STACK], { PULUMI_NODEJS_TYPESCRIPT: "true" });

async function must(args: string[]): Promise<string> {
  const r = await ex(args);
  if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} (exit ${r.code}):\n${r.out}`);
  return r.out;
}

interface Step {
  op: string;
  urn: string;
}

describe.skipIf(!isRoot)("another Pulumi program with a SiteMirror (lab)", { shuffle: false }, () => {
  beforeAll(async () => {
    // The example loads the library compiled (package.json "exports": dist/infra/lib.js).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require(path.join(ROOT, "scripts/build-program.js")) as { ensureBuilt(root: string): boolean }).ensureBuilt(ROOT);
    await ex(["cancel", "--yes"]);
    await ex(["stack", "rm", "--yes", "--force"]);
    await must(["stack", "init"]);
    const inv = inventory();
    const master = inv.hosts.find((h) => h.role === "master")!;
    const mirror = inv.hosts.find((h) => h.name === "mirror1")!;
    const set = (key: string, value: string, secret = false) => must(["config", "set", "--path", ...(secret ? ["--secret"] : []), key, value]);
    await set("master.name", master.name);
    await set("master.address", master.address);
    await set("mirrors[0].name", mirror.name);
    await set("mirrors[0].address", mirror.address);
    await set("ssh.privateKeyPath", inv.privateKeyPath);
    await set("ssh.knownHostsPath", inv.knownHostsPath);
    await set("replicationPassword", PASSWORD, true);
  }, 300_000);

  afterAll(async () => {
    await ex(["stack", "rm", "--yes", "--force"]);
    fs.rmSync(path.join(EXAMPLE, `Pulumi.${STACK}.yaml`), { force: true });
  });

  it("previews its own resource and the SiteMirror's children to create", async () => {
    const out = await must(["preview", "--json"]);
    const plan = JSON.parse(out) as { steps: Step[]; changeSummary: Record<string, number> };
    const creates = plan.steps.filter((s) => s.op === "create").map((s) => s.urn.replace(/^urn:pulumi:[^:]+::existing-program::/, ""));
    // The team's own resource beside it.
    expect(creates).toContain("acme:wiki:App::wiki");
    expect(creates).toContain("mirrorstack:index:SiteMirror::wiki-mirror");
    const inside = (type: string, name: string) => creates.filter((u) => u.startsWith("mirrorstack:index:SiteMirror$") && u.endsWith(`${type}::${name}`));
    for (const [type, name] of [
      ["mirrorstack:index:MirrorHost", "master"],
      ["mirrorstack:index:MirrorHost", "mirror1"],
      ["mirrorstack:index:FileMirroring", "files"],
      ["pulumi-nodejs:dynamic/mirrorstack:MirrorReplication", "mirror1-replication"],
      ["pulumi-nodejs:dynamic/mirrorstack:RemoteCommand", "master-software"],
      ["pulumi-nodejs:dynamic/mirrorstack:HostProbe", "mirror1-sync-key"],
      ["pulumi-nodejs:dynamic/mirrorstack:HostFile", "mirror1-etc-cron.d-mirrorstack-sync"],
    ]) {
      expect(inside(type!, name!), `${type}::${name}`).toHaveLength(1);
    }
    // backups.enabled is false in the example: nothing of backups.
    expect(creates.filter((u) => u.includes("backup"))).toEqual([]);
    expect(plan.changeSummary.create).toBe(creates.length);
    expect(creates.length).toBeGreaterThan(20);
  });

  it("the preview shows the SiteMirror's outputs in the program's own", async () => {
    const out = await must(["preview", "--diff"]);
    const inv = inventory();
    for (const h of inv.hosts.filter((x) => x.name === "master" || x.name === "mirror1")) {
      expect(out).toContain(`${h.name} (${h.role}) ${h.address}`);
    }
    expect(out).toContain("https://wiki.example.org/");
  });

  it("a secret of the program's config that breaks the rules fails the preview, naming the arg", async () => {
    await must(["config", "set", "--secret", "replicationPassword", "short"]);
    try {
      const r = await ex(["preview"]);
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/site mirror wiki-mirror \(stack e2e-example\) has invalid args:\s+replicationPassword: the replication password must be at least 16 characters long/);
      expect(r.out).not.toContain("short");
    } finally {
      await must(["config", "set", "--secret", "replicationPassword", PASSWORD]);
    }
  });

  it("an invalid host fails before any resource, every problem named", async () => {
    await must(["config", "set", "--path", "mirrors[0].address", "not an address!"]);
    await must(["config", "set", "--path", "mirrors[0].name", "master"]);
    try {
      const r = await ex(["preview", "--json"]);
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/mirrors\[0\]\.address: /);
      expect(r.out).toMatch(/mirrors\[0\]\.name: .*unique/);
      // Validated before the component registers: neither it nor a child is in the plan.
      expect(r.out).not.toMatch(/"urn": "[^"]*SiteMirror/);
    } finally {
      const m = inventory().hosts.find((h) => h.name === "mirror1")!;
      await must(["config", "set", "--path", "mirrors[0].address", m.address]);
      await must(["config", "set", "--path", "mirrors[0].name", m.name]);
    }
  });
});
