// infra/ssh/keys.ts: the one reader of authorized_keys lines. `mirrorctl keys` (ops/keys.ts) and the review's
// ssh-key-strength and sync-key-restricted policies (review/rules.ts) must read and judge every line the same way.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { auditKeyFile } from "../infra/ops/keys";
import { STRICT_CONTEXT } from "../infra/review/context";
import { checkPolicies } from "../infra/review/rules";
import { isKeyType, keyLineWords, parseKeyLine, parseOption, plainKeyType, splitOptions } from "../infra/ssh/keys";
import { dsaKeyLine, ed25519Line, rsaKeyLine, sshString } from "./fixtures/ssh-keys";

const dir = mkdtempSync(join(tmpdir(), "ssh-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A certificate line made by ssh-keygen -s for a new key of `args`, signed by a new Ed25519 CA. */
function certLine(name: string, ...args: string[]): string {
  execFileSync("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", join(dir, `${name}-ca`)]);
  execFileSync("ssh-keygen", ["-q", "-N", "", "-f", join(dir, name), ...args]);
  execFileSync("ssh-keygen", ["-q", "-s", join(dir, `${name}-ca`), "-I", name, "-n", "mirrorsync", join(dir, `${name}.pub`)], { stdio: "ignore" });
  return readFileSync(join(dir, `${name}-cert.pub`), "utf8").trim();
}

/** A certificate for a public key line, signed by a new Ed25519 CA (signing needs no private half of the key). */
function certFor(name: string, line: string): string {
  writeFileSync(join(dir, `${name}.pub`), `${line}\n`);
  execFileSync("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", join(dir, `${name}-ca`)]);
  execFileSync("ssh-keygen", ["-q", "-s", join(dir, `${name}-ca`), "-I", name, "-n", "mirrorsync", join(dir, `${name}.pub`)], { stdio: "ignore" });
  return readFileSync(join(dir, `${name}-cert.pub`), "utf8").trim();
}

/** Security-key public key lines (no token needed: only the public blob is read). */
function skEd25519Line(comment: string): string {
  const blob = Buffer.concat([sshString("sk-ssh-ed25519@openssh.com"), sshString(randomBytes(32)), sshString("ssh:")]);
  return `sk-ssh-ed25519@openssh.com ${blob.toString("base64")} ${comment}`;
}
function skEcdsaLine(comment: string): string {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const q = (publicKey.export({ format: "der", type: "spki" }) as Buffer).subarray(-65);
  const blob = Buffer.concat([sshString("sk-ecdsa-sha2-nistp256@openssh.com"), sshString("nistp256"), sshString(q), sshString("ssh:")]);
  return `sk-ecdsa-sha2-nistp256@openssh.com ${blob.toString("base64")} ${comment}`;
}

const SYNC = "mirrorsync";
const PATH = `/etc/ssh/authorized_keys/${SYNC}`;

/** What the review's policies say about each line of an authorized_keys file, by line number. */
function policyVerdicts(content: string): Map<number, { weak: boolean; unrestricted: boolean }> {
  const res = {
    urn: "urn:pulumi:t::mirrorstack::pulumi-nodejs:dynamic/mirrorstack:HostFile::db1-keys",
    name: "db1-keys",
    type: "pulumi-nodejs:dynamic/mirrorstack:HostFile",
    props: { target: { host: "db1", address: "192.0.2.1", user: "root", port: 22 }, stack: "t", path: PATH, kind: "whole", owner: "root", group: "root", mode: "0644", content, validate: "", actions: [] },
    secretKeys: new Set<string>(),
  };
  const out = new Map<number, { weak: boolean; unrestricted: boolean }>();
  for (const v of checkPolicies([res], { ...STRICT_CONTEXT, master: "db1", mirrors: [], syncUser: SYNC })) {
    const line = Number(/ line (\d+) /.exec(v.message)?.[1]);
    const e = out.get(line) ?? { weak: false, unrestricted: false };
    if (v.policy === "ssh-key-strength") e.weak = true;
    if (v.policy === "sync-key-restricted" && /from=/.test(v.message.split(" lacks ")[1]!)) e.unrestricted = true;
    out.set(line, e);
  }
  return out;
}

