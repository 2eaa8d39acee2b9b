// Small pure value checks. Each returns undefined when the value is fine, or a message (without the key path)
// saying what is wrong and what is allowed. Values checked here end up inside config files, fstab, cron lines
// and shell scripts, so they are kept to character sets that cannot break out of their place.

import { isIP } from "node:net";
import { posix } from "node:path";
import { ACCEPTED_KEY_TYPES } from "../ssh/keys";

/** Quotes a value for an error message (newlines and quotes stay visible). */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

const UNSAFE: readonly [RegExp, string][] = [
  [/[\n\r]/, "a newline"],
  // eslint-disable-next-line no-control-regex
  [/[\x00-\x08\x0b-\x1f\x7f]/, "a control character"],
  [/\$\(/, "$("],
  [/`/, "a backtick"],
  [/'/, "a quote (')"],
  [/"/, 'a quote (")'],
  [/\\/, "a backslash"],
  [/;/, "a semicolon"],
  [/#/, "a #"],
  [/\$/, "a $"],
  [/\s/, "whitespace"],
];

/** Names the first character class that must not appear in a value that lands in a file or a shell command. */
export function unsafeCharacter(value: string): string | undefined {
  for (const [re, what] of UNSAFE) if (re.test(value)) return what;
  return undefined;
}

function charsetMessage(value: string, allowed: string): string {
  const bad = unsafeCharacter(value);
  return bad ? `${show(value)} contains ${bad}; allowed: ${allowed}` : `${show(value)} is not valid here; allowed: ${allowed}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Hosts and addresses

export const HOST_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function checkHostName(v: string): string | undefined {
  if (HOST_NAME_RE.test(v) && !v.endsWith("-")) return undefined;
  return charsetMessage(v, "lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters");
}

const DNS_LABEL_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** A DNS host name (RFC 1123, the last label not all-numeric so that 10.0.0.300 is not taken for a name). */
export function isDnsName(v: string): boolean {
  if (v.length === 0 || v.length > 253) return false;
  const name = v.endsWith(".") ? v.slice(0, -1) : v;
  const labels = name.split(".");
  if (!labels.every((l) => DNS_LABEL_RE.test(l))) return false;
  return !/^[0-9]+$/.test(labels[labels.length - 1] ?? "");
}

export function isIpAddress(v: string): boolean {
  return isIP(v) !== 0;
}

export function checkAddress(v: string): string | undefined {
  if (isIpAddress(v) || isDnsName(v)) return undefined;
  const bad = unsafeCharacter(v);
  return bad
    ? `${show(v)} contains ${bad}; expected an IPv4/IPv6 address or a DNS host name`
    : `${show(v)} is not an IP address or host name`;
}

/**
 * One spelling per address, for comparing: an IPv6 address compressed and lower-case (the URL standard's form),
 * an IPv4-mapped IPv6 address as its IPv4 address, a DNS name lower-case without its final dot.
 */
export function canonicalAddress(v: string): string {
  const fam = isIP(v);
  if (fam === 4) return v;
  if (fam === 6 && !v.includes("%")) {
    const h = new URL(`http://[${v}]/`).hostname.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
    if (!mapped) return h;
    const n = (parseInt(mapped[1]!, 16) << 16) + parseInt(mapped[2]!, 16);
    return [24, 16, 8, 0].map((sh) => (n >>> sh) & 255).join(".");
  }
  return v.toLowerCase().replace(/\.$/, "");
}

/**
 * A host's address (what SSH, replication and file sync connect to): checkAddress, and an address that names one
 * remote host: not unspecified (0.0.0.0, ::), loopback, broadcast, nor an IPv6 link-local zone (`%eth0`), which
 * the MariaDB grants and rsync/NFS host:path forms cannot carry.
 */
export function checkHostAddress(v: string): string | undefined {
  const err = checkAddress(v);
  if (err) return err;
  if (isIP(v) === 6 && v.includes("%")) return `${show(v)} has an IPv6 zone index; give a global or unique-local address`;
  const c = canonicalAddress(v);
  if (c === "0.0.0.0" || c === "::") return `${show(v)} is the unspecified address, not a host`;
  if (c === "255.255.255.255") return `${show(v)} is the broadcast address, not a host`;
  if (c.startsWith("127.") || c === "::1" || c === "localhost") return `${show(v)} is this machine's loopback, not a remote host`;
  return undefined;
}

/** An address as it appears in `host:path` (rsync, NFS): IPv6 in brackets. */
export function addressForHostPath(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

// NFS export clients: address, CIDR, host name, or (with allowWildcard) a pattern like `*` or `*.example.org`.
export type ClientKind = "ip" | "cidr" | "name" | "wildcard";

export function classifyClient(v: string): ClientKind | undefined {
  if (isIpAddress(v)) return "ip";
  const slash = v.indexOf("/");
  if (slash > 0) {
    const ip = v.slice(0, slash);
    const bits = v.slice(slash + 1);
    const fam = isIP(ip);
    if (fam !== 0 && /^[0-9]{1,3}$/.test(bits)) {
      const n = Number(bits);
      if (n >= 0 && n <= (fam === 4 ? 32 : 128)) return "cidr";
    }
    return undefined;
  }
  if (isDnsName(v)) return "name";
  if (/^[A-Za-z0-9*?.-]+$/.test(v) && /[*?]/.test(v)) return "wildcard";
  return undefined;
}

export function checkClient(v: string): string | undefined {
  if (classifyClient(v)) return undefined;
  const bad = unsafeCharacter(v);
  return bad
    ? `${show(v)} contains ${bad}; expected an IP address, a CIDR network (192.0.2.0/24), a host name or a wildcard`
    : `${show(v)} is not an IP address, CIDR network, host name or wildcard pattern`;
}

// ---------------------------------------------------------------------------------------------------------------
// Paths

const PATH_CHARS_RE = /^[A-Za-z0-9._/+@-]+$/;
const PATH_CHARS = "letters, digits and . _ / + @ -";

/** Names with single spaces inside them ("my photos"): what `spaces` allows (a mirrored tree's name). */
const SPACED_PATH_RE = /^(\/[A-Za-z0-9._+@-]+( [A-Za-z0-9._+@-]+)*)+$/;

/**
 * An absolute, normalized path without `..`, trailing slash, or characters that need quoting. With `spaces`, a
 * component may hold single spaces between other characters (validate-rsync takes them as a client escapes them).
 */
export function checkAbsolutePath(v: string, opts: { allowRoot?: boolean; spaces?: boolean } = {}): string | undefined {
  if (v.length === 0) return "must not be empty; expected an absolute path like /srv/www";
  if (!v.startsWith("/")) return `${show(v)} is not an absolute path (must start with /)`;
  if (v.split("/").includes("..")) return `${show(v)} must not contain '..'`;
  if (opts.spaces && !PATH_CHARS_RE.test(v) && PATH_CHARS_RE.test(v.replace(/ /g, "")) && !SPACED_PATH_RE.test(v)) {
    return `${show(v)}: a space may only stand alone inside a name (none at the start or end of a name, none doubled)`;
  }
  if (!PATH_CHARS_RE.test(v) && !(opts.spaces && SPACED_PATH_RE.test(v))) {
    return charsetMessage(v, opts.spaces ? `${PATH_CHARS}, and single spaces inside a name` : PATH_CHARS);
  }
  if (v === "/") return opts.allowRoot ? undefined : `"/" is not allowed here; name a directory below /`;
  if (v.endsWith("/")) return `${show(v)} must not end with '/' (write ${show(v.replace(/\/+$/, "") || "/")})`;
  if (posix.normalize(v) !== v) return `${show(v)} is not normalized (write ${show(posix.normalize(v))})`;
  if (v.length > 1024) return `${show(v.slice(0, 40))}... is longer than 1024 characters`;
  return undefined;
}

/** True when `child` is `parent` or lies below it. */
export function isWithin(child: string, parent: string): boolean {
  if (parent === "/") return true;
  return child === parent || child.startsWith(parent + "/");
}

// Directories that mirrorstack must never mirror into (a mirror runs `rsync --delete` as root into each tree).
const SYSTEM_DIRS = [
  "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
  "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local",
  "/usr/sbin", "/usr/share", "/var", "/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/tmp",
];
const SYSTEM_TREES = [
  "/proc", "/sys", "/dev", "/run", "/etc", "/boot", "/root", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
  "/usr/bin", "/usr/sbin", "/usr/lib", "/var/lib/mysql", "/var/lib/mirrorstack", "/var/log/mysql",
  "/var/lib/nfs", "/var/spool/cron",
];

/** Refuses system directories as mirrored trees. */
export function checkTreePath(v: string): string | undefined {
  if (v === "/") return `"/" cannot be mirrored; name the directory to mirror, e.g. /srv/www`;
  if (SYSTEM_DIRS.includes(v)) return `${show(v)} is a system directory and cannot be mirrored; name a directory below it`;
  const inside = SYSTEM_TREES.find((t) => isWithin(v, t));
  if (inside) return `${show(v)} lies in ${inside}, which mirrorstack never mirrors`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Names

export const UNIX_USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

export function checkUnixName(v: string): string | undefined {
  if (UNIX_USER_RE.test(v)) return undefined;
  return charsetMessage(v, "a user/group name: lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32 characters");
}

export function checkOwner(v: string): string | undefined {
  if (/^[0-9]{1,10}$/.test(v) && Number(v) <= 4294967294) return undefined;
  if (UNIX_USER_RE.test(v)) return undefined;
  return charsetMessage(v, "a user/group name (lowercase letters, digits, '_', '-') or a numeric id");
}

export const DB_NAME_RE = /^[A-Za-z0-9_]{1,64}$/;
const SYSTEM_DATABASES = ["mysql", "information_schema", "performance_schema", "sys"];

export function checkDatabaseName(v: string): string | undefined {
  if (!DB_NAME_RE.test(v)) return charsetMessage(v, "letters, digits and '_', 1 to 64 characters");
  if (SYSTEM_DATABASES.includes(v.toLowerCase())) return `${show(v)} is a system database and cannot be replicated`;
  return undefined;
}

export function checkSqlUser(v: string): string | undefined {
  if (!/^[A-Za-z0-9_]{1,32}$/.test(v)) return charsetMessage(v, "letters, digits and '_', 1 to 32 characters");
  if (v.toLowerCase() === "root") return `"root" cannot be the replication user`;
  return undefined;
}

export function checkDomain(v: string): string | undefined {
  if (isDnsName(v) || /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/.test(v)) return undefined;
  return charsetMessage(v, "a DNS domain like example.org (letters, digits, '-' and '.')");
}

/** A command line for a root job: an absolute program path, then plain words (no quotes or shell syntax). */
export function checkVendorCommand(v: string): string | undefined {
  if (!/^\/[A-Za-z0-9._/+-]+( [A-Za-z0-9._/+:=,@%-]+)*$/.test(v)) {
    return `${show(v)} must be an absolute program path followed by plain words (letters, digits and . _ / + : = , @ % -), one space apart`;
  }
  return v.length > 512 ? `${show(v.slice(0, 40))}... is longer than 512 characters` : undefined;
}

/** A mail address for sendmail's command line: local@domain, nothing a shell or sendmail would read as an option. */
export function checkMailAddress(v: string): string | undefined {
  const m = /^([A-Za-z0-9._%+-]+)@(.+)$/.exec(v);
  if (!m || m[1]!.startsWith("-") || !isDnsName(m[2]!)) return `${show(v)} is not a mail address like ops@example.org`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Cron

const CRON_FIELDS: readonly [string, number, number][] = [
  ["minute", 0, 59],
  ["hour", 0, 23],
  ["day of month", 1, 31],
  ["month", 1, 12],
  ["day of week", 0, 7],
];

function checkCronField(field: string, name: string, lo: number, hi: number): string | undefined {
  for (const part of field.split(",")) {
    const m = /^(\*|([0-9]+)(?:-([0-9]+))?)(?:\/([0-9]+))?$/.exec(part);
    if (!m) return `${name} field ${show(field)} is not *, a number, a range a-b, a list, or a step /n`;
    const [, , a, b, step] = m;
    for (const n of [a, b]) {
      if (n !== undefined && (Number(n) < lo || Number(n) > hi)) return `${name} ${n} is outside ${lo}-${hi}`;
    }
    if (a !== undefined && b !== undefined && Number(a) > Number(b)) return `${name} range ${a}-${b} is backwards`;
    if (step !== undefined && (Number(step) < 1 || Number(step) > hi)) return `${name} step /${step} is outside 1-${hi}`;
  }
  return undefined;
}

/** A 5-field cron expression with digits, `*`, `,`, `-` and `/` only (fields separated by single spaces). */
export function checkCron(v: string): string | undefined {
  const fields = v.trim().split(/[ \t]+/);
  if (/[^0-9*,/ \t-]/.test(v) || fields.length !== 5) {
    return `${show(v)} is not a 5-field cron expression (minute hour day-of-month month day-of-week, using digits * , - / only)`;
  }
  for (let i = 0; i < 5; i++) {
    const [name, lo, hi] = CRON_FIELDS[i]!;
    const err = checkCronField(fields[i]!, name, lo, hi);
    if (err) return `${show(v)}: ${err}`;
  }
  // cron runs a job when day of month OR day of week matches, unless one of them is `*`: with day of week `*`,
  // a day of month that no listed month has (30 February, 31 April) means the job never runs.
  if (fields[4] === "*" && fields[2] !== "*") {
    const days = cronValues(fields[2]!, 1, 31);
    const months = cronValues(fields[3]!, 1, 12);
    const longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if (![...months].some((m) => [...days].some((d) => d <= longest[m - 1]!))) {
      return `${show(v)} never runs: no month it lists has day ${[...days].join(",")}`;
    }
  }
  return undefined;
}

/** The values a valid cron field stands for. */
function cronValues(field: string, lo: number, hi: number): Set<number> {
  const out = new Set<number>();
  for (const part of field.split(",")) {
    const [range, step] = part.split("/");
    const [a, b] = range === "*" ? [lo, hi] : range!.split("-").map(Number);
    const end = b ?? (step === undefined ? a! : hi);
    for (let n = a!; n <= end; n += Number(step ?? 1)) out.add(n);
  }
  return out;
}

export function normalizeCron(v: string): string {
  return v.trim().split(/[ \t]+/).join(" ");
}

// ---------------------------------------------------------------------------------------------------------------
// rsync and mount options

// The options `files.rsyncOptions` may hold. Each must give a pull that validate-rsync lets through; a test in
// test/validate-rsync.test.ts captures every one from the real rsync client and runs it through the script.
export const RSYNC_SHORT_LETTERS = "azHAXchviS";
export const RSYNC_LONG_FLAGS = [
  "--archive", "--compress", "--delete", "--delete-delay", "--delete-after", "--delete-during", "--delete-excluded",
  "--partial", "--numeric-ids", "--hard-links", "--acls", "--xattrs", "--checksum", "--sparse", "--times",
  "--omit-dir-times", "--stats", "--itemize-changes", "--human-readable", "--verbose", "--safe-links",
  "--one-file-system", "--prune-empty-dirs", "--delay-updates",
];
export const RSYNC_LONG_NUMERIC = ["--bwlimit", "--timeout", "--max-delete", "--compress-level", "--max-size", "--min-size"];

export const RSYNC_ALLOWED_DESCRIPTION =
  `short clusters of -${RSYNC_SHORT_LETTERS}, ${RSYNC_LONG_FLAGS.join(" ")}, and ` +
  `${RSYNC_LONG_NUMERIC.map((o) => `${o}=N`).join(" ")}`;

export function checkRsyncOption(v: string): string | undefined {
  if (/^-[A-Za-z]+$/.test(v)) {
    const bad = [...v.slice(1)].filter((c) => !RSYNC_SHORT_LETTERS.includes(c));
    if (bad.length === 0) return undefined;
    return `${show(v)} uses -${bad.join("")}, which is not allowed; allowed: ${RSYNC_ALLOWED_DESCRIPTION}`;
  }
  if (RSYNC_LONG_FLAGS.includes(v)) return undefined;
  const m = /^(--[a-z-]+)=([0-9]+[KMGkmg]?)$/.exec(v);
  if (m && RSYNC_LONG_NUMERIC.includes(m[1]!)) return undefined;
  const bad = unsafeCharacter(v);
  return bad
    ? `${show(v)} contains ${bad}; allowed: ${RSYNC_ALLOWED_DESCRIPTION}`
    : `${show(v)} is not an allowed rsync option; allowed: ${RSYNC_ALLOWED_DESCRIPTION}`;
}

/**
 * Checks of the option list as a whole, each a pull the rsync client would refuse or run to no effect: no
 * recursion (only -a gives it here: the pull then copies nothing from a tree, and rsync refuses --delete), or two
 * --delete-WHEN options (rsync refuses to start).
 */
export function checkRsyncOptionList(opts: readonly string[]): string | undefined {
  const recursive = opts.some((o) => o === "--archive" || (/^-[A-Za-z]+$/.test(o) && o.includes("a")));
  if (!recursive) return `${show(opts.join(" "))} has no -a (--archive): without it the pull copies nothing from a tree (and rsync refuses --delete)`;
  const when = [...new Set(opts.filter((o) => o === "--delete-delay" || o === "--delete-after" || o === "--delete-during"))];
  if (when.length > 1) return `${show(opts.join(" "))} combines ${when.join(" and ")}: rsync takes one --delete-WHEN option and would refuse every pull`;
  return undefined;
}

/** rsync refuses a filter rule longer than its path limit (MAXPATHLEN, 4096 bytes with the rule's prefix). */
export const EXCLUDE_PATTERN_MAX = 1024;

export function checkExcludePattern(v: string): string | undefined {
  if (v.length > EXCLUDE_PATTERN_MAX) return `an exclude pattern of ${v.length} characters is too long (at most ${EXCLUDE_PATTERN_MAX})`;
  if (/^[A-Za-z0-9._*?/][A-Za-z0-9._*?/-]*$/.test(v) && !v.split("/").includes("..")) return undefined;
  return charsetMessage(v, "letters, digits and . _ * ? / - (not starting with '-', no '..')");
}

export function checkMountOption(v: string): string | undefined {
  if (/^[a-z0-9_][a-z0-9_.=-]*$/.test(v)) return undefined;
  return charsetMessage(v, "lowercase letters, digits and _ . = - (one option per list item, e.g. noatime or vers=4.2)");
}

export function checkDevice(v: string): string | undefined {
  if (/^UUID=[0-9A-Fa-f-]{4,64}$/.test(v)) return undefined;
  if (/^PARTUUID=[0-9A-Fa-f-]{4,64}$/.test(v)) return undefined;
  if (/^(LABEL|PARTLABEL)=[A-Za-z0-9._-]{1,64}$/.test(v)) return undefined;
  if (v.startsWith("/dev/")) {
    const err = checkAbsolutePath(v);
    return err ? `device ${err}` : undefined;
  }
  const bad = unsafeCharacter(v);
  return `${show(v)}${bad ? ` contains ${bad} and` : ""} is not UUID=..., PARTUUID=..., LABEL=..., PARTLABEL=... or a /dev/ path`;
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets

/** What `readStackFile` puts in place of an encrypted value (the render CLI never decrypts). */
export const SECRET_PLACEHOLDER = "[secret]";

export function checkSecretText(v: string, what: string, minLength: number, maxLength = 256): string | undefined {
  if (v === SECRET_PLACEHOLDER) return undefined;
  // Do not echo secret values in messages.
  if (/[\n\r]/.test(v)) return `${what} must be a single line`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(v)) return `${what} must not contain control characters`;
  if (/[\s'"`\\$]/.test(v)) return `${what} must not contain whitespace, quotes, backticks, backslashes or $`;
  if (v.length < minLength) return `${what} must be at least ${minLength} characters long`;
  if (v.length > maxLength) return `${what} must be at most ${maxLength} characters long`;
  return undefined;
}

// OpenSSH public keys (one line: type, base64 blob, optional comment), of a type current OpenSSH accepts.
export function checkPublicKey(v: string): string | undefined {
  const parts = v.trim().split(/ +/);
  if (/[\n\r]/.test(v.trim())) return "must be a single line";
  if (parts.length < 2 || parts.length > 3) return "expected '<type> <base64> [comment]'";
  const [type, blob, comment] = parts as [string, string, string | undefined];
  if (!ACCEPTED_KEY_TYPES.includes(type)) return `key type ${show(type)} is not one of ${ACCEPTED_KEY_TYPES.join(", ")}`;
  if (!/^[A-Za-z0-9+/]+={0,3}$/.test(blob)) return "the key blob is not base64";
  if (comment !== undefined && !/^[A-Za-z0-9._@:+-]+$/.test(comment)) {
    return "the key comment may only hold letters, digits and . _ @ : + -";
  }
  return undefined;
}
