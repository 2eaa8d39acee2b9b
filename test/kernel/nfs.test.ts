// Kernel tier (root): NFS for real, in virtual machines with Debian's own kernel (lab/vm/vm.sh), since the
// container lab shares this machine's kernel, which has no NFS. The real engine applies a files.method=nfs stack
// to a master and a mirror VM; then the master serves the export, the mirror mounts it through the rendered
// fstab, ownership maps through idmapd, TCP wrappers keep other addresses out, a write through the mount is
// refused, and the copy job brings the mount into the mirror's local tree.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshStack, inventory, isRoot, mirrorctl, onHost, pulumi, ROOT, writeTestStack, useVmLab } from "../e2e/lab";

const STACK = "kernel-nfs";
useVmLab(["master", "mirror1"]);
const TREE = "/srv/site/uploads";
const MOUNT = `/mnt/mirrorstack${TREE}`;

function must(host: string, script: string): string {
  const r = onHost(host, script);
  if (r.code !== 0) throw new Error(`[${host}] exit ${r.code}: ${script}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A command run from this machine's side of the bridge (an address no export or TCP wrapper lets in). */
function fromMachine(args: string[]): { code: number; out: string } {
  const r = spawnSync("bash", [path.join(ROOT, "lab/lab.sh"), "image-run", "prepared", "--", ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!isRoot)("NFS file mirroring in virtual machines (kernel tier)", { shuffle: false }, () => {
  let masterAddress = "";

  beforeAll(async () => {
    masterAddress = inventory().hosts.find((h) => h.name === "master")!.address;
    // The site's files on the master, one owned by a system account that exists on both sides (id mapping).
    must("master", `mkdir -p "${TREE}/a/b c" && echo one >"${TREE}/a/b c/x y.txt" && head -c 50000 /dev/urandom >${TREE}/a/blob && echo d >${TREE}/owned && chown daemon:daemon ${TREE}/owned`);
    // TLS off: the last test switches the master over (under TLS that is proven in test/e2e/tls.test.ts).
    writeTestStack(STACK, { files: { method: "nfs", trees: [TREE] }, backups: { enabled: false }, tls: { enabled: false } });
    await freshStack(STACK);
  }, 300_000);

  afterAll(async () => {
    await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    await pulumi(["stack", "rm", "--yes", "--force", STACK]);
  }, 600_000);

  it("up serves the export from the master and mounts it on the mirror through the rendered fstab", async () => {
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    expect(must("master", "systemctl is-active nfs-server rpcbind")).toBe("active\nactive\n");
    expect(must("master", "exportfs -v")).toContain(TREE);
    expect(must("mirror1", `grep -v '^#' /etc/fstab`)).toContain(`${masterAddress}:${TREE} ${MOUNT} nfs `);
    expect(must("mirror1", `findmnt -n -o FSTYPE,SOURCE --target ${MOUNT}`).trim()).toMatch(new RegExp(`^nfs4? +${masterAddress.replace(/\./g, "\\.")}:${TREE}$`));
    expect(must("mirror1", `cat "${MOUNT}/a/b c/x y.txt"`)).toBe("one\n");
  });

  it("maps owners by name through idmapd (same Domain on both sides)", () => {
    expect(must("master", "grep -E '^Domain' /etc/idmapd.conf")).toBe(must("mirror1", "grep -E '^Domain' /etc/idmapd.conf"));
    expect(must("mirror1", `stat -c %U:%G ${MOUNT}/owned`).trim()).toBe("daemon:daemon");
  });

  it("refuses a write through the mount", () => {
    const w = onHost("mirror1", `touch ${MOUNT}/written`);
    expect(w.code).not.toBe(0);
    expect(w.stderr).toMatch(/Read-only file system/);
    expect(onHost("master", `test -e ${TREE}/written`).code).not.toBe(0);
  });

  it("keeps other addresses out: TCP wrappers refuse this machine's rpcbind query, the mirror's is answered", () => {
    expect(must("master", "cat /etc/hosts.deny")).toMatch(/^rpcbind mountd lockd statd rquotad *: *ALL/m);
    const mirror = onHost("mirror1", `rpcinfo -p ${masterAddress}`);
    expect(mirror.code, mirror.stderr).toBe(0);
    expect(mirror.stdout).toMatch(/nfs/);
    const machine = fromMachine(["rpcinfo", "-p", masterAddress]);
    expect(machine.code, machine.out).not.toBe(0);
    const exports = fromMachine(["showmount", "-e", masterAddress]);
    expect(exports.code, exports.out).not.toBe(0);
  });

  it("the copy job brings the mounted export into the mirror's local tree, byte for byte", async () => {
    const r = await mirrorctl("sync-now", "--stack", STACK);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    const listing = (host: string, dir: string) => must(host, `cd ${dir} && find . -type f -print0 | sort -z | xargs -0 sha256sum`);
    expect(listing("mirror1", TREE)).toBe(listing("master", TREE));
    expect(listing("mirror1", TREE)).toContain("./a/b c/x y.txt");
    expect(must("mirror1", "cat /var/lib/mirrorstack/sync-status")).toMatch(/^last_run_exit=0$/m);
  });

  it("a switchover by stack-config change moves the export: mirror1 serves it, the old master mounts it", async () => {
    const mirror1Address = inventory().hosts.find((h) => h.name === "mirror1")!.address;
    writeTestStack(STACK, {
      master: { name: "mirror1", address: mirror1Address, serverId: 100 },
      mirrors: [{ name: "master", address: masterAddress, serverId: 1 }],
      files: { method: "nfs", trees: [TREE] },
      backups: { enabled: false },
      tls: { enabled: false },
    });
    const up = await pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
    expect(up.code, up.out).toBe(0);
    expect(must("mirror1", "mariadb -N -e 'SELECT @@read_only'").trim()).toBe("0");
    expect(must("master", "mariadb -N -e 'SELECT @@read_only'").trim()).toBe("1");
    expect(must("mirror1", "exportfs -v")).toContain(TREE);
    expect(must("master", "exportfs -v")).not.toContain(TREE);
    expect(must("master", `grep -v '^#' /etc/fstab`)).toContain(`${mirror1Address}:${TREE} ${MOUNT} nfs `);
    expect(must("mirror1", `grep -v '^#' /etc/fstab`)).not.toContain(`:${TREE} ${MOUNT} nfs `);
    expect(must("master", `findmnt -n -o FSTYPE,SOURCE --target ${MOUNT}`).trim()).toMatch(new RegExp(`^nfs4? +${mirror1Address.replace(/\./g, "\\.")}:${TREE}$`));
    must("mirror1", `echo after-switchover >"${TREE}/new.txt"`);
    expect(must("master", `cat "${MOUNT}/new.txt"`)).toBe("after-switchover\n");
  });
});
