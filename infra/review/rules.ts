// mirrorstack's policy rules, as pure functions over resource inputs. The same functions run
//  * inside the @pulumi/policy pack (policy/), on the inputs the engine sends during preview and up, and
//  * inside `npm run review`, on the inputs that `pulumi preview --json --show-sames` printed.
// Each violation names the host and the stack config key to change (or the override to set). Messages never
// quote file contents or secret values: paths, option names, key types and sizes only.

import type { PolicyContext } from "./context";
import { parseOption, splitOptions as splitOptionField, splitUnquoted } from "../ssh/keys";
import { keyInfoFromPrivateKey, keysInText, weakKeyReason, type KeyInfo } from "./keys";
import { hasUnknown, isSecretValue, kindOf, type PolicyResource } from "./preview";

export interface Violation {
  /** Rule name (the policy's name in the pack). */
  readonly policy: string;
  /** Host the problem is on ("" when it is not about one host). */
  readonly host: string;
  /** Stack config key to look at (`database.binlogFormat`, `nfs.exports[0].access`, ...). */
  readonly key: string;
  readonly message: string;
  /** Resource the violation is about. */
  readonly urn: string;
}

export interface Rule {
  readonly name: string;
  readonly description: string;
  check(resources: readonly PolicyResource[], ctx: PolicyContext): Violation[];
}

// ---------------------------------------------------------------------------------------------- helpers

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" && !hasUnknown(v) && !isSecretValue(v) ? v : undefined;
}

/** Reports one violation: the resource, the host, the stack config key and the message. */
type Report = (urn: string, host: string, key: string, message: string) => void;

/** A rule whose `find` reports each violation it sees. */
function rule(name: string, description: string, find: (resources: readonly PolicyResource[], ctx: PolicyContext, report: Report) => void): Rule {
  return {
    name,
    description,
    check(resources, ctx) {
      const out: Violation[] = [];
      find(resources, ctx, (urn, host, key, message) => out.push({ policy: name, host, key, message, urn }));
      return out;
    },
  };
}

function targetHost(r: PolicyResource): string {
  const t = r.props.target as { host?: unknown } | undefined;
  return (t && typeof t.host === "string" ? t.host : undefined) ?? r.name;
}

function files(resources: readonly PolicyResource[]): PolicyResource[] {
  return resources.filter((r) => kindOf(r.type) === "HostFile");
}

function replications(resources: readonly PolicyResource[]): PolicyResource[] {
  return resources.filter((r) => kindOf(r.type) === "MirrorReplication");
}

/** Known, non-secret text content of a HostFile; undefined when secret or known only during `up`. */
function knownContent(r: PolicyResource): string | undefined {
  if (r.secretKeys.has("content")) return undefined;
  return typeof r.props.content === "string" && !hasUnknown(r.props.content) && !isSecretValue(r.props.content) ? r.props.content : undefined;
}

/** The HostFiles whose path passes `match` and whose content is known (not secret, not yet computed). */
function* readableFiles(
  resources: readonly PolicyResource[],
  match: (path: string) => boolean,
): Generator<{ r: PolicyResource; path: string; content: string; host: string }> {
  for (const r of files(resources)) {
    const path = str(r.props.path);
    if (!path || !match(path)) continue;
    const content = knownContent(r);
    if (content !== undefined) yield { r, path, content, host: targetHost(r) };
  }
}

/** `mirrors[i]` of a mirror name (or `mirrors[name=x]` when the config does not list it). */
function mirrorKey(ctx: PolicyContext, name: string, suffix = ""): string {
  const i = ctx.mirrors.indexOf(name);
  return i >= 0 ? `mirrors[${i}]${suffix}` : `mirrors[name=${name}]${suffix}`;
}

function masterKey(ctx: PolicyContext, name: string, suffix = ""): string {
  return ctx.master === undefined || ctx.master === name ? `master${suffix}` : mirrorKey(ctx, name, suffix);
}

/** Host names that are mirrors: from the config and from the replication resources. */
function mirrorHosts(resources: readonly PolicyResource[], ctx: PolicyContext): Set<string> {
  const names = new Set(ctx.mirrors.filter((n) => n !== ""));
  for (const r of replications(resources)) {
    const m = (r.props.mirror as { host?: unknown } | undefined)?.host;
    if (typeof m === "string") names.add(m);
  }
  return names;
}

