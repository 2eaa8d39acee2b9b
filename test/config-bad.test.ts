// The bad-config corpus: every file in test/fixtures/bad-configs is a stack file with one mistake, named in its
// `# expect: mirrorstack:<key>` comment. Each must be rejected with a ConfigError that names that key.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig, readStackFile } from "../infra/config";

const DIR = join(__dirname, "fixtures/bad-configs");
const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml")).sort();

function rejection(file: string): ConfigError {
  const path = join(DIR, file);
  try {
    const { raw, secretKeys } = readStackFile(path);
    parseStackConfig(raw, { stack: "bad", secretKeys });
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`${file} was accepted`);
}

describe("bad-config corpus", () => {
  it("has at least 40 cases, each naming the key it expects", () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
    for (const f of files) expect(readFileSync(join(DIR, f), "utf8"), f).toMatch(/^# expect: mirrorstack:\S+$/m);
  });

  it.each(files)("%s is rejected naming the expected key", (file) => {
    const expected = [...readFileSync(join(DIR, file), "utf8").matchAll(/^# expect: (\S+)$/gm)].map((m) => m[1]);
    const err = rejection(file);
    const paths = err.issues.map((i) => i.path);
    for (const p of expected) expect(paths, err.message).toContain(p);
    for (const line of err.lines()) {
      expect(line).toMatch(/^mirrorstack:[A-Za-z][A-Za-z0-9.[\]]*: \S/);
      // A message never spills raw control characters (values are quoted).
      expect(line).not.toMatch(/[\n\r]/);
    }
  });

  it("reports every problem of a config at once", () => {
    let err: ConfigError | undefined;
    try {
      parseStackConfig(
        {
          master: { name: "DB1", address: "10.0.0.300" },
          mirrors: [{ name: "db2", address: "a;b" }, { name: "db2", adress: "x" }],
          database: { databases: ["wiki\nx"], binlogFormat: "STATEMENT" },
          files: { trees: ["/srv/../etc"] },
          cron: { sync: "61 * * * *" },
          replicationPassword: "plain-text-password",
          bogus: true,
        },
        { stack: "many" },
      );
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.lines()).toEqual(
      expect.arrayContaining([
        'mirrorstack:master.name: "DB1" is not valid here; allowed: lowercase letters, digits and \'-\', starting with a letter or digit, at most 63 characters',
        'mirrorstack:master.address: "10.0.0.300" is not an IP address or host name',
        "mirrorstack:mirrors[0].address: \"a;b\" contains a semicolon; expected an IPv4/IPv6 address or a DNS host name",
        "mirrorstack:mirrors[1].adress: unknown key (did you mean address?)",
        "mirrorstack:mirrors[1].address: is required (a string)",
        'mirrorstack:mirrors[1].name: "db2" is already the name of mirrorstack:mirrors[0]; host names must be unique',
        'mirrorstack:database.databases[0]: "wiki\\nx" contains a newline; allowed: letters, digits and \'_\', 1 to 64 characters',
        "mirrorstack:files.trees[0].path: \"/srv/../etc\" must not contain '..'",
        'mirrorstack:cron.sync: "61 * * * *": minute 61 is outside 0-59',
        "mirrorstack:bogus: unknown key; allowed here: master, mirrors, ssh, database, files, nfs, cron, backups, health, web, tls, replicationPassword, backupPassphrase, sshPrivateKey",
        "mirrorstack:replicationPassword: must be set with --secret (pulumi config set --secret replicationPassword ...); it is stored in clear text",
      ]),
    );
    expect(err!.issues.some((i) => i.path === "mirrorstack:database.binlogFormat")).toBe(true);
    expect(err!.message).toMatch(/^stack 'many' has \d+ configuration problems:\n {2}mirrorstack:/);
  });
});
