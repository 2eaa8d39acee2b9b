// SiteMirror (infra/components/siteMirror.ts): its args are the stack config's schema, validated before any
// resource; its children keep the names infra/index.ts gave them; another program imports it as "mirrorstack"
// (examples/existing-program, type-checked here). The engine side (state kept, preview against a lab) is in
// test/e2e/example.test.ts and the compatibility run described in the README.
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import ts from "typescript";
import YAML from "yaml";
import { beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { stackSchema } from "../infra/config";
import type { StackInput } from "../infra/config/schema";
import { checkedSecrets, SiteMirror, type SiteMirrorArgs, validateSiteMirrorArgs } from "../infra/components/siteMirror";

const ROOT = path.resolve(__dirname, "..");
const EXAMPLE = path.join(ROOT, "examples/existing-program");
const PASSWORD = "Abcdefghijklmnop1234";

const minimal = (over: Partial<SiteMirrorArgs> = {}): SiteMirrorArgs => ({
  master: { name: "master", address: "10.0.0.10" },
  mirrors: [{ name: "mirror1", address: "10.0.0.11" }],
  ssh: { privateKeyPath: "/keys/id_ed25519" },
  database: { databases: ["wiki"] },
  files: { trees: ["/srv/www"] },
  backups: { enabled: false },
  replicationPassword: PASSWORD,
  ...over,
});

/** An Output's value, or its failure (the SDK's own promise; apply would swallow the error). */
const valueOf = <T>(o: pulumi.Output<T>): Promise<T> => (o as unknown as { promise(): Promise<T> }).promise();

// Resources the component registers, by type and name (the engine's mock: no engine, no hosts).
const made: string[] = [];
beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (a) => {
        made.push(`${a.type.replace(/^.*:/, "")}::${a.name}`);
        // HostProbes print public keys: the master's host key, a mirror's sync key.
        const value =
          a.inputs.what === "ssh host public keys"
            ? "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKeyHostKe"
            : "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISyncKeySyncKeySyncKeySyncKeySyncKeySyncKe mirrorstack-sync@mirror1";
        return { id: `${a.name}-id`, state: { ...a.inputs, value, seed: { method: "logical" }, status: { running: true } } };
      },
      call: (a) => a.inputs,
    },
    "mirrorstack",
    "unit",
    false,
  );
});

