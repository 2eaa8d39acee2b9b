// SSH key facts the policy needs (type and size), read from public key lines, authorized_keys / known_hosts
// lines and the public half of private key files. Never returns or prints key material. Pure.

import { createPrivateKey } from "node:crypto";
import { isKeyType, keyBits, keyLineWords, keyWeakness, MIN_RSA_BITS, parseKeyLine, plainKeyType, readKeyBlob, WireReader } from "../ssh/keys";

export interface KeyInfo {
  /** ssh-rsa, ssh-dss, ssh-ed25519, ecdsa-sha2-nistp256, ... */
  readonly type: string;
  /** Modulus bits for RSA, curve size for ECDSA, 256 for Ed25519, 1024 for DSA; undefined when unreadable. */
  readonly bits?: number;
}

/** Type (plain: a certificate by its key) and size from an SSH public key blob (the base64 part, decoded). */
export function keyInfoFromBlob(blob: Buffer): KeyInfo {
  const type = plainKeyType(new WireReader(blob).string().toString("latin1"));
  try {
    return { type, bits: readKeyBlob(blob).bits };
  } catch {
    return { type };
  }
}

/** A key found in a line of text: the 1-based line, the key, and the words before it. */
export interface KeyLine {
  readonly line: number;
  readonly key: KeyInfo;
  /** Words before the key type: the authorized_keys options field, or known_hosts markers and host names. */
  readonly before: readonly string[];
}

/**
 * Every SSH public key written in a text, with its line: authorized_keys and .pub lines as sshd reads them
 * (ssh/keys.ts, as `mirrorctl keys` does); known_hosts lines by the first key type after markers and host names.
 */
export function keysInText(text: string): KeyLine[] {
  const out: KeyLine[] = [];
  text.split("\n").forEach((raw, idx) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    let type: string;
    let blob: string;
    let before: string[];
    const p = parseKeyLine(line);
    if (p && !("error" in p)) {
      [type, blob, before] = [p.type, p.blob, p.optionsField === "" ? [] : [p.optionsField]];
    } else {
      const words = keyLineWords(line);
      const at = words.findIndex((w) => isKeyType(w));
      if (at < 0 || at + 1 >= words.length) return;
      [type, blob, before] = [words[at]!, words[at + 1]!, words.slice(0, at)];
    }
    let bits: number | undefined;
    try {
      bits = keyBits(type, blob);
    } catch {
      /* unreadable, or of another type than the line says: judged by the line's type only */
    }
    out.push({ line: idx + 1, key: { type: plainKeyType(type), ...(bits !== undefined ? { bits } : {}) }, before });
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
      const r = new WireReader(buf.subarray(magic.length));
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

/** Why a key is too weak, or undefined when it is acceptable (ssh/keys.ts keyWeakness: DSA never, RSA from `minRsaBits`). */
export function weakKeyReason(k: KeyInfo, minRsaBits = MIN_RSA_BITS): string | undefined {
  const weak = keyWeakness(k.type, k.bits, minRsaBits);
  if (weak?.kind === "dsa") return "is a DSA key (ssh-dss), which OpenSSH no longer accepts and which is limited to 1024 bits";
  if (weak?.kind === "rsa") return `is a ${weak.bits}-bit RSA key; at least ${weak.min} bits are required`;
  return undefined;
}
