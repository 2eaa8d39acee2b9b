// infra/ssh/exec.ts: how a failed ssh run is classified (exit status first, message text only where ssh and sudo
// give no code), and that sshRun retries a connection failure but not a bad host key or a refused login.
// A stand-in `ssh` on PATH plays the failures; no sshd is needed.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectViaSsh } from "../infra/replication/connect";
import { classifySshFailure, controlPathFor, remoteFailure, sshRun } from "../infra/ssh/exec";

describe("classifySshFailure", () => {
  it("reads ssh's 255 by its message: host key, login refused, otherwise unreachable", () => {
    expect(classifySshFailure(255, "Host key verification failed.\r\n")).toBe("host-key");
    expect(classifySshFailure(255, "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@")).toBe("host-key");
    expect(classifySshFailure(255, "root@10.0.0.5: Permission denied (publickey).")).toBe("auth");
    expect(classifySshFailure(255, "ssh: connect to host 10.0.0.5 port 22: Connection refused")).toBe("unreachable");
  });
  it("a missing relay program: the shell's 127, or sudo's message (sudo exits 1)", () => {
    expect(classifySshFailure(127, "bash: line 1: exec: socat: not found")).toBe("command-missing");
    expect(classifySshFailure(1, "sudo: socat: command not found")).toBe("command-missing");
    expect(classifySshFailure(1, "sudo: a password is required")).toBe("sudo-password");
  });
  it("does not read a code's meaning into other text", () => {
    // The same words under another exit status are not ssh's failure; a missing socket is not a missing program.
    expect(classifySshFailure(1, "Permission denied")).toBe("other");
    expect(classifySshFailure(1, 'socat[9] E connect(5, AF=1 "/run/mysqld/mysqld.sock", 27): No such file or directory')).toBe("other");
    expect(classifySshFailure(0, "")).toBe("other");
  });
});

describe("remoteFailure", () => {
  it("names the host and shows both streams' tails: apt's error line alone does not say what failed", () => {
    const e = remoteFailure("master", "create", {
      code: 100,
      stdout: "Setting up nginx (1.22.1-9) ...\nJob for nginx.service failed: bind() to 0.0.0.0:80 failed\n",
      stderr: "E: Sub-process /usr/bin/dpkg returned an error code (1)\n",
    });
    expect(e.message).toBe(
      "[master] create failed (exit 100):\nSetting up nginx (1.22.1-9) ...\nJob for nginx.service failed: bind() to 0.0.0.0:80 failed\n--- stderr:\nE: Sub-process /usr/bin/dpkg returned an error code (1)",
    );
  });
  it("one stream alone is shown as it is, its last 4000 characters", () => {
    expect(remoteFailure("m1", "reading x", { code: 1, stdout: "", stderr: "no such file\n" }).message).toBe("[m1] reading x failed (exit 1):\nno such file");
    const long = remoteFailure("m1", "update", { code: 2, stdout: "a".repeat(5000) + "END", stderr: "" }).message;
    expect(long.endsWith("aEND")).toBe(true);
    expect(long.length).toBe("[m1] update failed (exit 2):\n".length + 4000);
  });
});

