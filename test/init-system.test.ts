// Which init system the host-side scripts talk to: systemctl where the host runs systemd (every lab host, and
// production Debian/RHEL), `service` where it does not (containers and old hosts without systemd). The lab
// exercises the systemd path end to end; this pins the fallback. Both run in the lab's prepared Debian image
// (root only), where /run starts empty: without /run/systemd/system the host has no systemd, and making that
// directory is how systemd announces itself. `systemctl` and `service` are stubs that record their arguments.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { softwareFor } from "../infra/components/software";
import { ensureSoftwareScript } from "../infra/render/scripts";
import { HOSTFILE_SCRIPT } from "../infra/providers/hostfile-script";

const isRoot = process.getuid?.() === 0;
const LAB = path.join(__dirname, "../lab/lab.sh");

describe.skipIf(!isRoot)("service management with and without systemd (prepared lab image)", () => {
  let image = "";
  let dir = "";

  beforeAll(() => {
    const r = spawnSync("bash", [LAB, "image", "prepared"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    image = r.stdout.trim().split("\n").pop()!;
    dir = fs.mkdtempSync("/tmp/mirrorstack-init-");
    fs.mkdirSync(path.join(dir, "bin"));
    // `service X status` fails (not running), so does `systemctl is-active -q X` for a service named in the file
    // inactive; everything else succeeds. Each call is one line in calls.
    const stub = (name: string) =>
      `#!/bin/sh\necho "${name} $*" >> ${dir}/calls\n[ "${name}" = service ] && [ "$2" = status ] && exit 3\n` +
      `[ "${name}" = systemctl ] && [ "$1" = is-active ] && grep -qx "$3" ${dir}/inactive 2>/dev/null && exit 3\nexit 0\n`;
    for (const n of ["systemctl", "service"]) fs.writeFileSync(path.join(dir, "bin", n), stub(n), { mode: 0o755 });
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Runs a bash script in the image with the stubs first on PATH; returns the recorded calls. `writable`: the
   * image directory the script writes in, made an empty tmpfs (the software step makes /var/log/mysql; the apply
   * layer keeps originals in /var/lib/mirrorstack).
   */
  function run(script: string, systemd: boolean, writable: "/var/log" | "/var/lib"): { code: number | null; calls: string[]; out: string } {
    fs.rmSync(path.join(dir, "calls"), { force: true });
    fs.writeFileSync(path.join(dir, "script.sh"), script);
    const prelude = `${systemd ? "mkdir -p /run/systemd/system; " : ""}export PATH=${dir}/bin:$PATH; exec bash ${dir}/script.sh`;
    const r = spawnSync("bash", [LAB, "image-run", image, "--bind", dir, "--tmpfs", writable, "--", "bash", "-c", prelude], {
      encoding: "utf8",
    });
    const calls = fs.existsSync(path.join(dir, "calls")) ? fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n") : [];
    return { code: r.status, calls, out: `${r.stdout}${r.stderr}` };
  }

  const needs = softwareFor("mirror", "debian", "mariadb", "none");

  it("software step under systemd: services enabled and running are only checked (enable --now costs a second each)", () => {
    fs.rmSync(path.join(dir, "inactive"), { force: true });
    const r = run(ensureSoftwareScript(needs, "debian"), true, "/var/log");
    expect(r.code, r.out).toBe(0);
    expect(r.calls).toEqual(needs.services.flatMap((s) => [`systemctl is-enabled -q ${s}`, `systemctl is-active -q ${s}`]));
    expect(r.out).not.toMatch(/installing:/); // the prepared image has every package
  });

  it("software step under systemd: a service that is not running is enabled and started", () => {
    const [stopped, ...running] = needs.services;
    fs.writeFileSync(path.join(dir, "inactive"), `${stopped}\n`);
    const r = run(ensureSoftwareScript(needs, "debian"), true, "/var/log");
    fs.rmSync(path.join(dir, "inactive"), { force: true });
    expect(r.code, r.out).toBe(0);
    expect(r.calls).toEqual([
      `systemctl is-enabled -q ${stopped}`,
      `systemctl is-active -q ${stopped}`,
      `systemctl enable --now ${stopped}`,
      ...running.flatMap((s) => [`systemctl is-enabled -q ${s}`, `systemctl is-active -q ${s}`]),
    ]);
  });

  it("software step: a package on hold counts as installed, one removed with its config files left is installed", () => {
    const [held, gone] = needs.packages;
    // dpkg-query and apt-get stubs for this test only: the states come from a file, apt-get only records.
    const stubs = {
      "dpkg-query": `#!/bin/sh\nfor a in "$@"; do case $a in -*) continue ;; esac\n  grep "^$a " ${dir}/states || echo "$a install ok installed"\ndone\n`,
      "apt-get": `#!/bin/sh\necho "apt-get $*" >> ${dir}/calls\n`,
    };
    for (const [n, text] of Object.entries(stubs)) fs.writeFileSync(path.join(dir, "bin", n), text, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "states"), `${held} hold ok installed\n${gone} deinstall ok config-files\n`);
    try {
      const r = run(ensureSoftwareScript(needs, "debian"), true, "/var/log");
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`installing: ${gone}\n`);
      expect(r.calls.filter((c) => c.startsWith("apt-get install"))).toEqual([`apt-get install -y -qq --no-install-recommends ${gone}`]);
    } finally {
      for (const n of [...Object.keys(stubs), "../states"]) fs.rmSync(path.join(dir, "bin", n), { force: true });
    }
  });

  it("software step: service status, then service start, without systemd", () => {
    const r = run(ensureSoftwareScript(needs, "debian"), false, "/var/log");
    expect(r.code, r.out).toBe(0);
    expect(r.calls).toEqual(needs.services.flatMap((s) => [`service ${s} status`, `service ${s} start`]));
  });

  /** hostfile.sh applying a new file whose change owes the given service actions. */
  function apply(actions: string): string {
    const vars = { OP: "apply", P: `${dir}/target.conf`, KIND: "whole", OWNER: "root", GROUP: "root", MODE: "0644", VALIDATE: "", STACK: "t", ACTIONS: actions, HOSTNAME_CFG: "h" };
    const assigns = Object.entries(vars).map(([k, v]) => `${k}='${v}'`).join("\n");
    fs.rmSync(path.join(dir, "target.conf"), { force: true });
    return `${assigns}\nexec 0<<<"value = ${Math.random()}"\n${HOSTFILE_SCRIPT}`;
  }

  it("apply layer: restart and reload through systemctl under systemd", () => {
    const r = run(apply("cron:restart ssh:reload mariadb:restart"), true, "/var/lib");
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/MIRRORSTACK_RESULT changed/);
    expect(r.calls).toEqual(["systemctl restart cron", "systemctl reload ssh", "systemctl restart mariadb"]);
  });

  it("apply layer: the same through service without systemd (a database that is not running is restarted)", () => {
    const r = run(apply("cron:restart ssh:reload mariadb:restart"), false, "/var/lib");
    expect(r.code, r.out).toBe(0);
    expect(r.calls).toEqual(["service cron restart", "service ssh reload", "service mariadb restart"]);
  });
});
