// mirrorctl keys: every authorized SSH key on every host - ~/.ssh/authorized_keys (and authorized_keys2) of every
// user whose home exists, and the root-owned /etc/ssh/authorized_keys/<user> files - with user, type, bits,
// comment and options. Flags DSA keys, RSA keys under 3072 bits, lines that are not keys, and keys of the sync
// account without both from= and command=. Exit 1 when anything is flagged.

import { PATHS } from "../render/common";
import type { Request } from "./args";
import { selectHosts, type OpsContext } from "./context";
import { run } from "./hosts";
import { mapLimit, table, type CommandResult } from "./output";

export const MIN_RSA_BITS = 3072;

export interface AuthorizedKey {
  readonly user: string;
  readonly file: string;
  readonly line: number;
  /** Key type as written (ssh-ed25519, ssh-rsa, ...). */
  readonly type: string;
  /** Key size in bits; null when the key could not be decoded. */
  readonly bits: number | null;
  readonly comment: string;
  /** Options in front of the key, as written (e.g. restrict, from="10.0.0.5", command="..."). */
  readonly options: readonly string[];
  /** SHA256 fingerprint as ssh-keygen prints it (SHA256:base64 without padding); null when not decodable. */
  readonly fingerprint: string | null;
  /** Why this key is flagged (empty: fine). */
  readonly flags: readonly string[];
}

const KEY_TYPES = [
  "ssh-ed25519",
  "ssh-rsa",
  "ssh-dss",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
  "ssh-ed448",
];

function isKeyType(word: string): boolean {
  return KEY_TYPES.includes(word) || /^[a-z0-9-]+-cert-v01@openssh\.com$/.test(word);
}

/** Splits the options field (comma separated, values may be double-quoted with commas and spaces inside). */
export function splitOptions(field: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < field.length; i++) {
    const c = field[i]!;
    if (c === "\\" && quoted && i + 1 < field.length) {
      cur += c + field[++i]!;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === "," && !quoted) {
      out.push(cur);
      cur = "";
      continue;
    }
    cur += c;
  }
  if (cur !== "") out.push(cur);
  return out;
}

/** Reads an SSH wire-format string / mpint at `off`; returns [bytes, next offset]. */
function readString(buf: Buffer, off: number): [Buffer, number] {
  if (off + 4 > buf.length) throw new Error("truncated key");
  const n = buf.readUInt32BE(off);
  if (off + 4 + n > buf.length) throw new Error("truncated key");
  return [buf.subarray(off + 4, off + 4 + n), off + 4 + n];
}

function mpintBits(b: Buffer): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return 0;
  return (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]!));
}

/** Key size in bits from the base64 blob (RSA: modulus, DSA: p, ECDSA: curve, Ed25519: 256). */
export function keyBits(type: string, blob: string): number {
  const buf = Buffer.from(blob, "base64");
  let [name, off] = readString(buf, 0);
  const t = name.toString("latin1");
  if (t !== type) throw new Error(`key blob says ${t}, the line says ${type}`);
  const base = t.replace(/-cert-v01@openssh\.com$/, "");
  if (base !== t) [, off] = readString(buf, off); // certificates: a nonce comes first
  if (base === "ssh-rsa") {
    [, off] = readString(buf, off); // e
    const [n] = readString(buf, off);
    return mpintBits(n);
  }
  if (base === "ssh-dss") {
    const [p] = readString(buf, off);
    return mpintBits(p);
  }
  if (/nistp256/.test(base)) return 256;
  if (/nistp384/.test(base)) return 384;
  if (/nistp521/.test(base)) return 521;
  if (/ed25519/.test(base)) return 256;
  if (/ed448/.test(base)) return 456;
  throw new Error(`unknown key type ${t}`);
}

/** Parses one authorized_keys line (null for blank lines and comments). */
export function parseKeyLine(text: string): { options: string[]; type: string; blob: string; comment: string } | { error: string } | null {
  const line = text.trim();
  if (line === "" || line.startsWith("#")) return null;
  let rest = line;
  let options: string[] = [];
  const first = /^\S+/.exec(rest)![0];
  if (!isKeyType(first)) {
    // Options run up to the first space outside double quotes.
    let i = 0;
    let quoted = false;
    for (; i < rest.length; i++) {
      const c = rest[i]!;
      if (c === "\\" && quoted) {
        i++;
        continue;
      }
      if (c === '"') quoted = !quoted;
      else if ((c === " " || c === "\t") && !quoted) break;
    }
    options = splitOptions(rest.slice(0, i));
    rest = rest.slice(i).trim();
  }
  const m = /^(\S+)\s+([A-Za-z0-9+/=]+)(?:\s+(.*))?$/.exec(rest);
  if (!m || !isKeyType(m[1]!)) return { error: `not a key line: ${line.length > 60 ? line.slice(0, 60) + "..." : line}` };
  return { options, type: m[1]!, blob: m[2]!, comment: (m[3] ?? "").trim() };
}

function fingerprint(blob: string): string {
  const crypto = require("crypto") as typeof import("crypto");
  return "SHA256:" + crypto.createHash("sha256").update(Buffer.from(blob, "base64")).digest("base64").replace(/=+$/, "");
}