describe("sshRun retries", () => {
  let dir: string;
  const savedPath = process.env.PATH;
  const target = { host: "db1", address: "192.0.2.10", user: "root", port: 22 };
  /** The stand-in ssh counts its calls in $dir/calls and fails with `code` and `stderr`. */
  const standIn = (code: number, stderr: string) => {
    fs.writeFileSync(path.join(dir, "calls"), "");
    fs.writeFileSync(path.join(dir, "ssh"), `#!/bin/sh\necho x >> '${dir}/calls'\nprintf '%s\\n' '${stderr}' >&2\nexit ${code}\n`, { mode: 0o755 });
  };
  const calls = () => fs.readFileSync(path.join(dir, "calls"), "utf8").split("\n").filter(Boolean).length;
  /**
   * A stand-in that plays ssh's shared connection: with no control socket for `t` it logs in (0.3 s) and makes one;
   * with one, it only multiplexes over it. Each call writes "login" or "mux" to $dir/calls. Returns the socket's path.
   */
  const muxStandIn = (t: typeof target) => {
    const control = controlPathFor(t);
    fs.rmSync(control, { force: true });
    fs.writeFileSync(path.join(dir, "calls"), "");
    const script = `for a in "$@"; do case $a in ControlPath=*) c=\${a#ControlPath=} ;; esac; done
if [ -e "$c" ]; then echo mux >> '${dir}/calls'; else sleep 0.3; echo login >> '${dir}/calls'; : > "$c"; fi`;
    fs.writeFileSync(path.join(dir, "ssh"), `#!/bin/bash\n${script}\n`, { mode: 0o755 });
    return control;
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-sshrun-"));
    process.env.PATH = `${dir}:${savedPath}`;
  });
  afterAll(() => {
    process.env.PATH = savedPath;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("gives up at once on a bad host key and on a refused login, naming the host", async () => {
    standIn(255, "Host key verification failed.");
    await expect(sshRun(target, "true")).rejects.toThrow(/\[db1\] cannot reach root@192.0.2.10:22 over SSH: Host key verification failed/);
    expect(calls()).toBe(1);
    standIn(255, "root@192.0.2.10: Permission denied (publickey).");
    await expect(sshRun(target, "true")).rejects.toThrow(/Permission denied/);
    expect(calls()).toBe(1);
  });

  it("retries a connection failure (three attempts), and returns a script's own failure as its exit status", async () => {
    standIn(255, "ssh: connect to host 192.0.2.10 port 22: Connection refused");
    await expect(sshRun(target, "true")).rejects.toThrow(/Connection refused/);
    expect(calls()).toBe(3);
    standIn(3, "Permission denied");
    await expect(sshRun(target, "true")).resolves.toMatchObject({ code: 3, stderr: "Permission denied\n" });
    expect(calls()).toBe(1);
  }, 20_000);

  it("sessions started at once towards a host with no shared connection log in once: the others wait for its socket", async () => {
    const t = { ...target, address: "192.0.2.11" };
    const control = muxStandIn(t);
    try {
      const rs = await Promise.all([1, 2, 3].map(() => sshRun(t, "true")));
      expect(rs.map((r) => r.code)).toEqual([0, 0, 0]);
      expect(fs.readFileSync(path.join(dir, "calls"), "utf8").split("\n").filter(Boolean).sort()).toEqual(["login", "mux", "mux"]);
    } finally {
      fs.rmSync(control, { force: true });
    }
  });

  it("a database session started while a run opens the shared connection waits for it and multiplexes", async () => {
    // The database session never becomes the master (ControlMaster=no) and here finds no server behind the relay, so
    // it fails after its ssh ran.
    const t = { ...target, address: "192.0.2.14" };
    const control = muxStandIn(t);
    try {
      const [run, db] = await Promise.allSettled([sshRun(t, "true"), connectViaSsh(t, { connectTimeoutMs: 2000 })]);
      expect(run).toMatchObject({ status: "fulfilled", value: { code: 0 } });
      expect(db).toMatchObject({ status: "rejected", reason: expect.objectContaining({ message: expect.stringMatching(/^\[db1\] cannot open a database session/) }) });
      expect(fs.readFileSync(path.join(dir, "calls"), "utf8").split("\n").filter(Boolean)).toEqual(["login", "mux"]);
    } finally {
      fs.rmSync(control, { force: true });
    }
  });

  it("an inline key reaches ssh as a private 0600 file that is gone once the session ends, for runs and database sessions", async () => {
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----";
    const t = { ...target, address: "192.0.2.15", privateKey: key };
    fs.writeFileSync(path.join(dir, "calls"), "");
    // The stand-in records the key file ssh got (-i), its mode and its text, while ssh runs.
    const script = `while [ $# -gt 0 ]; do [ "$1" = -i ] && k=$2; shift; done
echo "$k $(stat -c %a "$k") $(base64 -w0 < "$k")" >> '${dir}/calls'`;
    fs.writeFileSync(path.join(dir, "ssh"), `#!/bin/bash\n${script}\n`, { mode: 0o755 });
    await expect(sshRun(t, "true")).resolves.toMatchObject({ code: 0 });
    await expect(connectViaSsh(t, { connectTimeoutMs: 2000 })).rejects.toThrow(/^\[db1\] cannot open a database session/);
    const seen = fs.readFileSync(path.join(dir, "calls"), "utf8").split("\n").filter(Boolean).map((l) => l.split(" "));
    expect(seen).toHaveLength(2);
    for (const [file, mode, text] of seen) {
      expect(mode).toBe("600");
      expect(Buffer.from(text!, "base64").toString("utf8")).toBe(`${key}\n`);
      expect(fs.existsSync(file!)).toBe(false);
    }
  });

  it("no ssh program: the run fails with the spawn's error, shared connection or not", async () => {
    const t = { ...target, address: "192.0.2.13" };
    const control = controlPathFor(t);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-nossh-"));
    process.env.PATH = empty;
    try {
      await expect(sshRun(t, "true")).rejects.toThrow(/ENOENT/);
      fs.writeFileSync(control, ""); // as if a shared connection were open
      await expect(sshRun(t, "true")).rejects.toThrow(/ENOENT/);
    } finally {
      process.env.PATH = `${dir}:${savedPath}`;
      fs.rmSync(control, { force: true });
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it("when the first session makes no shared connection, the others still run, one after the other", async () => {
    standIn(0, "");
    const t0 = Date.now();
    fs.writeFileSync(path.join(dir, "ssh"), `#!/bin/sh\nsleep 0.2\necho x >> '${dir}/calls'\n`, { mode: 0o755 });
    const rs = await Promise.all([1, 2, 3].map(() => sshRun({ ...target, address: "192.0.2.12" }, "true")));
    expect(rs.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(calls()).toBe(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
  });
});
