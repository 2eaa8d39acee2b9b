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
import { renderTemplate } from "../infra/render/templates";
import { loadStack } from "./render-stacks";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAwWoxiIdDBPICL2CyNXthZ2DyYnyXb/28DLh4Ou/oNa mirrorstack-backup@db-mirror3";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-receive-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** The prod stack with its push directory moved into a temporary directory and the given retention and quota. */
function stackWith(dir: string, retention: number, quotaMiB = 10240): StackConfig {
  const prod = loadStack("prod");
  return { ...prod, backups: { ...prod.backups, push: { ...prod.backups.push!, directory: dir, retention, quotaMiB } } };
}

/**
 * A receive script for a fresh directory; returns how to call it as sshd would (the command in
 * SSH_ORIGINAL_COMMAND) and its system log: `logger` is replaced by an exported bash function (the script sets its
 * own PATH, but a function comes first) that appends its arguments to a file.
 */
function receiver(retention = 30, quotaMiB = 10240) {
  const dir = fs.mkdtempSync(path.join(root, "dir-"));
  const script = path.join(dir, "..", `${path.basename(dir)}.receive`);
  const logFile = path.join(dir, "..", `${path.basename(dir)}.log`);
  const f = renderBackupHostFiles(stackWith(dir, retention, quotaMiB), KEY).find((x) => x.path === PATHS.backupReceive)!;
  fs.writeFileSync(script, f.content, { mode: 0o755 });
  const call = (command: string | undefined, input: string | Buffer = "", sshClient: string | null = "192.0.2.7 50000 22") => {
    const env: NodeJS.ProcessEnv = { PATH: "/usr/bin:/bin", "BASH_FUNC_logger%%": `() { printf '%s\n' "$*" >> '${logFile}'; }` };
    if (sshClient !== null) env["SSH_CLIENT"] = sshClient;
    if (command !== undefined) env["SSH_ORIGINAL_COMMAND"] = command;
    const r = spawnSync("bash", [script], { env, input, encoding: "utf8" });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "");
  return { dir, call, log };
}