describe("SiteMirror args", () => {
  it("are the stack config's keys, typed by its schema, secrets as Pulumi inputs", () => {
    expectTypeOf<keyof SiteMirrorArgs>().toEqualTypeOf<keyof StackInput>();
    expectTypeOf<SiteMirrorArgs["master"]>().toEqualTypeOf<StackInput["master"]>();
    expectTypeOf<NonNullable<SiteMirrorArgs["files"]>>().toEqualTypeOf<NonNullable<StackInput["files"]>>();
    expectTypeOf<SiteMirrorArgs["replicationPassword"]>().toEqualTypeOf<pulumi.Input<string>>();
    // The schema's input types say how a value may be given (not unknown).
    expectTypeOf<NonNullable<NonNullable<StackInput["database"]>["port"]>>().toEqualTypeOf<number | string>();
  });

  it("each carries its schema description as its doc comment", () => {
    const src = fs.readFileSync(path.join(ROOT, "infra/components/siteMirror.ts"), "utf8");
    const body = src.slice(src.indexOf("export interface SiteMirrorArgs"), src.indexOf("export interface SiteMirrorHost"));
    const keys = Object.keys(stackSchema.shape);
    expect(keys.length).toBeGreaterThan(10);
    for (const key of keys) {
      const doc = new RegExp(`/\\*\\*([^*]*(?:\\*(?!/)[^*]*)*)\\*/\\s*readonly ${key}\\??:`).exec(body)?.[1]?.replace(/\s+/g, " ");
      const described = stackSchema.shape[key as keyof typeof stackSchema.shape].description!.replace(/ \(set with --secret\)$/, "");
      expect(doc, key).toContain(described);
    }
  });

  it("are validated with the stack config's rules: defaults filled in", () => {
    const cfg = validateSiteMirrorArgs("site", minimal(), "unit");
    expect(cfg.hosts.map((h) => h.name)).toEqual(["master", "mirror1"]);
    expect(cfg.database.port).toBe(3306);
    expect(cfg.files.method).toBe("rsync-ssh");
  });

  it("report every problem at once, named by key, as a RunError", () => {
    const bad = minimal({
      master: { name: "master", address: "not an address!" },
      mirrors: [{ name: "master", address: "10.0.0.11" }],
      database: { databases: [] },
      replicationPassword: "short",
    });
    let err: unknown;
    try {
      validateSiteMirrorArgs("wiki-mirror", bad, "unit");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(pulumi.RunError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^site mirror wiki-mirror \(stack unit\) has invalid args:/);
    for (const key of ["master.address", "database.databases", "replicationPassword"]) expect(msg).toMatch(new RegExp(`^  ${key.replace(".", "\\.")}: `, "m"));
    expect(msg).toMatch(/^ {2}mirrors\[0\]\.name: .*master/m);
    // Keys as the args name them, not as stack config keys.
    expect(msg).not.toMatch(/^ {2}mirrorstack:/m);
  });

  it("a secret given as an Output counts as set, and stays secret", async () => {
    // Not known at construction: only that it is set counts, and a missing required one is still reported.
    expect(() => validateSiteMirrorArgs("site", minimal({ replicationPassword: pulumi.secret("short") }), "unit")).not.toThrow();
    expect(() => validateSiteMirrorArgs("site", minimal({ backups: { enabled: true } }), "unit")).toThrow(/backupPassphrase: is required/);
    const good = checkedSecrets("site", minimal({ replicationPassword: pulumi.output(PASSWORD) }), "unit");
    expect(await valueOf(good.replicationPassword!)).toBe(PASSWORD);
    expect(await (good.replicationPassword as unknown as { isSecret: Promise<boolean> }).isSecret).toBe(true);
    // (One that fails its rules fails the program once known: test/e2e/example.test.ts previews one.)
  });
});

describe("SiteMirror resources", () => {
  it("invalid args make no resource at all", () => {
    const before = made.length;
    expect(() => new SiteMirror("site", minimal({ database: { databases: [] } }))).toThrow(/database\.databases/);
    expect(made.length).toBe(before);
  });

  it("children keep the names infra/index.ts gave them (state of existing stacks), outputs as the stack's", async () => {
    made.length = 0;
    const site = new SiteMirror("site", minimal());
    const [hosts, fileSync, backups, replication] = await Promise.all([
      valueOf(site.hosts),
      valueOf(site.fileSync),
      valueOf(site.backups),
      valueOf(site.replication),
    ]);
    expect(made[0]).toBe("SiteMirror::site");
    // Host steps wait for the MasterRole's outputs, so some register after the component's outputs resolve.
    for (let i = 0; i < 100 && !made.includes("HostFile::mirror1-etc-cron.d-mirrorstack-sync"); i++) await new Promise((r) => setTimeout(r, 20));
    const children = made.slice(1);
    // The component's own name is in none of them.
    expect(children.filter((c) => c.includes("site"))).toEqual([]);
    for (const c of ["MirrorHost::master", "MirrorHost::mirror1", "FileMirroring::files", "MirrorReplication::mirror1-replication",
      "MasterRole::master-role", "RemoteCommand::master-software", "HostProbe::mirror1-sync-key", "HostFile::mirror1-etc-cron.d-mirrorstack-sync"]) {
      expect(children).toContain(c);
    }
    expect(hosts.map((h) => [h.name, h.role, h.address])).toEqual([["master", "master", "10.0.0.10"], ["mirror1", "mirror", "10.0.0.11"]]);
    expect(hosts[1]!.files).toContain("/usr/local/sbin/mirrorstack-sync");
    expect(fileSync).toEqual({ method: "rsync-ssh", mirrorKeys: { mirror1: expect.stringMatching(/^ssh-ed25519 \S+ mirrorstack-sync@mirror1$/) } });
    expect(backups).toEqual({ host: null, pushedTo: null });
    expect(replication).toEqual([{ mirror: "mirror1", seed: { method: "logical" }, status: { running: true } }]);
  });
});

describe("another program imports it as mirrorstack", () => {
  const configPath = path.join(EXAMPLE, "tsconfig.json");
  /** Type-checks examples/existing-program with its own tsconfig, index.ts replaced by `text`. */
  function typeCheck(text?: string): string[] {
    const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(String(d.messageText)); } })!;
    const host = ts.createCompilerHost(parsed.options);
    const index = path.join(EXAMPLE, "index.ts");
    if (text !== undefined) {
      const getSourceFile = host.getSourceFile.bind(host);
      host.getSourceFile = (f, lang, ...rest) => (path.resolve(f) === index ? ts.createSourceFile(f, text, lang) : getSourceFile(f, lang, ...rest));
    }
    const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options, host });
    return ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? path.relative(ROOT, d.file.fileName) : ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
  }
  const example = fs.readFileSync(path.join(EXAMPLE, "index.ts"), "utf8");

  it("the package's exports give the library (types from its source) and leave Pulumi's `main` alone", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { exports: Record<string, { types: string; default: string }>; main: string };
    expect(pkg.exports["."]).toEqual({ types: "./infra/lib.ts", default: "./dist/infra/lib.js" });
    // Pulumi runs the program from Pulumi.yaml's main (then package.json's exports are not consulted).
    expect((YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { main: string }).main).toBe("infra/main.js");
    expect(pkg.main).toBe("infra/main.js");
    const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;
    const r = ts.resolveModuleName("mirrorstack", path.join(EXAMPLE, "index.ts"), parsed.options, ts.sys);
    expect(r.resolvedModule?.resolvedFileName).toBe(path.join(ROOT, "infra/lib.ts"));
  });

  it("examples/existing-program type-checks", () => {
    expect(example).toMatch(/from "mirrorstack"/);
    expect(typeCheck()).toEqual([]);
  });

  it("a wrong or missing arg in it does not", () => {
    const wrong = example.replace(/binlogRetentionDays: 3/, "binlogRetentionDays: true");
    expect(wrong).not.toBe(example);
    expect(typeCheck(wrong).join("\n")).toMatch(/index\.ts: Type 'true' is not assignable/);
    const missing = example.replace(/^\s*database: .*\n/m, "");
    expect(missing).not.toBe(example);
    expect(typeCheck(missing).join("\n")).toMatch(/Property 'database' is missing/);
  });
});

describe("projectDir: where relative ssh paths of a stack config resolve", () => {
  it("is the nearest directory with a Pulumi.yaml at or above the working directory (the engine runs infra/main.js from infra/)", async () => {
    const { projectDir } = await import("../infra/components/siteMirror");
    const { mkdtempSync, mkdirSync, writeFileSync, realpathSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const root = realpathSync(mkdtempSync(join(tmpdir(), "ms-projdir-")));
    writeFileSync(join(root, "Pulumi.yaml"), "name: x\nruntime: nodejs\nmain: infra/main.js\n");
    mkdirSync(join(root, "infra"));
    expect(projectDir(join(root, "infra"))).toBe(root);
    expect(projectDir(root)).toBe(root);
  });
});
