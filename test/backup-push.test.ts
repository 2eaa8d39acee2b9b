// backups.push: the backup host's store-only forced command (mirrorstack-backup-receive), run here with bash
// against a temporary directory, with real pushes and a corpus of hostile commands; the rendered files pinned by
// snapshots; the config rules of backups.push.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig } from "../infra/config";
import type { StackConfig } from "../infra/config/types";
import { PATHS } from "../infra/render/common";
import { renderBackupHostFiles, renderPushKnownHosts } from "../infra/render/push";
import { renderStack } from "../infra/render";
import { loadStack } from "./render-stacks";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAwWoxiIdDBPICL2CyNXthZ2DyYnyXb/28DLh4Ou/oNa mirrorstack-backup@db-mirror3";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-receive-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** The prod stack with its push directory moved into a temporary directory and the given retention. */
function stackWith(dir: string, retention: number): StackConfig {
  const prod = loadStack("prod");
  return { ...prod, backups: { ...prod.backups, push: { ...prod.backups.push!, directory: dir, retention } } };
}

/** A receive script for a fresh directory; returns how to call it as sshd would (the command in SSH_ORIGINAL_COMMAND). */
function receiver(retention = 30) {
  const dir = fs.mkdtempSync(path.join(root, "dir-"));
  const script = path.join(dir, "..", `${path.basename(dir)}.receive`);
  const f = renderBackupHostFiles(stackWith(dir, retention), KEY).find((x) => x.path === PATHS.backupReceive)!;
  fs.writeFileSync(script, f.content, { mode: 0o755 });
  const call = (command: string | undefined, input = "") => {
    const env: NodeJS.ProcessEnv = { PATH: "/usr/bin:/bin", SSH_CLIENT: "192.0.2.7 50000 22" };
    if (command !== undefined) env["SSH_ORIGINAL_COMMAND"] = command;
    const r = spawnSync("bash", [script], { env, input, encoding: "utf8" });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return { dir, call };
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** What mirrorstack-backup sends: data files, then a MANIFEST listing them. */
function backup(name: string, files: Record<string, string>): { name: string; files: Record<string, string> } {
  const manifest = [`name=${name}`, "host=db-mirror3", ...Object.entries(files).map(([f, c]) => `file=${f} ${Buffer.byteLength(c)} ${sha(c)}`), ""].join("\n");
  return { name, files: { ...files, MANIFEST: manifest } };
}

function pushAll(call: ReturnType<typeof receiver>["call"], b: ReturnType<typeof backup>) {
  for (const [f, c] of Object.entries(b.files)) {
    const r = call(`put ${b.name} ${f}`, c);
    expect(r.code, r.stderr).toBe(0);
  }
  return call(`commit ${b.name}`);
}

const B1 = backup("mirrorstack-20261121T020000Z", { "db-wiki.sql.gz.gpg": "wiki-ciphertext", "files.tar.gz.gpg": "tree-ciphertext" });

describe("mirrorstack-backup-receive (the backup host's forced command)", () => {
  it("stores a pushed backup only after checking it against its MANIFEST, and lists it", () => {
    const { dir, call } = receiver();
    const r = pushAll(call, B1);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`stored ${B1.name}`);
    for (const [f, c] of Object.entries(B1.files)) expect(fs.readFileSync(path.join(dir, B1.name, f), "utf8")).toBe(c);
    expect(fs.readdirSync(dir)).toEqual([B1.name]);
    expect(call("list").stdout).toBe(`${B1.name}\n`);
    // Never overwritten: neither a file of it nor the whole backup.
    expect(call(`put ${B1.name} MANIFEST`, "x").stderr).toMatch(/refused: .* is already stored/);
    expect(call(`commit ${B1.name}`).code).toBe(1);
    expect(fs.readFileSync(path.join(dir, B1.name, "MANIFEST"), "utf8")).toBe(B1.files.MANIFEST);
  });

  it("keeps the newest backups up to the retention", () => {
    const { dir, call } = receiver(2);
    const names = ["20261118T020000Z", "20261119T020000Z", "20261120T020000Z", "20261121T020000Z"].map((t) => `mirrorstack-${t}`);
    for (const n of names) expect(pushAll(call, backup(n, { "db-wiki.sql.gz.gpg": n })).code).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(names.slice(2));
  });

  it.each([
    ["a file that differs from its checksum", { ...B1.files, "files.tar.gz.gpg": "tree-ciphertexT" }, /does not match its sha256/],
    ["a file with another size", { ...B1.files, "db-wiki.sql.gz.gpg": "wiki-ciphertext-and-more" }, /does not have the size/],
    ["a missing file", { "db-wiki.sql.gz.gpg": B1.files["db-wiki.sql.gz.gpg"], MANIFEST: B1.files.MANIFEST }, /files\.tar\.gz\.gpg was not received/],
    ["a file the MANIFEST does not list", { ...B1.files, "db-extra.sql.gz.gpg": "x" }, /db-extra\.sql\.gz\.gpg is not in the MANIFEST/],
    ["no MANIFEST", { "db-wiki.sql.gz.gpg": "x" }, /no MANIFEST/],
    ["the MANIFEST of another backup", { ...B1.files, MANIFEST: B1.files.MANIFEST.replace(B1.name, "mirrorstack-20200101T000000Z") }, /not that of/],
  ])("refuses to keep an upload with %s, and discards it", (_what, files, reason) => {
    const { dir, call } = receiver();
    for (const [f, c] of Object.entries(files)) expect(call(`put ${B1.name} ${f}`, c).code).toBe(0);
    const r = call(`commit ${B1.name}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(reason);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  // Everything the key might be used for besides storing a backup. Each must be refused with a reason and leave
  // nothing behind (the directory stays empty).
  const hostile: (string | undefined)[] = [
    undefined,
    "",
    " ",
    "sh",
    "/bin/bash -i",
    "bash -c id",
    "scp -t /tmp",
    "scp -f /etc/passwd",
    "/usr/lib/openssh/sftp-server",
    "internal-sftp",
    "rsync --server -logDtpre.iLsfxCIvu . /srv/backups",
    "rsync --server --sender -logDtpre.iLsfxCIvu . /etc",
    "cat /etc/passwd",
    "list; id",
    "list && id",
    "list | sh",
    "list\nid",
    "list ",
    " list",
    "LIST",
    "list $(id)",
    "list `id`",
    "put",
    "put mirrorstack-20261121T020000Z",
    "put mirrorstack-20261121T020000Z ../../etc/passwd",
    "put mirrorstack-20261121T020000Z /etc/passwd",
    "put mirrorstack-20261121T020000Z ../MANIFEST",
    "put ../mirrorstack-20261121T020000Z MANIFEST",
    "put /tmp/x MANIFEST",
    "put mirrorstack-20261121T020000Z/.. MANIFEST",
    "put mirrorstack-20261121T020000Z MANIFEST extra",
    "put mirrorstack-20261121T020000Z MANIFEST; rm -rf /",
    "put mirrorstack-20261121T020000Z MANIFEST\nrm -rf /",
    "put mirrorstack-20261121T020000Z MANIFEST\r",
    "put mirrorstack-20261121T020000Z\tMANIFEST",
    "put  mirrorstack-20261121T020000Z MANIFEST",
    "put mirrorstack-20261121T020000Z 'MANIFEST'",
    'put mirrorstack-20261121T020000Z "MANIFEST"',
    "put mirrorstack-20261121T020000Z MANIFEST*",
    "put mirrorstack-20261121T020000Z db-*.sql.gz.gpg",
    "put mirrorstack-20261121T020000Z db-$(id).sql.gz.gpg",
    "put mirrorstack-20261121T020000Z db-a/b.sql.gz.gpg",
    "put mirrorstack-20261121T020000Z db-.sql.gz.gpg",
    "put mirrorstack-20261121T020000Z .bashrc",
    "put mirrorstack-20261121T020000Z authorized_keys",
    "put mirrorstack-latest MANIFEST",
    "put mirrorstack-2026112T020000Z MANIFEST",
    "put mirrorstack-20261121T020000 MANIFEST",
    "put Mirrorstack-20261121T020000Z MANIFEST",
    "commit",
    "commit ../x",
    "commit mirrorstack-20261121T020000Z; id",
    "commit mirrorstack-20261121T020000Z\nid",
    "delete mirrorstack-20261121T020000Z",
    "get mirrorstack-20261121T020000Z MANIFEST",
    "rm -rf /srv/backups",
  ];

  it(`refuses ${hostile.length} commands that are not a put, commit or list, with a reason and without a trace`, () => {
    expect(hostile.length).toBeGreaterThanOrEqual(40);
    const { dir, call } = receiver();
    for (const cmd of hostile) {
      const r = call(cmd, "payload");
      expect(r.code, JSON.stringify(cmd)).toBe(1);
      expect(r.stderr, JSON.stringify(cmd)).toMatch(/^mirrorstack-backup-receive: refused: \S/);
      expect(r.stdout, JSON.stringify(cmd)).toBe("");
      expect(fs.readdirSync(dir), JSON.stringify(cmd)).toEqual([]);
    }
    // Nothing was written anywhere next to it either.
    for (const n of fs.readdirSync(path.dirname(dir))) expect(n).toMatch(/^dir-[^.]+(\.receive)?$/);
  });

  it("refuses a commit of nothing", () => {
    const { call } = receiver();
    expect(call(`commit ${B1.name}`).stderr).toMatch(/nothing was received/);
  });
});

describe("rendered files of backups.push (prod: pushed to vault)", () => {
  const prod = loadStack("prod");

  it("pins the backup host's files", () => {
    for (const f of renderBackupHostFiles(prod, KEY)) expect(f.content).toMatchSnapshot(f.path);
  });

  it("restricts the key to the receive command and the taker's address", () => {
    const keys = renderBackupHostFiles(prod, KEY).find((f) => f.path === `${PATHS.authorizedKeysDir}/mirrorbackup`)!;
    expect(keys.content).toContain(`restrict,from="2001:db8:100::23",command="${PATHS.backupReceive}" ${KEY}\n`);
    expect(renderBackupHostFiles(prod, "").find((f) => f.path === keys.path)!.content).not.toMatch(/^restrict/m);
    // Rendered once without the key, the key file completes to what a render with the key makes.
    const unkeyed = renderBackupHostFiles(prod, "").find((f) => f.path === keys.path)!;
    expect(unkeyed.completion?.needs).toBe("taker-key");
    if (unkeyed.completion?.needs === "taker-key") expect(unkeyed.completion.content(KEY)).toBe(keys.content);
  });

  it("pins the backup host's keys on the taker", () => {
    const kh = renderPushKnownHosts(prod, ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGQAe3XHIafWlVz4yhKVLChGdRHrcGw7QtoOL5qnhr1D"]);
    expect(kh.path).toBe(PATHS.backupKnownHosts);
    expect(kh.content).toMatch(/^\[203\.0\.113\.40\]:2222 ssh-ed25519 AAAA/m);
    expect(() => renderPushKnownHosts(prod, [])).toThrow(/backups\.push\.address/);
  });

  it("makes the taker's backup script push every file, MANIFEST last, then commit", () => {
    const plans = renderStack(prod, { stack: "prod", secrets: { replicationPassword: "x".repeat(16), backupPassphrase: "y".repeat(16) } });
    const script = plans.find((p) => p.host === "db-mirror3")!.files.find((f) => f.path === PATHS.backupScript)!.content;
    expect(script).toContain(`-- 'mirrorbackup@203.0.113.40')`);
    expect(script).toMatch(/for f in "\$DEST\/\$name"\/\*\.gpg "\$DEST\/\$name\/MANIFEST"; do/);
    expect(script).toContain(`"\${PUSH_SSH[@]}" "commit $name"`);
  });
});

describe("config of backups.push", () => {
  const base = {
    master: { name: "db1", address: "192.0.2.10" },
    mirrors: [{ name: "db2", address: "192.0.2.11" }],
    database: { databases: ["wiki"] },
    replicationPassword: "r".repeat(20),
    backupPassphrase: "p".repeat(20),
  };
  const parse = (backups: unknown, extra: Record<string, unknown> = {}) =>
    parseStackConfig({ ...base, ...extra, backups }, { stack: "s", secretKeys: new Set(["replicationPassword", "backupPassphrase"]) });
  const errorsOf = (backups: unknown, extra: Record<string, unknown> = {}) => {
    try {
      parse(backups, extra);
    } catch (e) {
      if (e instanceof ConfigError) return e.lines();
      throw e;
    }
    throw new Error("accepted");
  };

  it("fills the defaults", () => {
    expect(parse({ retention: 4, push: { address: "192.0.2.50" } }).backups.push).toEqual({
      name: "backup",
      address: "192.0.2.50",
      sshUser: "root",
      sshPort: 22,
      osFamily: "debian",
      user: "mirrorbackup",
      directory: "/var/backups/mirrorstack-pushed",
      retention: 4,
    });
  });

  it.each([
    [{ push: { address: "192.0.2.11" } }, "mirrorstack:backups.push.address: \"192.0.2.11\" is the address of mirrorstack:mirrors[0]"],
    [{ push: { name: "db1", address: "192.0.2.50" } }, "mirrorstack:backups.push.name: \"db1\" is a host of this stack"],
    [{ push: { address: "192.0.2.50", user: "root" } }, "mirrorstack:backups.push.user: \"root\" cannot receive backups"],
    [{ push: { address: "192.0.2.50", user: "deploy", sshUser: "deploy" } }, "mirrorstack:backups.push.user: \"deploy\" is also the deployment's login"],
    [{ enabled: false, push: { address: "192.0.2.50" } }, "mirrorstack:backups.push: is only used when backups.enabled is true"],
    [{ push: { address: "192.0.2.50", directory: "/etc" } }, "mirrorstack:backups.push.directory: "],
    [{ push: { address: "192.0.2.50", retention: 0 } }, "mirrorstack:backups.push.retention: "],
    [{ push: { address: "192.0.2.50; id" } }, "mirrorstack:backups.push.address: "],
    [{ push: {} }, "mirrorstack:backups.push.address: "],
  ])("refuses %j, naming the key", (backups, message) => {
    expect(errorsOf(backups).join("\n")).toContain(message);
  });
});
