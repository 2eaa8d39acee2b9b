// Real readers on the rendered files: each file's own validation snippet runs here the way the apply layer runs
// it on a host ($FILE = candidate; for a block, a sample file with the block between the apply layer's markers),
// plus direct checks with the tools that read these files (MariaDB, sshd, findmnt, ssh-keygen, logrotate, bash).
// As root the readers run inside the lab's `prepared` Debian image (lab.sh image-run: the same packages a
// provisioned host has), so this machine needs none of the servers. Otherwise the machine's own tools are used,
// and checks whose tool is missing are skipped.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderStack } from "../infra/render";
import { VALIDATE_CRON, validateFstab, validateMyCnf } from "../infra/render/common";
import type { HostPlan, RenderedFile } from "../infra/render/types";
import { MIRROR_KEYS, STACKS, loadStack } from "./render-stacks";

const isRoot = process.getuid?.() === 0;
const LAB = join(__dirname, "../lab/lab.sh");
/** Root of the prepared lab image (built once and cached by lab.sh), or undefined when not root. */
const IMAGE_ROOT = isRoot ? imageRoot() : undefined;
function imageRoot(): string {
  const r = spawnSync("bash", [LAB, "image", "prepared"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`lab.sh image prepared failed:\n${r.stderr}`);
  return r.stdout.trim().split("\n").pop()!;
}
// Candidate files live under /tmp, which image-run can bind into the image at the same path.
const tmp = mkdtempSync(join(isRoot ? "/tmp" : tmpdir(), "mirrorstack-readers-"));
let n = 0;

/** Runs a reader: inside the prepared image as root, on this machine otherwise. */
function reader(args: readonly string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  if (IMAGE_ROOT) {
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    return spawnSync("bash", [LAB, "image-run", IMAGE_ROOT, "--bind", tmp, "--", "env", ...vars, ...args], { encoding: "utf8" });
  }
  return spawnSync(args[0]!, args.slice(1), { env: { ...process.env, ...env, PATH: `${process.env["PATH"]}:/usr/sbin:/sbin` }, encoding: "utf8" });
}

function has(cmd: string): boolean {
  return reader(["sh", "-c", `command -v ${cmd} || test -x /usr/sbin/${cmd}`]).status === 0;
}
const HAVE = {
  mariadbd: has("mariadbd"),
  myPrintDefaults: has("my_print_defaults"),
  sshd: has("sshd"),
  findmnt: has("findmnt"),
  sshKeygen: has("ssh-keygen"),
  logrotate: has("logrotate"),
};
for (const [tool, ok] of Object.entries(HAVE)) {
  if (ok) continue;
  // In the image every reader must be there: a missing one is a broken image, not a reason to skip.
  if (IMAGE_ROOT) throw new Error(`[render-readers] ${tool} is missing from the prepared lab image ${IMAGE_ROOT}`);
  console.warn(`[render-readers] ${tool} is not installed: its checks are skipped`);
}

const SAMPLES: Record<string, string> = {
  "/etc/fstab": [
    "# /etc/fstab: static file system information.",
    "UUID=0a1b2c3d-1111-2222-3333-444455556666 / ext4 errors=remount-ro 0 1",
    "proc /proc proc defaults 0 0",
    "",
  ].join("\n"),
  "/etc/hosts.allow": "# /etc/hosts.allow\nsshd: ALL\n",
  "/etc/hosts.deny": "# /etc/hosts.deny\n",
};

/** The candidate file as the apply layer builds it: whole content, or a sample file plus the marked block. */
function candidate(f: RenderedFile, stack: string): string {
  const text =
    f.kind === "whole"
      ? f.content
      : `${SAMPLES[f.path] ?? ""}# BEGIN mirrorstack managed block (stack ${stack})\n${f.content}# END mirrorstack managed block\n`;
  const path = join(tmp, `${++n}-${f.path.split("/").pop()}`);
  writeFileSync(path, text);
  return path;
}

function runValidate(snippet: string, file: string): { code: number | null; out: string } {
  const r = reader(["sh", "-c", snippet], { FILE: file });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function needs(f: RenderedFile, cfgFlavour: string): keyof typeof HAVE | "skip" | undefined {
  if (/60-mirrorstack\.cnf$/.test(f.path)) return cfgFlavour === "mysql" ? "skip" : "mariadbd";
  if (f.path.startsWith("/etc/ssh/sshd_config.d/")) return "sshd";
  if (f.path.startsWith("/etc/ssh/authorized_keys/")) return "sshKeygen";
  if (f.path === "/etc/logrotate.d/mirrorstack") return "logrotate";
  if (f.path === "/etc/fstab") return "findmnt";
  return undefined;
}

describe.each(STACKS)("stack %s: every file passes its own validation snippet", (stack) => {
  const cfg = loadStack(stack);
  const keys = MIRROR_KEYS[stack];
  const plans: HostPlan[] = renderStack(cfg, { stack, secrets: { replicationPassword: "[secret]", backupPassphrase: "[secret]" }, ...(keys ? { mirrorKeys: keys } : {}) });
  const cases = plans.flatMap((p) => p.files.map((f) => [`${p.host}:${f.path}`, f] as const));

  it.each(cases)("%s", (_name, f) => {
    expect(f.validate, "every file has a validation").toBeTruthy();
    const need = needs(f, cfg.database.flavour);
    if (need === "skip") return; // MySQL is not installed next to MariaDB here; see the my_print_defaults test
    if (need && !HAVE[need]) return;
    const file = candidate(f, stack);
    if (f.path === "/etc/fstab" && f.content.includes("UUID=")) {
      // The export filesystem's device does not exist on this machine, so findmnt rightly reports its source
      // as unreachable; everything else must be clean, and the file must parse.
      const r = reader(["findmnt", "--verify", "--verbose", "--tab-file", file], { LC_ALL: "C" });
      const out = `${r.stdout}${r.stderr}`;
      expect(out).toMatch(/^0 parse errors/m);
      for (const line of out.split("\n").filter((l) => l.includes("[E]"))) expect(line).toMatch(/unreachable on boot required (source|target)/);
      return;
    }
    const r = runValidate(f.validate!, file);
    expect(r.code, r.out).toBe(0);
  });
});

describe("MariaDB reads the my.cnf drop-ins", () => {
  it.skipIf(!HAVE.myPrintDefaults)("my_print_defaults prints the master's and a mirror's options (MariaDB and MySQL renders)", () => {
    const expectations: [string, string, string[]][] = [
      ["staging", "stg-db1", ["--server_id=1", "--log_bin=/var/log/mysql/mysql-bin", "--binlog_format=ROW", "--binlog_do_db=wiki", "--binlog_do_db=shop", "--binlog_expire_logs_seconds=432000", "--sync_binlog=1", "--innodb_flush_log_at_trx_commit=1", "--bind_address=192.0.2.10", "--skip_name_resolve=ON"]],
      ["staging", "stg-db2", ["--server_id=100", "--read_only=ON", "--relay_log_recovery=ON", "--log_bin=/var/log/mysql/mysql-bin", "--binlog_do_db=wiki", "--sync_binlog=1", "--log_slave_updates=ON", "--gtid_strict_mode=OFF", "--replicate_do_db=wiki", "--replicate_do_db=shop"]],
      ["rhel-mysql", "web-a", ["--server_id=100", "--read_only=ON", "--super_read_only=ON", "--log_bin=/var/lib/mysql/mysql-bin", "--log_replica_updates=ON", "--gtid_mode=ON"]],
    ];
    for (const [stack, host, opts] of expectations) {
      const plans = renderStack(loadStack(stack as "staging"), { stack, secrets: { replicationPassword: "x", backupPassphrase: "[secret]" } });
      const f = plans.find((p) => p.host === host)!.files[0]!;
      const r = reader(["my_print_defaults", `--defaults-file=${candidate(f, stack)}`, "mysqld"]);
      expect(r.status, r.stderr).toBe(0);
      const printed = r.stdout.trim().split("\n");
      for (const o of opts) expect(printed, `${host}`).toContain(o);
    }
  });

  it.skipIf(!HAVE.mariadbd)("the validation snippet refuses an unknown option", () => {
    const file = join(tmp, "bad.cnf");
    writeFileSync(file, "[mysqld]\nserver_idd = 1\n");
    const r = runValidate(validateMyCnf("mariadb"), file);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/unknown variable 'server_idd=1'/);
  });
});

describe("the validation snippets refuse broken files", () => {
  function check(snippet: string, text: string): number | null {
    const file = join(tmp, `${++n}-broken`);
    writeFileSync(file, text);
    return runValidate(snippet, file).code;
  }

  it("cron: 5 time fields + user + command, no %, final newline", () => {
    expect(check(VALIDATE_CRON, "SHELL=/bin/sh\n17 * * * * root /usr/local/sbin/x\n")).toBe(0);
    expect(check(VALIDATE_CRON, "17 * * * root /usr/local/sbin/x\n")).not.toBe(0);
    expect(check(VALIDATE_CRON, "17 * * * * /usr/local/sbin/x\n")).not.toBe(0);
    expect(check(VALIDATE_CRON, "17 * * * * root date +%s\n")).not.toBe(0);
    expect(check(VALIDATE_CRON, "17 * * * * root /usr/local/sbin/x")).not.toBe(0);
    expect(check(VALIDATE_CRON, "")).not.toBe(0);
    expect(check(VALIDATE_CRON, "@reboot root /x\n")).not.toBe(0);
  });

  it.skipIf(!HAVE.findmnt)("fstab: a parse error anywhere, or an error on one of our lines", () => {
    const ok = "# x\nproc /proc proc defaults 0 0\n";
    expect(check(validateFstab(["/mnt/x"]), `${ok}192.0.2.1:/srv /mnt/x nfs ro,_netdev 0 0\n`)).toBe(0);
    expect(check(validateFstab(["/mnt/x"]), `${ok}192.0.2.1:/srv\n`)).not.toBe(0);
    // a device that is not there (wrong UUID)
    expect(check(validateFstab(["/mnt/x"]), `${ok}UUID=0badc0de-0000-4000-8000-000000000000 /mnt/x ext4 defaults,acl 0 2\n`)).not.toBe(0);
    // an empty mount option, and a non-numeric pass field
    expect(check(validateFstab(["/mnt/x"]), `${ok}192.0.2.1:/srv /mnt/x nfs ro,,hard 0 0\n`)).not.toBe(0);
    expect(check(validateFstab(["/mnt/x"]), `${ok}192.0.2.1:/srv /mnt/x nfs ro 0 x\n`)).not.toBe(0);
    // other entries' problems (here: a missing target) are not ours to refuse
    expect(check(validateFstab(["/mnt/x"]), `${ok}/dev/sdz9 /not/there ext4 defaults 0 2\n192.0.2.1:/srv /mnt/x nfs ro 0 0\n`)).toBe(0);
  });

  it.skipIf(!HAVE.sshd)("sshd drop-in: a misspelt keyword", () => {
    const f = renderStack(loadStack("staging"), { stack: "staging", secrets: { replicationPassword: "x", backupPassphrase: "[secret]" } })[0]!.files.find((x) => x.path.startsWith("/etc/ssh/sshd_config.d/"))!;
    expect(check(f.validate!, f.content)).toBe(0);
    expect(check(f.validate!, "AuthorizedKeysFiles .ssh/authorized_keys\n")).not.toBe(0);
  });

  it.skipIf(!HAVE.sshKeygen)("authorized_keys: a line that is not a key", () => {
    const f = renderStack(loadStack("staging"), { stack: "staging", secrets: { replicationPassword: "x", backupPassphrase: "[secret]" }, mirrorKeys: MIRROR_KEYS["staging"]! })[0]!.files.find((x) => x.path.startsWith("/etc/ssh/authorized_keys/"))!;
    expect(check(f.validate!, f.content)).toBe(0);
    expect(check(f.validate!, `${f.content}restrict,from="192.0.2.12",command="/usr/local/lib/mirrorstack/validate-rsync" not-a-key AAAA\n`)).not.toBe(0);
    // a valid key without the forced command
    const key = MIRROR_KEYS["staging"]!["stg-db2"]!;
    expect(check(f.validate!, `${f.content}${key}\n`)).not.toBe(0);
    expect(check(f.validate!, `${f.content}restrict,from="192.0.2.12" ${key}\n`)).not.toBe(0);
  });

  it("bash -n: a script with a syntax error", () => {
    expect(check('bash -n "$FILE"', "#!/bin/bash\nif true; then\n")).not.toBe(0);
  });
});