/** The backup name of a time, as mirrorstack-backup makes it. */
const nameAt = (d: Date) => `mirrorstack-${d.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}`;

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
    for (const n of fs.readdirSync(path.dirname(dir))) expect(n).toMatch(/^dir-[^.]+(\.receive|\.log)?$/);
  });

  it("refuses a commit of nothing", () => {
    const { call } = receiver();
    expect(call(`commit ${B1.name}`).stderr).toMatch(/nothing was received/);
  });

  const DAY = 86_400_000;
  it.each([
    ["a far-future name", "mirrorstack-99991231T235959Z"],
    ["all-digit nonsense", "mirrorstack-00000000T999999Z"],
    ["month 13", "mirrorstack-20261301T020000Z"],
    ["30 February", "mirrorstack-20260230T020000Z"],
    ["hour 24", "mirrorstack-20261121T240000Z"],
    ["minute 60", "mirrorstack-20261121T026000Z"],
    ["second 60", "mirrorstack-20261121T020060Z"],
    ["a name two days ahead", nameAt(new Date(Date.now() + 2 * DAY))],
  ])("refuses %s at put and at commit, and logs it", (_what, name) => {
    const { dir, call, log } = receiver();
    for (const cmd of [`put ${name} MANIFEST`, `commit ${name}`]) {
      const r = call(cmd, "payload");
      expect(r.code, cmd).toBe(1);
      expect(r.stderr, cmd).toContain(`refused: ${name} is not a real UTC time at most a day ahead of this host's clock`);
      expect(r.stdout).toBe("");
    }
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(log()).toContain(`refused (from 192.0.2.7): ${name} is not a real UTC time`);
  });

  it("accepts a name a little ahead of its clock (the taker's clock may run fast)", () => {
    const { dir, call } = receiver();
    const b = backup(nameAt(new Date(Date.now() + 3_600_000)), { "db-wiki.sql.gz.gpg": "x" });
    const r = pushAll(call, b);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([b.name]);
  });

  it("keeps a genuine backup that three far-future pushes tried to rotate out", () => {
    const { dir, call } = receiver(3);
    for (const future of ["mirrorstack-99991231T235959Z", "mirrorstack-99991231T235958Z", "mirrorstack-99991231T235957Z"]) {
      const b = backup(future, { "db-wiki.sql.gz.gpg": "junk" });
      for (const [f, c] of Object.entries(b.files)) expect(call(`put ${b.name} ${f}`, c).code).toBe(1);
      expect(call(`commit ${b.name}`).code).toBe(1);
    }
    const genuine = [1, 2, 3, 4].map((i) => backup(nameAt(new Date(Date.now() - (5 - i) * 3_600_000)), { "db-wiki.sql.gz.gpg": `good ${i}` }));
    for (const g of genuine) {
      const r = pushAll(call, g);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`stored ${g.name}`);
    }
    expect(fs.readdirSync(dir).sort()).toEqual(genuine.slice(1).map((g) => g.name));
  });

  it("neither counts nor deletes a far-future directory stored before names were checked", () => {
    const { dir, call } = receiver(2);
    const planted = path.join(dir, "mirrorstack-99991231T235959Z");
    fs.mkdirSync(planted);
    fs.writeFileSync(path.join(planted, "MANIFEST"), "old");
    const names = ["20261118T020000Z", "20261119T020000Z", "20261120T020000Z"].map((t) => `mirrorstack-${t}`);
    for (const n of names) expect(pushAll(call, backup(n, { "db-wiki.sql.gz.gpg": n })).stdout).toContain(`stored ${n}`);
    expect(fs.readdirSync(dir).sort()).toEqual([...names.slice(1), "mirrorstack-99991231T235959Z"]);
  });

  it("refuses, and does not report stored, a backup older than the newest it keeps; retention keeps the newest and the one just committed", () => {
    const { dir, call } = receiver(2);
    const [t1, t2, t3, t4] = ["20261118T020000Z", "20261119T020000Z", "20261120T020000Z", "20261121T020000Z"].map((t) =>
      backup(`mirrorstack-${t}`, { "db-wiki.sql.gz.gpg": t }),
    );
    for (const b of [t2, t3]) expect(pushAll(call, b!).code).toBe(0);
    const old = pushAll(call, t1!);
    expect(old.code).toBe(1);
    expect(old.stdout).not.toContain("stored");
    expect(old.stderr).toContain(`refused: ${t1!.name}: older than the newest 2 stored backups, so it would not be kept (the upload is discarded)`);
    expect(fs.readdirSync(dir).sort()).toEqual([t2!.name, t3!.name]);
    const r = pushAll(call, t4!);
    expect(r.stdout).toBe(`removed old backup ${t2!.name}\nstored ${t4!.name}\n`);
    expect(fs.readdirSync(dir).sort()).toEqual([t3!.name, t4!.name]);
    // With a retention of 1, each commit keeps exactly the one it stored.
    const one = receiver(1);
    for (const b of [t1!, t2!]) expect(pushAll(one.call, b).stdout).toContain(`stored ${b.name}`);
    expect(fs.readdirSync(one.dir)).toEqual([t2!.name]);
  });

  it("refuses a put into a full directory before reading it, and stops an upload that grows past the quota", () => {
    const MiB = 1024 * 1024;
    const { dir, call, log } = receiver(30, 1);
    const first = backup(B1.name, { "db-wiki.sql.gz.gpg": "a".repeat(600_000) });
    expect(pushAll(call, first).code).toBe(0);
    // Mid-stream: 600 000 more bytes do not fit in 1 MiB; the stream is cut, the upload discarded.
    const second = "mirrorstack-20261122T020000Z";
    expect(call(`put ${second} MANIFEST`, "small").code).toBe(0);
    const big = call(`put ${second} db-wiki.sql.gz.gpg`, Buffer.alloc(600_000, 98));
    expect(big.code).toBe(1);
    expect(big.stderr).toContain(`refused: ${second}/db-wiki.sql.gz.gpg would take ${dir} over its quota of ${MiB} bytes (backups.push.quotaMiB = 1); the upload of ${second} is discarded`);
    expect(fs.readdirSync(dir)).toEqual([B1.name]);
    expect(log()).toContain(`refused (from 192.0.2.7): ${second}/db-wiki.sql.gz.gpg would take`);
    // A stream much longer than the room is not read to its end: the receiver stops at the quota.
    const huge = call(`put ${second} db-wiki.sql.gz.gpg`, Buffer.alloc(8 * MiB, 98));
    expect(huge.code).toBe(1);
    expect(fs.readdirSync(dir)).toEqual([B1.name]);
    // Full: a put is refused outright and leaves nothing; the stored backup is not deleted to make room.
    fs.writeFileSync(path.join(dir, B1.name, "filler"), Buffer.alloc(500_000));
    const full = call(`put ${second} MANIFEST`, "x");
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(new RegExp(`refused: ${dir} is full: \\d+ bytes of its quota of ${MiB} \\(backups.push.quotaMiB = 1\\)`));
    expect(fs.readdirSync(dir)).toEqual([B1.name]);
    expect(fs.readFileSync(path.join(dir, B1.name, "db-wiki.sql.gz.gpg"), "utf8")).toBe(first.files["db-wiki.sql.gz.gpg"]);
  });

  it("charges each stored file at least 16 KiB, so that many tiny files cannot fill the disk or its inodes under the quota", () => {
    const { call } = receiver(30, 1);
    const name = "mirrorstack-20261122T020000Z";
    let accepted = 0;
    let last = call(`put ${name} MANIFEST`, "m");
    // Counted by bytes, 1 MiB would take a million one-byte files; at 16 KiB each it takes fewer than 64.
    for (let i = 0; last.code === 0 && i < 200; i++) {
      accepted++;
      last = call(`put ${name} db-t${i}.sql.gz.gpg`, "x");
    }
    expect(last.code).toBe(1);
    expect(last.stderr).toMatch(/is full: \d+ bytes of its quota/);
    expect(accepted).toBeGreaterThan(50);
    expect(accepted).toBeLessThan(64);
  });

  it("refuses a put up front when less room is left than any file costs, keeping the upload so far", () => {
    const { dir, call } = receiver(30, 1);
    const name = "mirrorstack-20261122T020000Z";
    expect(call(`put ${name} MANIFEST`, "m").code).toBe(0);
    // 1 MiB less the staging directory and the MANIFEST (16 KiB each) and 8 KiB: a whole number of 4 KiB blocks.
    expect(call(`put ${name} db-a.sql.gz.gpg`, Buffer.alloc(1024 * 1024 - 32768 - 8192, 97)).code).toBe(0);
    const r = call(`put ${name} db-b.sql.gz.gpg`, "small");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is full: \d+ bytes of its quota/);
    expect(fs.readdirSync(path.join(dir, `.${name}.partial`)).sort()).toEqual(["MANIFEST", "db-a.sql.gz.gpg"]);
  });

  it("refuses a put that waited for its backup's commit: a stored backup gets no new upload", () => {
    const { dir, call } = receiver();
    for (const [f, c] of Object.entries(B1.files)) expect(call(`put ${B1.name} ${f}`, c).code).toBe(0);
    const script = `${dir}.receive`;
    // The put starts while another command holds the lock; in that time the upload is committed (renamed as
    // commit does), then the lock is let go.
    const r = spawnSync(
      "bash",
      ["-c", 'exec 9<"$1"; flock 9; SSH_ORIGINAL_COMMAND="put $2 db-late.sql.gz.gpg" bash "$3" <<<late >"$1.out" 2>&1 & sleep 1; mv -T "$1/.$2.partial" "$1/$2"; flock -u 9; wait $!', "-", dir, B1.name, script],
      { env: { PATH: "/usr/bin:/bin", "BASH_FUNC_logger%%": "() { :; }" }, encoding: "utf8" },
    );
    expect(r.status).toBe(1);
    expect(fs.readFileSync(`${dir}.out`, "utf8")).toContain(`refused: ${B1.name} is already stored`);
    expect(fs.readdirSync(dir)).toEqual([B1.name]);
  });

  it("refuses to keep a file whose name begins with two dots that the MANIFEST does not list", () => {
    const { dir, call } = receiver();
    for (const [f, c] of Object.entries(B1.files)) expect(call(`put ${B1.name} ${f}`, c).code).toBe(0);
    fs.writeFileSync(path.join(dir, `.${B1.name}.partial`, "..planted"), "x");
    const r = call(`commit ${B1.name}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("..planted is not in the MANIFEST");
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("runs as bash -p: BASH_ENV and exported functions from the environment are ignored", () => {
    const { dir } = receiver();
    const marker = `${dir}.bash-env-ran`;
    const bashEnv = `${dir}.bash-env`;
    fs.writeFileSync(bashEnv, `touch '${marker}'\n`);
    const r = spawnSync(`${dir}.receive`, [], {
      env: { PATH: "/usr/bin:/bin", SSH_ORIGINAL_COMMAND: "list", BASH_ENV: bashEnv, "BASH_FUNC_ls%%": `() { touch '${marker}'; }` },
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("refuses a symbolic link planted at the staging paths and leaves its target untouched", () => {
    const { dir, call } = receiver();
    const outside = fs.mkdtempSync(path.join(root, "outside-"));
    const victim = path.join(outside, "victim");
    fs.writeFileSync(victim, "precious");
    const work = path.join(dir, `.${B1.name}.partial`);

    // The partial directory itself a link to a directory elsewhere: put and commit refuse, nothing lands there.
    fs.symlinkSync(outside, work);
    const put = call(`put ${B1.name} MANIFEST`, "evil");
    expect(put.code).toBe(1);
    expect(put.stderr).toContain(`refused: ${work} is not a directory`);
    expect(call(`commit ${B1.name}`).stderr).toContain(`refused: ${work} is not a directory`);
    expect(fs.readdirSync(outside)).toEqual(["victim"]);
    fs.unlinkSync(work);

    // A file of the upload a link to a file elsewhere: put refuses to write through it...
    fs.mkdirSync(work);
    fs.symlinkSync(victim, path.join(work, "MANIFEST"));
    const through = call(`put ${B1.name} MANIFEST`, "evil");
    expect(through.code).toBe(1);
    expect(through.stderr).toContain(`refused: ${work}/MANIFEST is not a regular file`);
    expect(fs.readFileSync(victim, "utf8")).toBe("precious");
    // ...and commit refuses to keep it, discarding the upload (the link, not its target).
    for (const [f, c] of Object.entries(B1.files)) if (f !== "MANIFEST") expect(call(`put ${B1.name} ${f}`, c).code).toBe(0);
    const commit = call(`commit ${B1.name}`);
    expect(commit.code).toBe(1);
    expect(commit.stderr).toContain(`refused: ${B1.name}: MANIFEST is not a regular file (the upload is discarded)`);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(fs.readFileSync(victim, "utf8")).toBe("precious");

    // A link where the stored backup would go is "already stored", never renamed into.
    fs.symlinkSync(outside, path.join(dir, B1.name));
    expect(call(`put ${B1.name} MANIFEST`, "x").stderr).toContain(`refused: ${B1.name} is already stored`);
    expect(fs.readdirSync(outside)).toEqual(["victim"]);
  });

  it("logs refusals without SSH_CLIENT (peer unknown) and every stored file", () => {
    const { call, log } = receiver();
    const r = call("cat /etc/passwd", "", null);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("refused");
    expect(log()).toContain('refused (from unknown): not a put, commit or list of a backup: "cat /etc/passwd"');
    expect(pushAll(call, B1).code).toBe(0);
    for (const [f, c] of Object.entries(B1.files)) expect(log()).toContain(`received ${B1.name}/${f} (${Buffer.byteLength(c)} bytes) from 192.0.2.7`);
    expect(log()).toContain(`stored ${B1.name} from 192.0.2.7`);
  });
});

describe("the taker's local retention (partials/backup-names, shared with the receiver)", () => {
  /** Runs backups_retain on a directory holding the given backup directories; returns what it said and what is left. */
  function retain(names: string[], keep: number, justMade: string) {
    const dir = fs.mkdtempSync(path.join(root, "local-"));
    for (const n of names) fs.mkdirSync(path.join(dir, n));
    const script = `export LC_ALL=C\nsay() { echo "$*"; }\n${renderTemplate("partials/backup-names.sh.hbs", {})}backups_retain "$1" "$2" "$3"\n`;
    const r = spawnSync("bash", ["-c", script, "retain", dir, String(keep), justMade], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
    expect(r.status, r.stderr).toBe(0);
    return { said: r.stdout, left: fs.readdirSync(dir).sort() };
  }
  const soon = (h: number) => nameAt(new Date(Date.now() + h * 3_600_000));

  it("keeps the newest by the time in their names; far-future and invalid names neither count nor go", () => {
    const genuine = [-4, -3, -2, -1].map(soon);
    const bogus = ["mirrorstack-99991231T235959Z", "mirrorstack-00000000T999999Z", "mirrorstack-20261301T000000Z"];
    const { said, left } = retain([...genuine, ...bogus], 2, genuine[3]!);
    expect(said).toBe(`removed old backup ${genuine[1]}\nremoved old backup ${genuine[0]}\n`);
    expect(left).toEqual([...genuine.slice(2), ...bogus].sort());
  });

  it("never deletes the backup just made, even behind newer names within the day ahead", () => {
    const ahead = [2, 3].map(soon);
    const now = soon(0);
    const { left } = retain([soon(-1), now, ...ahead], 2, now);
    expect(left).toEqual([now, ...ahead].sort());
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
      quotaMiB: 10240,
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
    [{ push: { address: "192.0.2.50", quotaMiB: 0 } }, "mirrorstack:backups.push.quotaMiB: "],
    [{ push: { address: "192.0.2.50; id" } }, "mirrorstack:backups.push.address: "],
    [{ push: {} }, "mirrorstack:backups.push.address: "],
  ])("refuses %j, naming the key", (backups, message) => {
    expect(errorsOf(backups).join("\n")).toContain(message);
  });
});
