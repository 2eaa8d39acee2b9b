// infra/providers/hostfile.sh, the apply engine, run here as an ordinary user (nobody) against a temp directory:
// atomic swap, validation, rollback when the service refuses the file, managed blocks, originals put back, live
// option changes. Services and the database client are stand-ins on PATH that log what they were asked.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { scriptFor, type HostFileState } from "../infra/providers/hostFile";

const AS_ROOT = process.getuid?.() === 0;
let dir: string;
let calls: string;
const user = AS_ROOT ? { owner: "nobody", group: "nogroup" } : { owner: os.userInfo().username, group: String(process.getgid?.()) };

function stub(name: string, body: string): void {
  const p = path.join(dir, "bin", name);
  fs.writeFileSync(p, `#!/bin/bash\necho "${name} $*" >> ${calls}\n${body}\n`);
  fs.chmodSync(p, 0o755);
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ms-hostfile-"));
  fs.chmodSync(dir, 0o755);
  calls = path.join(dir, "calls.log");
  fs.mkdirSync(path.join(dir, "bin"));
  fs.mkdirSync(path.join(dir, "etc"));
  fs.writeFileSync(calls, "");
  // The init system and the database client, as stand-ins: `service x restart` fails when bin/fail-<x> exists.
  stub("service", `[ ! -e ${dir}/bin/fail-$1 ] || { echo "$1 refused the file" >&2; exit 1; }`);
  // The client fails when bin/fail-sql exists; asked for the dirty pages, it answers from the file `dirty` and
  // then a quarter of that (the server writing them out).
  stub(
    "mariadb",
    `[ ! -e ${dir}/bin/fail-sql ] || exit 1
case "$*" in *pages_dirty*) n=$(cat ${dir}/dirty 2>/dev/null || echo 0); printf 'Innodb_buffer_pool_pages_dirty\\t%s\\n' "$n"; echo $(( n / 4 )) > ${dir}/dirty ;; esac`,
  );
  if (AS_ROOT) spawnSync("chown", ["-R", "nobody:nogroup", dir]);
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const target = (rel: string) => path.join(dir, rel);
const PREFLUSH =
  "mariadb -e SET GLOBAL innodb_io_capacity_max = 20000; SET GLOBAL innodb_io_capacity = 20000; SET GLOBAL innodb_max_dirty_pages_pct_lwm = 0; SET GLOBAL innodb_max_dirty_pages_pct = 0";

function state(over: Partial<HostFileState> = {}): HostFileState {
  return {
    target: { host: "h1", address: "192.0.2.1" },
    stack: "t",
    path: target("etc/app.conf"),
    kind: "whole",
    owner: user.owner,
    group: user.group,
    mode: "0640",
    content: "a = 1\n",
    validate: "",
    actions: [],
    ...over,
  } as HostFileState;
}

/** Runs one operation as the provider would over SSH: the script on the command line, the content on stdin. */
function run(op: "apply" | "remove" | "read", s: HostFileState, prev?: string): { code: number; out: string; err: string } {
  const env = { PATH: `${dir}/bin:/usr/bin:/bin`, MIRRORSTACK_STATE_ROOT: path.join(dir, "state"), HOME: dir };
  const cmd = AS_ROOT ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "bash", "-c", scriptFor(op, s, prev)] : ["bash", "-c", scriptFor(op, s, prev)];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { input: op === "apply" ? s.content : "", env, encoding: "utf8" });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const read = (rel: string) => fs.readFileSync(target(rel), "utf8");
/** A file as the host had it, owned by the user the script runs as. */
function put(rel: string, text: string): void {
  fs.writeFileSync(target(rel), text);
  if (AS_ROOT) spawnSync("chown", ["nobody:nogroup", target(rel)]);
}
const leftovers = () => fs.readdirSync(target("etc")).filter((f) => f.startsWith(".mirrorstack."));
const callLog = () => fs.readFileSync(calls, "utf8").trim().split("\n").filter((l) => l !== "");