function isMyCnf(path: string): boolean {
  return /\.cnf$/.test(path) && /(^\/etc\/my\.cnf$|\/(mysql|my\.cnf\.d|mariadb\.conf\.d|mysql\.conf\.d|conf\.d)\/)/.test(path) || path === "/etc/my.cnf";
}

const SERVER_SECTIONS = /^(mysqld|mariadb|mariadbd|server|mysqld-[\w.]+|mariadb-[\w.]+)$/i;

/** Options of the server sections of a my.cnf text: normalized name (lowercase, '_') -> last value. */
export function serverOptions(text: string): Map<string, string> {
  const opts = new Map<string, string>();
  let inServer = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const sec = /^\[([^\]]+)\]$/.exec(line);
    if (sec) {
      inServer = SERVER_SECTIONS.test(sec[1]!.trim());
      continue;
    }
    if (!inServer || line.startsWith("!")) continue;
    const eq = line.indexOf("=");
    const name = (eq < 0 ? line : line.slice(0, eq)).trim().toLowerCase().replace(/-/g, "_").replace(/^loose_/, "");
    let value = eq < 0 ? "" : line.slice(eq + 1).trim();
    value = value.replace(/\s+#.*$/, "").replace(/^(["'])(.*)\1$/, "$2");
    opts.set(name, value);
  }
  return opts;
}

function isOn(v: string | undefined): boolean {
  return v !== undefined && /^(on|1|true|yes|)$/i.test(v);
}

// ---------------------------------------------------------------------------------------------- rules

/** Replication accounts: the host part must name the mirror, never a wildcard. */
/**
 * The one account that may match any address: exactly '%' for a mirror whose account requires its own TLS client
 * certificate (subject and issuer) and which verifies the master's certificate (mirrors[].changingAddress).
 */
function certificateIsIdentity(r: PolicyResource, addr: unknown): boolean {
  if (addr !== "%") return false;
  const tls = r.props.tls as { require?: { subject?: unknown; issuer?: unknown }; replica?: { verifyServerCert?: unknown } } | null | undefined;
  const nonEmpty = (v: unknown) => typeof v === "string" && v.trim() !== "" && !hasUnknown(v);
  return !!tls && nonEmpty(tls.require?.subject) && nonEmpty(tls.require?.issuer) && tls.replica?.verifyServerCert === true;
}

const replicationHost = rule("replication-user-host", "Replication accounts are bound to one mirror address: no '%' (or '_' / empty) host part, except exactly '%' for a mirror with a changing address whose account requires its TLS certificate.", (resources, ctx, report) => {
  for (const r of replications(resources)) {
    const mirror = String((r.props.mirror as { host?: unknown } | undefined)?.host ?? r.name);
    const addr = r.props.mirrorAddress;
    const user = str(r.props.user) ?? "the replication user";
    if (hasUnknown(addr) || isSecretValue(addr)) continue;
    if (certificateIsIdentity(r, addr)) continue;
    if (typeof addr !== "string" || addr.trim() === "" || /[%_]/.test(addr)) {
      const shown = typeof addr === "string" ? addr : "";
      report(r.urn, mirror, mirrorKey(ctx, mirror, ".address"),
        `${mirror}: the replication account '${user}'@'${shown}' would accept replication logins from ` +
          `${shown.trim() === "" || shown.includes("%") ? "any host" : "a host pattern"}; bind it to the mirror's own address`,
      );
    }
  }
  // SQL in scripts and files that grants to '%'.
  const grantToAny = /(?:IDENTIFIED|GRANT|CREATE\s+USER|ALTER\s+USER)[^;\n]*@\s*(?:'%'|"%"|`%`|%(?=[\s;]|$))/i;
  for (const r of resources) {
    const kind = kindOf(r.type);
    const texts: [string, unknown][] =
      kind === "RemoteCommand"
        ? [["create", r.props.create], ["update", r.props.update]]
        : kind === "HostFile" && !r.secretKeys.has("content")
          ? [["content", r.props.content]]
          : [];
    for (const [prop, t] of texts) {
      if (typeof t !== "string" || hasUnknown(t) || isSecretValue(t) || !grantToAny.test(t)) continue;
      const host = targetHost(r);
      report(r.urn, host, "database.replicationUser",
        `${host}: ${kind === "HostFile" ? String(r.props.path) : `${r.name} (${prop})`} creates or grants an account with host '%'`,
      );
    }
  }
});