describe("sshd's authorized_keys option rules", () => {
  it("splits options at commas outside quotes; \\\" never opens or closes a quote", () => {
    expect(splitOptions('restrict,from="10.0.0.1,10.0.0.2",command="/bin/x a,b"')).toEqual(["restrict", 'from="10.0.0.1,10.0.0.2"', 'command="/bin/x a,b"']);
    expect(splitOptions('command="echo \\"a,b\\"",no-pty')).toEqual(['command="echo \\"a,b\\""', "no-pty"]);
    // A backslash before anything but a quote is itself: `\\"` is a backslash and then an escaped quote.
    expect(splitOptions('command="a\\\\",b"x,y')).toEqual(['command="a\\\\",b"x', "y"]);
    expect(parseOption('Command="echo \\"hi\\""')).toEqual({ name: "command", value: 'echo "hi"' });
    expect(parseOption("RESTRICT")).toEqual({ name: "restrict" });
  });

  it("the options field ends at the first space or tab outside quotes", () => {
    const line = 'from="10.0.0.1",command="/x a b" ssh-ed25519 AAAA c';
    expect(keyLineWords(line)[0]).toBe('from="10.0.0.1",command="/x a b"');
    // An unterminated quote runs to the end of the line: no key follows.
    expect(parseKeyLine('command="/x ssh-ed25519 AAAA')).toEqual({ error: 'not a key line: command="/x ssh-ed25519 AAAA' });
    expect(keyLineWords('@cert-authority *.example.org\tssh-ed25519 AAAA')).toEqual(["@cert-authority", "*.example.org", "ssh-ed25519", "AAAA"]);
  });

  it("knows plain, certificate and security-key types", () => {
    for (const t of ["ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "ssh-rsa-cert-v01@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com"]) {
      expect(isKeyType(t), t).toBe(true);
    }
    for (const t of ["ssh-foo", "rsa", "x-cert-v01@openssh.com", "ssh-ed25519@openssh.com"]) expect(isKeyType(t), t).toBe(false);
    expect(plainKeyType("sk-ssh-ed25519-cert-v01@openssh.com")).toBe("sk-ssh-ed25519@openssh.com");
    expect(plainKeyType("ssh-rsa-cert-v01@openssh.com")).toBe("ssh-rsa");
  });
});

describe("mirrorctl keys and the review policy judge the same lines the same way", () => {
  const ed = ed25519Line("ed@desk");
  const restricted = (key: string) => `restrict,from="10.0.0.11",command="/usr/local/lib/mirrorstack/validate-rsync" ${key}`;
  // [line, weak, lacks from=]
  const table: [string, boolean, boolean][] = [
    [restricted(ed), false, false],
    [restricted(rsaKeyLine(2048, "short")), true, false],
    [restricted(rsaKeyLine(3072, "long")), false, false],
    [restricted(dsaKeyLine("dsa")), true, false],
    [ed, false, true],
    // Quoted commas and spaces inside a value.
    [`restrict,command="/x a, b",from="10.0.0.11,10.0.0.12" ${ed}`, false, false],
    // An escaped quote inside a value does not end it: from= is still an option of its own after it.
    [`restrict,command="echo \\"x, y\\" z",from="10.0.0.11" ${rsaKeyLine(2048, "esc")}`, true, false],
    // The escaped quotes keep `from=` inside the command's value: there is no from= option.
    [`restrict,command="echo \\",from=\\"10.0.0.11" ${ed}`, false, true],
    // Certificates are judged by their key.
    [restricted(certLine("rsa2048", "-t", "rsa", "-b", "2048")), true, false],
    [restricted(certLine("rsa3072", "-t", "rsa", "-b", "3072")), false, false],
    [restricted(certLine("ed", "-t", "ed25519")), false, false],
    [restricted(certLine("ecdsa", "-t", "ecdsa", "-b", "384")), false, false],
    // Security keys (FIDO): read and never weak.
    [restricted(skEd25519Line("sk-ed")), false, false],
    [restricted(skEcdsaLine("sk-ecdsa")), false, false],
    [restricted(certFor("sk-ed-cert", skEd25519Line("sk-ed"))), false, false],
    [certFor("sk-ecdsa-cert", skEcdsaLine("sk-ecdsa")), false, true],
    // A blob of another type than the line says is not decoded; a DSA line is weak by its type.
    [restricted(`ssh-dss ${ed.split(" ")[1]} odd`), true, false],
  ];

  it("same weakness and same from= verdict for every line", () => {
    const content = table.map(([l]) => l).join("\n");
    const mirrorctl = auditKeyFile(SYNC, PATH, content, SYNC);
    const policy = policyVerdicts(content);
    expect(mirrorctl.map((k) => k.line)).toEqual(table.map((_, i) => i + 1));
    table.forEach(([line, weak, noFrom], i) => {
      const m = mirrorctl[i]!;
      const p = policy.get(i + 1) ?? { weak: false, unrestricted: false };
      const label = `line ${i + 1}: ${line.slice(0, 90)}`;
      expect(isKeyType(m.type), `${label} is read as a key`).toBe(true);
      expect(m.flags.some((f) => f.startsWith("weak:")), label).toBe(weak);
      expect(p.weak, label).toBe(weak);
      expect(m.flags.some((f) => f.includes("without from=")), label).toBe(noFrom);
      expect(p.unrestricted, label).toBe(noFrom);
    });
  });

  it("parses each line into the same options mirrorctl shows", () => {
    const p = parseKeyLine(table[6]![0]);
    if (!p || "error" in p) throw new Error("no key");
    expect(p.options).toEqual(["restrict", 'command="echo \\"x, y\\" z"', 'from="10.0.0.11"']);
    expect(p.options.map(parseOption)).toEqual([{ name: "restrict" }, { name: "command", value: 'echo "x, y" z' }, { name: "from", value: "10.0.0.11" }]);
  });
});
