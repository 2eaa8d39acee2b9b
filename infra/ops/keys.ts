// mirrorctl keys: every authorized SSH key on every host - ~/.ssh/authorized_keys (and authorized_keys2) of every
// user whose home exists, and the root-owned /etc/ssh/authorized_keys/<user> files - with user, type, bits,
// comment and options. Flags DSA keys, RSA keys under 3072 bits, lines that are not keys, and keys of the sync
// account without both from= and command=. Exit 1 when anything is flagged. Lines are read and keys judged by
// ssh/keys.ts, as the review's ssh-key-strength policy does.

import { PATHS } from "../render/common";
import { keyBits, keyWeakness, parseKeyLine, parseOption } from "../ssh/keys";
import type { Request } from "./args";
import { selectHosts, type OpsContext } from "./context";
import { run } from "./hosts";
import { mapLimit, table, type CommandResult } from "./output";

export { keyBits, MIN_RSA_BITS, parseKeyLine, splitOptions } from "../ssh/keys";

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
    const weak = keyWeakness(p.type, bits);
    if (weak?.kind === "dsa") flags.push("weak: DSA key (disabled in current OpenSSH)");
    if (weak?.kind === "rsa") flags.push(`weak: RSA key of ${weak.bits} bits (< ${weak.min})`);
    if (user === syncUser) {
      const named = p.options.map(parseOption);
      const has = (name: string) => named.some((o) => o.name === name && o.value !== undefined);
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
