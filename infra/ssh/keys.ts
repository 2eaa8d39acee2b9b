// OpenSSH public keys and authorized_keys lines: the key types, sshd's option rules, the parse of one line, key size
// and key strength. The one home for them: `mirrorctl keys` (ops/keys.ts), the review policy (review/keys.ts,
// review/rules.ts), the mirrorKeys config check (config/checks.ts) and known_hosts files (render/sync.ts) use this,
// so they read and judge a key line the same way. Pure (Buffer only); never returns or prints key material.
// A parse in process, not `ssh-keygen -l`: the policy runs where no ssh-keygen may be, and sizes need no process.

/** Plain key types (a certificate type is one of these with -cert-v01). ssh-ed448 is not in OpenSSH but is read. */
export const KEY_TYPES: readonly string[] = [
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

/** Types current OpenSSH accepts by default for a user key (no DSA); the mirrorKeys config allows only these. */
export const ACCEPTED_KEY_TYPES: readonly string[] = [
  "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
];

/** Host key types mirrorstack pins in known_hosts files (security-key types exist for users only). */
export const HOST_KEY_TYPES: readonly string[] = ACCEPTED_KEY_TYPES.filter((t) => !t.startsWith("sk-"));

const CERT = "-cert-v01@openssh.com";

/** The certificate type of a plain type: ssh-rsa-cert-v01@openssh.com, sk-ssh-ed25519-cert-v01@openssh.com. */
function certType(plain: string): string {
  return plain.replace(/@openssh\.com$/, "") + CERT;
}

/** The plain type behind a type as written (a certificate's key type; a plain type as is). */
export function plainKeyType(type: string): string {
  if (!type.endsWith(CERT)) return type;
  const base = type.slice(0, -CERT.length);
  return base.startsWith("sk-") ? `${base}@openssh.com` : base;
}

/** True for a key or certificate type OpenSSH writes in authorized_keys, known_hosts and .pub files. */
export function isKeyType(word: string): boolean {
  return KEY_TYPES.includes(word) || KEY_TYPES.some((t) => certType(t) === word);
}

// ---------------------------------------------------------------------------------------------------------------
// authorized_keys options, by sshd(8)'s AUTHORIZED_KEYS FILE FORMAT: comma-separated; a double-quoted value may hold
// commas and spaces; inside it \" is a quote, and any other backslash is itself. The options field ends at the first
// space or tab outside quotes (sshd's sshkey_advance_past_options: a \" never opens or closes a quote).

/**
 * Splits `text` at any of `separators` outside double quotes, keeping quotes and \" escapes in the pieces and
 * dropping empty pieces. sshd's rule; the review reads exports(5) lines with it too.
 */
export function splitUnquoted(text: string, separators: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\" && text[i + 1] === '"') {
      cur += '\\"';
      i++;
    } else if (separators.includes(c) && !quoted) {
      if (cur !== "") out.push(cur);
      cur = "";
    } else {
      if (c === '"') quoted = !quoted;
      cur += c;
    }
  }
  if (cur !== "") out.push(cur);
  return out;
}

/** The options of an options field, each as written (e.g. restrict, from="10.0.0.5", command="..."). */
export function splitOptions(field: string): string[] {
  return splitUnquoted(field, ",");
}