/** The sync account's keys may only run the forced command, from their mirror's address, with no forwarding. */
const syncKeyRestricted = rule("sync-key-restricted", "Every key in an authorized_keys file mirrorstack writes has restrict, command=\"...\" and from=\"...\".", (resources, ctx, report) => {
  for (const { r, path, content, host } of readableFiles(resources, (path) => /authorized_keys/.test(path))) {
    const account = path.split("/").pop() === "authorized_keys" ? ctx.syncUser : path.split("/").pop()!;
    for (const k of keysInText(content)) {
      const optionsWord = k.before.join(" ");
      const opts = splitOptions(optionsWord);
      const names = new Set(opts.map((o) => o.name));
      const missing = ["restrict", "command", "from"].filter((n) => !names.has(n) || (n !== "restrict" && !opts.find((o) => o.name === n)?.value));
      if (missing.length === 0) continue;
      const from = opts.find((o) => o.name === "from")?.value;
      report(r.urn, host, "files.syncUser",
        `${host}: ${path} line ${k.line} (a ${k.key.type} key of the sync account ${account}` +
          `${from ? `, from ${from}` : ""}) lacks ${missing.map((m) => (m === "restrict" ? "restrict" : `${m}="..."`)).join(", ")}`,
      );
    }
  }
});

/** authorized_keys options as sshd reads them (ssh/keys.ts): names in lower case, values unquoted. */
export function splitOptions(word: string): { name: string; value?: string }[] {
  return splitOptionField(word).map(parseOption);
}

/** No DSA keys, no RSA keys under 3072 bits: in the files written to hosts and in the operator's key. */
const keyStrength = rule("ssh-key-strength", "SSH keys are not DSA, and RSA keys have at least 3072 bits (files written to hosts and the deploying key).", (resources, ctx, report) => {
  for (const { r, path, content, host } of readableFiles(resources, (path) => /(authorized_keys|known_hosts|\.pub$)/.test(path))) {
    const key = /authorized_keys/.test(path) ? "files.syncUser" : /known_hosts/.test(path) ? masterKey(ctx, ctx.master ?? "master", ".address") : mirrorKey(ctx, host);
    for (const k of keysInText(content)) {
      const why = weakKeyReason(k.key);
      if (why) report(r.urn, host, key, `${host}: ${path} line ${k.line} ${why}`);
    }
  }
  // The deploying key: once per key file (or inline key), naming the hosts it reaches.
  const seen = new Map<string, { hosts: Set<string>; urn: string; key: string; info?: KeyInfo }>();
  for (const r of resources) {
    const t = r.props.target;
    if (t === null || typeof t !== "object" || hasUnknown(t)) continue;
    const tt = t as { host?: unknown; privateKeyPath?: unknown; privateKey?: unknown };
    const entries: [string, string, () => KeyInfo | undefined][] = [];
    // An inline key is visible to the policy pack (it sees real values), never in preview JSON ("[secret]").
    if (typeof tt.privateKey === "string" && !isSecretValue(tt.privateKey) && tt.privateKey.includes("PRIVATE KEY")) {
      const pk = tt.privateKey;
      entries.push(["inline", "sshPrivateKey", () => keyInfoFromPrivateKey(pk)]);
    }
    if (typeof tt.privateKeyPath === "string" && ctx.readLocalFile) {
      const p = tt.privateKeyPath;
      const read = ctx.readLocalFile;
      entries.push([`file:${p}`, "ssh.privateKeyPath", () => {
        const pub = read(`${p}.pub`);
        const fromPub = pub !== undefined ? keysInText(pub)[0]?.key : undefined;
        if (fromPub) return fromPub;
        const priv = read(p);
        return priv !== undefined ? keyInfoFromPrivateKey(priv) : undefined;
      }]);
    }
    for (const [id, key, info] of entries) {
      let e = seen.get(id);
      if (!e) {
        e = { hosts: new Set(), urn: r.urn, key };
        const i = info();
        if (i) e.info = i;
        seen.set(id, e);
      }
      if (typeof tt.host === "string") e.hosts.add(tt.host);
    }
  }
  for (const [id, e] of seen) {
    const why = e.info ? weakKeyReason(e.info) : undefined;
    if (!why) continue;
    const hosts = [...e.hosts].sort();
    const what = id === "inline" ? "the deploying SSH key (sshPrivateKey)" : `the deploying SSH key ${id.slice(5)}`;
    report(e.urn, hosts.join(", "), e.key, `${hosts.join(", ")}: ${what} ${why}`);
  }
});