describe("hostfile.sh as an ordinary user", () => {
  it("writes a new file with its mode, records that it did not exist, and says unchanged the second time", () => {
    const r = run("apply", state());
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^MIRRORSTACK_RESULT changed [0-9a-f]{64}$/m);
    expect(read("etc/app.conf")).toBe("a = 1\n");
    expect((fs.statSync(target("etc/app.conf")).mode & 0o777).toString(8)).toBe("640");
    expect(fs.readdirSync(path.join(dir, "state/originals")).some((f) => f.endsWith(".absent"))).toBe(true);
    const ino = fs.statSync(target("etc/app.conf")).ino;
    expect(run("apply", state()).out).toMatch(/^MIRRORSTACK_RESULT unchanged /m);
    expect(fs.statSync(target("etc/app.conf")).ino).toBe(ino);
    expect(leftovers()).toEqual([]);
  });

  it("a file its validator rejects leaves the old file and runs no action", () => {
    run("apply", state());
    const r = run("apply", state({ content: "a = broken\n", validate: 'grep -q "^a = [0-9]" "$FILE"', actions: ["app:restart"] }));
    expect(r.code).toBe(3);
    expect(r.err).toContain("rejected by its validator; the old file and the service are untouched");
    expect(read("etc/app.conf")).toBe("a = 1\n");
    expect(callLog()).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  it("a file the service refuses is rolled back, the service started on the old one, and the run fails", () => {
    run("apply", state());
    fs.writeFileSync(path.join(dir, "bin", "fail-app"), "");
    const r = run("apply", state({ content: "a = 2\n", actions: ["app:restart"] }));
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/restart of app failed[\s\S]*restored the previous/);
    expect(read("etc/app.conf")).toBe("a = 1\n");
    expect(callLog()).toEqual(["service app restart", "service app restart"]);
    expect(fs.readdirSync(path.join(dir, "state/originals")).filter((f) => f.endsWith(".pending"))).toEqual([]);
  });

  it("a managed block keeps every other line byte for byte, and remove takes only the block out", () => {
    const original = "# keep me\r\nfirst line\n\nlast line without newline";
    put("etc/hosts.allow", original);
    const s = state({ path: target("etc/hosts.allow"), kind: "block", content: "sshd: 192.0.2.7\n" });
    expect(run("apply", s).code).toBe(0);
    expect(read("etc/hosts.allow")).toBe(`# keep me\r\nfirst line\n\nlast line without newline\n# BEGIN mirrorstack managed block (stack t)\nsshd: 192.0.2.7\n# END mirrorstack managed block\n`);
    expect(run("apply", { ...s, content: "sshd: 192.0.2.8\n" }).code).toBe(0);
    expect(read("etc/hosts.allow")).toContain("sshd: 192.0.2.8\n# END");
    expect(read("etc/hosts.allow")).not.toContain("192.0.2.7");
    expect(run("remove", s).code).toBe(0);
    expect(read("etc/hosts.allow")).toBe("# keep me\r\nfirst line\n\nlast line without newline\n");
  });

  it("remove puts back the file as it was before the first write, or deletes one mirrorstack created", () => {
    put("etc/app.conf", "original\n");
    run("apply", state());
    run("apply", state({ content: "a = 2\n" }));
    expect(run("remove", state()).out).toContain("MIRRORSTACK_RESULT removed");
    expect(read("etc/app.conf")).toBe("original\n");
    const created = state({ path: target("etc/new.conf") });
    run("apply", created);
    run("remove", created);
    expect(fs.existsSync(target("etc/new.conf"))).toBe(false);
  });

  it("read reports owner, group, mode and content, or absence", () => {
    expect(run("read", state()).out).toBe("MIRRORSTACK_ABSENT\n");
    run("apply", state());
    const ug = spawnSync("stat", ["-c", "%U %G", target("etc/app.conf")], { encoding: "utf8" }).stdout.trim();
    expect(run("read", state()).out).toBe(`MIRRORSTACK_PRESENT ${ug} 640\na = 1\n`);
  });

  it("live option changes: SET GLOBAL when the host has the planned file, a restart when it was edited or the server refuses", () => {
    const before = "[mysqld]\nsync_binlog = 1\n";
    const after = "[mysqld]\nsync_binlog = 0\n";
    const cnf = (content: string) => state({ content, actions: ["mariadb:settings"] });
    run("apply", cnf(before));
    fs.writeFileSync(calls, "");
    expect(run("apply", cnf(after), before).code).toBe(0);
    expect(callLog()).toEqual(["mariadb -e SET GLOBAL sync_binlog = 0;"]);
    // Edited by hand since: the plan was made against another file, so the server restarts on the new one, after
    // its dirty pages were written out at a boosted rate (polled until fewer than 128: 1000, 250, 62).
    put("etc/app.conf", `${after}# hand edit\n`);
    fs.writeFileSync(calls, "");
    fs.writeFileSync(path.join(dir, "dirty"), "1000\n");
    expect(run("apply", cnf(before), after).code).toBe(0);
    const poll = "mariadb -N -B -e SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'";
    expect(callLog()).toEqual([PREFLUSH, poll, poll, poll, "service mariadb restart"]);
    // The server refuses the statement: a restart instead (the pre-flush is refused too, and skipped).
    fs.writeFileSync(path.join(dir, "bin", "fail-sql"), "");
    fs.writeFileSync(calls, "");
    expect(run("apply", cnf(after), before).code).toBe(0);
    expect(callLog()).toEqual(["mariadb -e SET GLOBAL sync_binlog = 0;", PREFLUSH, "service mariadb restart"]);
    // Comments only: no action at all.
    fs.writeFileSync(calls, "");
    expect(run("apply", cnf(`# note\n${after}`), after).code).toBe(0);
    expect(callLog()).toEqual([]);
  });
});