/** Parses one authorized_keys file and flags its keys. */
export function auditKeyFile(user: string, file: string, content: string, syncUser: string): AuthorizedKey[] {
  const out: AuthorizedKey[] = [];
  content.split("\n").forEach((text, idx) => {
    const p = parseKeyLine(text);
    if (p === null) return;
    if ("error" in p) {
      out.push({ user, file, line: idx + 1, type: "?", bits: null, comment: "", options: [], fingerprint: null, flags: [p.error] });
      return;
    }
    const flags: string[] = [];
    let bits: number | null = null;
    try {
      bits = keyBits(p.type, p.blob);
    } catch (e) {
      flags.push(`cannot decode the key: ${(e as Error).message}`);
    }
    const base = p.type.replace(/-cert-v01@openssh\.com$/, "");
    if (base === "ssh-dss") flags.push("weak: DSA key (disabled in current OpenSSH)");
    if (base === "ssh-rsa" && bits !== null && bits < MIN_RSA_BITS) flags.push(`weak: RSA key of ${bits} bits (< ${MIN_RSA_BITS})`);
    if (user === syncUser) {
      const has = (name: string) => p.options.some((o) => o.toLowerCase().startsWith(`${name}=`));
      if (!has("from")) flags.push(`sync account key without from= (any address may use it)`);
      if (!has("command")) flags.push(`sync account key without command= (not limited to validate-rsync)`);
    }
    out.push({ user, file, line: idx + 1, type: p.type, bits, comment: p.comment, options: p.options, fingerprint: flags.some((f) => f.startsWith("cannot")) ? null : fingerprint(p.blob), flags });
  });
  return out;
}

/** The host script: prints `@@FILE<TAB>user<TAB>path`, then each line as `L<TAB>line`, per key file. */
export const KEYS_SCRIPT = `set -u
seen=" "
emit() {
  case "$seen" in *" $2 "*) return ;; esac
  seen="$seen$2 "
  [ -f "$2" ] || return 0
  printf '@@FILE\\t%s\\t%s\\n' "$1" "$2"
  awk '{ print "L\\t" $0 }' "$2"
}
getent passwd | while IFS=: read -r user _ _ _ _ home _; do
  [ -n "$home" ] && [ -d "$home" ] || continue
  for f in "$home/.ssh/authorized_keys" "$home/.ssh/authorized_keys2"; do emit "$user" "$f"; done
done
for f in ${PATHS.authorizedKeysDir}/*; do
  [ -f "$f" ] && emit "$(basename "$f")" "$f"
done
true`;

/** Splits KEYS_SCRIPT output into files. */
export function parseKeysOutput(stdout: string): { user: string; file: string; content: string }[] {
  const files: { user: string; file: string; lines: string[] }[] = [];
  for (const line of stdout.split("\n")) {
    if (line.startsWith("@@FILE\t")) {
      const [, user, file] = line.split("\t");
      files.push({ user: user!, file: file!, lines: [] });
    } else if (line.startsWith("L\t") && files.length > 0) {
      files[files.length - 1]!.lines.push(line.slice(2));
    }
  }
  return files.map((f) => ({ user: f.user, file: f.file, content: f.lines.join("\n") }));
}

export interface HostKeys {
  readonly host: string;
  readonly keys: readonly AuthorizedKey[];
  readonly error?: string;
}

export function formatKeys(hosts: readonly HostKeys[]): string {
  const rows: string[][] = [];
  for (const h of hosts) {
    if (h.error) rows.push([h.host, "-", "-", "-", "-", "-", `ERROR: ${h.error}`]);
    for (const k of h.keys) {
      const opts = k.options.join(",");
      rows.push([h.host, k.user, k.type, k.bits === null ? "?" : String(k.bits), k.comment || "-", opts.length > 60 ? opts.slice(0, 57) + "..." : opts || "-", k.flags.length ? `FLAG: ${k.flags.join("; ")}` : "ok"]);
    }
  }
  const flagged = hosts.reduce((n, h) => n + h.keys.filter((k) => k.flags.length > 0).length + (h.error ? 1 : 0), 0);
  const total = hosts.reduce((n, h) => n + h.keys.length, 0);
  return `${table(["HOST", "USER", "TYPE", "BITS", "COMMENT", "OPTIONS", "VERDICT"], rows)}\n${flagged === 0 ? `${total} key(s), none flagged` : `${flagged} of ${total} key(s) flagged`}`;
}

export async function keysCommand(ctx: OpsContext, req: Request): Promise<CommandResult> {
  const hosts = selectHosts(ctx, req.hosts);
  const syncUser = ctx.cfg.files.syncUser;
  const results = await mapLimit(hosts, req.parallel, async (h): Promise<HostKeys> => {
    const r = await run(ctx.target(h.name), KEYS_SCRIPT);
    if (r.code !== 0) return { host: h.name, keys: [], error: r.stderr.trim().slice(0, 300) || `exit ${r.code}` };
    return { host: h.name, keys: parseKeysOutput(r.stdout).flatMap((f) => auditKeyFile(f.user, f.file, f.content, syncUser)) };
  });
  const flagged = results.some((h) => h.error || h.keys.some((k) => k.flags.length > 0));
  return { exitCode: flagged ? 1 : 0, text: formatKeys(results), json: { stack: ctx.stack, flagged, hosts: results } };
}