/** One option as sshd reads it: the name in lower case, the value without its quotes and with \" unescaped. */
export function parseOption(option: string): { name: string; value?: string } {
  const eq = option.indexOf("=");
  if (eq < 0) return { name: option.toLowerCase() };
  const raw = option.slice(eq + 1);
  const m = /^"(.*)"$/s.exec(raw);
  return { name: option.slice(0, eq).toLowerCase(), value: m ? m[1]!.replace(/\\"/g, '"') : raw };
}

/** Splits a line into words at spaces and tabs outside double quotes (the options field is the first word). */
export function keyLineWords(line: string): string[] {
  return splitUnquoted(line, " \t");
}

/** One parsed authorized_keys (or .pub) line. */
export interface ParsedKeyLine {
  /** Options in front of the key, each as written. */
  readonly options: string[];
  /** The options field as written ("" when there is none). */
  readonly optionsField: string;
  /** Key type as written (ssh-ed25519, ssh-rsa-cert-v01@openssh.com, ...). */
  readonly type: string;
  /** The base64 key blob. */
  readonly blob: string;
  readonly comment: string;
}

/**
 * Parses one authorized_keys line as sshd does: a key at the start, else an options field and then the key.
 * Null for blank lines and comments; an error for a line that holds no key there.
 */
export function parseKeyLine(text: string): ParsedKeyLine | { error: string } | null {
  const line = text.trim();
  if (line === "" || line.startsWith("#")) return null;
  let rest = line;
  let optionsField = "";
  if (!isKeyType(/^\S+/.exec(rest)![0])) {
    optionsField = keyLineWords(rest)[0]!;
    rest = rest.slice(optionsField.length).trim();
  }
  const m = /^(\S+)\s+([A-Za-z0-9+/=]+)(?:\s+(.*))?$/.exec(rest);
  if (!m || !isKeyType(m[1]!)) return { error: `not a key line: ${line.length > 60 ? line.slice(0, 60) + "..." : line}` };
  return { options: splitOptions(optionsField), optionsField, type: m[1]!, blob: m[2]!, comment: (m[3] ?? "").trim() };
}

// ---------------------------------------------------------------------------------------------------------------
// Key size, read from the SSH wire-format blob

/** Reads SSH wire-format strings from a buffer. */
export class WireReader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer {
    const n = this.uint32();
    if (this.off + n > this.buf.length) throw new Error("truncated key");
    const s = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return s;
  }
  uint32(): number {
    if (this.off + 4 > this.buf.length) throw new Error("truncated key");
    const n = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return n;
  }
}

function mpintBits(b: Buffer): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return 0;
  return (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]!));
}

/**
 * Type (as in the blob) and size of a public key blob: RSA modulus bits, DSA p bits, the ECDSA curve, 256 for
 * Ed25519, 456 for Ed448; certificates by their key. Throws on a truncated blob or an unknown type.
 */
export function readKeyBlob(blob: Buffer): { type: string; bits: number } {
  const r = new WireReader(blob);
  const type = r.string().toString("latin1");
  const plain = plainKeyType(type);
  if (plain !== type) r.string(); // certificates: a nonce comes first
  if (plain === "ssh-rsa") {
    r.string(); // e
    return { type, bits: mpintBits(r.string()) };
  }
  if (plain === "ssh-dss") return { type, bits: mpintBits(r.string()) }; // p
  const curve = /nistp(256|384|521)/.exec(plain);
  if (curve) return { type, bits: Number(curve[1]) };
  if (plain === "ssh-ed25519" || plain === "sk-ssh-ed25519@openssh.com") return { type, bits: 256 };
  if (plain === "ssh-ed448") return { type, bits: 456 };
  throw new Error(`unknown key type ${type}`);
}

/** Size of the key on a line of type `type`; throws when the blob is unreadable or of another type. */
export function keyBits(type: string, blob: string): number {
  const k = readKeyBlob(Buffer.from(blob, "base64"));
  if (k.type !== type) throw new Error(`key blob says ${k.type}, the line says ${type}`);
  return k.bits;
}

// ---------------------------------------------------------------------------------------------------------------
// Key strength: the one rule `mirrorctl keys` and the ssh-key-strength policy apply (each words its own message)

export const MIN_RSA_BITS = 3072;

export type KeyWeakness = { readonly kind: "dsa" } | { readonly kind: "rsa"; readonly bits: number; readonly min: number };

/** Why a key is weak: DSA always; RSA under `minRsaBits` when its size is known. Undefined: acceptable. */
export function keyWeakness(type: string, bits: number | null | undefined, minRsaBits = MIN_RSA_BITS): KeyWeakness | undefined {
  const plain = plainKeyType(type);
  if (plain === "ssh-dss") return { kind: "dsa" };
  if (plain === "ssh-rsa" && typeof bits === "number" && bits < minRsaBits) return { kind: "rsa", bits, min: minRsaBits };
  return undefined;
}