/** binlog_format other than ROW only with database.allowUnsafeBinlogFormat. */
const binlogRow = rule("binlog-format-row", "Database servers log binlog_format=ROW unless database.allowUnsafeBinlogFormat is set.", (resources, ctx, report) => {
  if (ctx.allowUnsafeBinlogFormat) return;
  for (const { r, path, content, host } of readableFiles(resources, isMyCnf)) {
    const fmt = serverOptions(content).get("binlog_format");
    if (fmt === undefined || fmt.toUpperCase() === "ROW") continue;
    report(r.urn, host, "database.binlogFormat",
      `${host}: ${path} sets binlog_format = ${fmt.toUpperCase()}; mirrors can diverge from the master. Use ROW, ` +
        "or set database.allowUnsafeBinlogFormat: true to accept it",
    );
  }
});

interface ExportLine {
  readonly line: number;
  readonly path: string;
  readonly clients: { host: string; options: string[] }[];
}

/** Entries of an exports(5) text: path, then `client(options)` (or `-options` defaults and bare clients). */
export function parseExports(text: string): ExportLine[] {
  const out: ExportLine[] = [];
  const lines = text.replace(/\\\n/g, " ").split("\n");
  lines.forEach((raw, idx) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    const words = splitUnquoted(line, " \t").map((w) => w.replace(/^"(.*)"$/, "$1"));
    const path = words.shift()!;
    let defaults: string[] = [];
    const clients: { host: string; options: string[] }[] = [];
    for (const w of words) {
      if (w.startsWith("-")) {
        defaults = w.slice(1).split(",");
        continue;
      }
      const m = /^([^()]*)(?:\(([^)]*)\))?$/.exec(w);
      const host = m ? m[1]! : w;
      const options = m && m[2] !== undefined ? m[2].split(",").map((o) => o.trim()) : defaults;
      clients.push({ host, options });
    }
    // A path with no client at all is exported to everyone.
    if (clients.length === 0) clients.push({ host: "", options: defaults });
    out.push({ line: idx + 1, path, clients });
  });
  return out;
}

function isWildcardClient(host: string): boolean {
  return host === "" || /[*?]/.test(host) || /^(0\.0\.0\.0\/0|::\/0|\[::\]\/0)$/.test(host);
}

function lastOf(options: readonly string[], a: string, b: string): string | undefined {
  for (let i = options.length - 1; i >= 0; i--) if (options[i] === a || options[i] === b) return options[i];
  return undefined;
}

/** NFS exports are read-only, to named clients, with root squashed, unless the export's override says otherwise. */
const nfsExports = rule("nfs-export-safety", "NFS exports are ro, to listed clients (no '*'), with root_squash; rw / wildcards / no_root_squash need nfs.exports[i].allow*.", (resources, ctx, report) => {
  for (const { r, path, content, host } of readableFiles(resources, (path) => path === "/etc/exports" || /^\/etc\/exports\.d\/.+\.exports$/.test(path))) {
    for (const e of parseExports(content)) {
      const o = ctx.nfsExports.find((x) => x.path === e.path);
      const key = (k: string) => (o ? `nfs.exports[${o.index}].${k}` : `nfs.exports (${e.path}).${k}`);
      const rw = e.clients.filter((c) => lastOf(c.options, "rw", "ro") === "rw");
      if (rw.length > 0 && !o?.allowReadWrite) {
        report(r.urn, host, key("access"),
          `${host}: ${path} line ${e.line} exports ${e.path} read-write to ${rw.map((c) => c.host || "everyone").join(" ")}; set ${key("allowReadWrite")}: true if that is intended`,
        );
      }
      const wild = e.clients.filter((c) => isWildcardClient(c.host));
      if (wild.length > 0 && !o?.allowWildcard) {
        report(r.urn, host, key("clients"),
          `${host}: ${path} line ${e.line} exports ${e.path} to ${wild.map((c) => (c.host === "" ? "everyone (no client named)" : c.host)).join(" ")}; list the mirrors, or set ${key("allowWildcard")}: true`,
        );
      }
      const noSquash = e.clients.filter((c) => lastOf(c.options, "no_root_squash", "root_squash") === "no_root_squash");
      if (noSquash.length > 0 && !o?.allowNoRootSquash) {
        report(r.urn, host, key("rootSquash"),
          `${host}: ${path} line ${e.line} exports ${e.path} with no_root_squash; set ${key("allowNoRootSquash")}: true if that is intended`,
        );
      }
    }
  }
});

