// SSH key facts the policy needs (type and size), read from public key lines, authorized_keys / known_hosts
// lines and the public half of private key files. Never returns or prints key material. Pure.

import { createPrivateKey } from "node:crypto";

export interface KeyInfo {
  /** ssh-rsa, ssh-dss, ssh-ed25519, ecdsa-sha2-nistp256, ... */
  readonly type: string;
  /** Modulus bits for RSA, curve size for ECDSA, 256 for Ed25519, 1024 for DSA; undefined when unreadable. */
  readonly bits?: number;
}

const KEY_TYPE_RE = /^(ssh-(rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com|ssh-(rsa|dss|ed25519)-cert-v01@openssh\.com|ecdsa-sha2-nistp(256|384|521)-cert-v01@openssh\.com)$/;

export function isKeyType(word: string): boolean {
  return KEY_TYPE_RE.test(word);
}

/** Reads SSH wire-format strings from a buffer. */
class Reader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer {
    if (this.off + 4 > this.buf.length) throw new Error("short key blob");
    const n = this.buf.readUInt32BE(this.off);
    this.off += 4;
    if (this.off + n > this.buf.length) throw new Error("short key blob");
    const s = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return s;
  }
  uint32(): number {
    if (this.off + 4 > this.buf.length) throw new Error("short key blob");
    const n = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return n;
  }
}

function bitLength(mpint: Buffer): number {
  let i = 0;
  while (i < mpint.length && mpint[i] === 0) i++;
  if (i === mpint.length) return 0;
  return (mpint.length - i - 1) * 8 + (32 - Math.clz32(mpint[i]!));
}

/** Type and size from an SSH public key blob (the base64 part of a key line, decoded). */
export function keyInfoFromBlob(blob: Buffer): KeyInfo {
  const r = new Reader(blob);
  const type = r.string().toString("latin1");
  const base = type.replace(/-cert-v01@openssh\.com$/, "");
  try {
    if (type.endsWith("-cert-v01@openssh.com")) r.string(); // nonce
    if (base === "ssh-rsa") {
      r.string(); // e
      return { type: base, bits: bitLength(r.string()) };
    }
    if (base === "ssh-dss") {
      return { type: base, bits: bitLength(r.string()) }; // p
    }
    if (base.startsWith("ecdsa-sha2-nistp")) return { type: base, bits: Number(base.slice("ecdsa-sha2-nistp".length)) };
    if (base === "ssh-ed25519" || base.startsWith("sk-ssh-ed25519")) return { type: base, bits: 256 };
    if (base.startsWith("sk-ecdsa")) return { type: base, bits: 256 };
  } catch {
    return { type: base };
  }
  return { type: base };
}

/** A key found in a line of text: the 1-based line, the key, and the words before it. */
export interface KeyLine {
  readonly line: number;
  readonly key: KeyInfo;
  /** Words before the key type: authorized_keys options, or known_hosts markers and host names. */
  readonly before: readonly string[];
}

/** Splits a line into words, keeping double-quoted parts (with \" escapes) inside their word. */
export function shellishWords(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === "\\" && line[i + 1] === '"') {
        cur += '\\"';
        i++;
      } else {
        if (c === '"') quoted = false;
        cur += c;
      }
    } else if (c === '"') {
      quoted = true;
      cur += c;
    } else if (c === " " || c === "\t") {
      if (cur !== "") words.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  if (cur !== "") words.push(cur);
  return words;
}

/** Every SSH public key written in a text (authorized_keys, known_hosts or .pub), with its line. */
export function keysInText(text: string): KeyLine[] {
  const out: KeyLine[] = [];
  text.split("\n").forEach((raw, idx) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const words = shellishWords(line);
    const at = words.findIndex((w) => isKeyType(w));
    if (at < 0 || at + 1 >= words.length) return;
    let key: KeyInfo = { type: words[at]!.replace(/-cert-v01@openssh\.com$/, "") };
    try {
      const blob = Buffer.from(words[at + 1]!, "base64");
      if (blob.length > 0) key = keyInfoFromBlob(blob);
    } catch {
      /* keep the type from the line */
    }
    out.push({ line: idx + 1, key, before: words.slice(0, at) });
  });
  return out;
}

/** Type and size of a private key file's public half, without decrypting it; undefined when unknown. */
export function keyInfoFromPrivateKey(text: string): KeyInfo | undefined {
  const openssh = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (openssh) {
    try {
      const buf = Buffer.from(openssh[1]!.replace(/\s+/g, ""), "base64");
      const magic = "openssh-key-v1\0";
      if (buf.subarray(0, magic.length).toString("latin1") !== magic) return undefined;
      const r = new Reader(buf.subarray(magic.length));
      r.string(); // cipher
      r.string(); // kdf
      r.string(); // kdf options
      if (r.uint32() < 1) return undefined;
      return keyInfoFromBlob(r.string());
    } catch {
      return undefined;
    }
  }
  if (/-----BEGIN DSA PRIVATE KEY-----/.test(text)) return { type: "ssh-dss" };
  if (/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(text)) {
    try {
      const k = createPrivateKey(text);
      const d = k.asymmetricKeyDetails;
      if (k.asymmetricKeyType === "rsa") return { type: "ssh-rsa", ...(d?.modulusLength ? { bits: d.modulusLength } : {}) };
      if (k.asymmetricKeyType === "dsa") return { type: "ssh-dss", ...(d?.modulusLength ? { bits: d.modulusLength } : {}) };
      if (k.asymmetricKeyType === "ed25519") return { type: "ssh-ed25519", bits: 256 };
      if (k.asymmetricKeyType === "ec") return { type: "ecdsa", ...(d?.namedCurve ? { bits: Number(/(\d+)/.exec(d.namedCurve)?.[1] ?? 0) || undefined } : {}) } as KeyInfo;
    } catch {
      return undefined; // encrypted or unreadable: not judged
    }
  }
  return undefined;
}

/** Why a key is too weak, or undefined when it is acceptable (DSA: never; RSA: at least `minRsaBits`). */
export function weakKeyReason(k: KeyInfo, minRsaBits = 3072): string | undefined {
  if (k.type === "ssh-dss") return "is a DSA key (ssh-dss), which OpenSSH no longer accepts and which is limited to 1024 bits";
  if (k.type === "ssh-rsa") {
    if (k.bits === undefined) return undefined;
    if (k.bits < minRsaBits) return `is a ${k.bits}-bit RSA key; at least ${minRsaBits} bits are required`;
  }
  return undefined;
}