/** Where each secret goes, for naming the key of a secret file. */
const SECRET_FILES: Record<string, string> = {
  "/etc/mirrorstack/backup-passphrase": "backupPassphrase",
};

/** A file whose content is secret is not readable by other users. */
const secretFileMode = rule("secret-file-not-world-readable", "Files that hold secrets (secret content, or private key material) have no permissions for others.", (resources, _ctx, report) => {
  for (const r of files(resources)) {
    const path = str(r.props.path) ?? r.name;
    const c = r.props.content;
    const secret =
      r.secretKeys.has("content") ||
      isSecretValue(c) ||
      (typeof c === "string" && /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(c));
    if (!secret) continue;
    const mode = str(r.props.mode);
    if (!mode || !/^[0-7]{3,4}$/.test(mode)) continue;
    const bits = parseInt(mode, 8);
    if ((bits & 0o007) === 0) continue;
    const host = targetHost(r);
    report(r.urn, host, SECRET_FILES[path] ?? "backupPassphrase / replicationPassword / sshPrivateKey",
      `${host}: ${path} holds a secret but has mode ${mode.padStart(4, "0")} (others may ${bits & 0o004 ? "read" : "use"} it); it must be 0600 or stricter`,
    );
  }
});

/** Every mirror's database server is read-only. */
const mirrorReadOnly = rule("mirror-read-only", "Each mirror's my.cnf sets read_only = ON (only replication writes there).", (resources, ctx, report) => {
  const mirrors = mirrorHosts(resources, ctx);
  const byHost = new Map<string, PolicyResource[]>();
  for (const r of files(resources)) {
    const h = targetHost(r);
    if (!mirrors.has(h)) continue;
    byHost.set(h, [...(byHost.get(h) ?? []), r]);
  }
  for (const [host, fs] of byHost) {
    const cnfs = fs.filter((r) => {
      const p = str(r.props.path);
      return p !== undefined && isMyCnf(p);
    });
    const known = cnfs.map((r) => ({ r, text: knownContent(r) })).filter((x) => x.text !== undefined);
    if (cnfs.length > known.length) continue; // some content known only during up: judged then
    const values = known.map((x) => ({ r: x.r, v: serverOptions(x.text!).get("read_only") }));
    const on = values.some((x) => isOn(x.v));
    const off = values.filter((x) => x.v !== undefined && !isOn(x.v));
    if (on && off.length === 0) continue;
    const r = off[0]?.r ?? cnfs[0] ?? fs[0]!;
    const where = cnfs.length === 0 ? "no managed my.cnf sets read_only" : `${String(r.props.path)} ${off.length > 0 ? `sets read_only = ${off[0]!.v}` : "does not set read_only = ON"}`;
    report(r.urn, host, mirrorKey(ctx, host),
      `${host} is a mirror but ${where}: clients could write to it and replication would break`,
    );
  }
});

/** Every rule, in report order. */
export const RULES: readonly Rule[] = [replicationHost, syncKeyRestricted, keyStrength, binlogRow, nfsExports, secretFileMode, mirrorReadOnly];

/** Runs every rule; violations in rule order, then by host. */
export function checkPolicies(resources: readonly PolicyResource[], ctx: PolicyContext): Violation[] {
  return RULES.flatMap((rule) => rule.check(resources, ctx).sort((a, b) => a.host.localeCompare(b.host, "en", { numeric: true })));
}
