// readStackFile: reads stacks/Pulumi.<stack>.yaml without the Pulumi engine (for the offline render CLI and tests).
// Encrypted values ({secure: v1:...}) are never decrypted: they become the placeholder "[secret]".

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { SECRET_PLACEHOLDER } from "./checks";
import { ConfigError, type ConfigIssue, NAMESPACE } from "./errors";
import { parseStackConfig } from "./parse";
import type { StackConfig } from "./types";

export interface StackFile {
  /** Un-namespaced top-level keys -> values, secrets replaced by "[secret]". */
  readonly raw: Record<string, unknown>;
  /**
   * Keys holding a secret: the top-level key (`replicationPassword`, or `database` when a value inside it is
   * secure) and, for nested secrets, the full path too (`database.replicationPassword`, `mirrors[0].address`).
   */
  readonly secretKeys: Set<string>;
}

function isSecure(v: unknown): boolean {
  return (
    v !== null &&
    typeof v === "object" &&
    !Array.isArray(v) &&
    Object.keys(v).length === 1 &&
    typeof (v as Record<string, unknown>)["secure"] === "string"
  );
}

/** Replaces every {secure: ...} below `v` by the placeholder; reports the dotted paths it replaced. */
function stripSecure(v: unknown, path: string, found: string[]): unknown {
  if (isSecure(v)) {
    found.push(path);
    return SECRET_PLACEHOLDER;
  }
  if (Array.isArray(v)) return v.map((x, i) => stripSecure(x, `${path}[${i}]`, found));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = stripSecure(x, `${path}.${k}`, found);
    return out;
  }
  return v;
}

/** True when `a` is within two edits of `b` at one place (a typo of the namespace). */
function near(a: string, b: string): boolean {
  if (a === b || Math.abs(a.length - b.length) > 2) return false;
  const [s, l] = a.length <= b.length ? [a, b] : [b, a];
  let i = 0;
  while (i < s.length && s[i] === l[i]) i++;
  let j = 0;
  while (j < s.length - i && s[s.length - 1 - j] === l[l.length - 1 - j]) j++;
  return l.length - i - j <= 2;
}

/**
 * Config keys in a namespace that is a typo of `mirrorstack` (`mirrorstak:backups`): a problem each, since the
 * key would otherwise be ignored and its defaults deployed. Other namespaces belong to Pulumi or providers. Used
 * by the stack-file reader (npm run render) and by the program (what `pulumi up` and `preview` read).
 */
export function namespaceIssues(fullKeys: readonly string[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const fullKey of fullKeys) {
    const colon = fullKey.indexOf(":");
    if (colon < 0) continue;
    const ns = fullKey.slice(0, colon);
    const key = fullKey.slice(colon + 1);
    if (ns !== NAMESPACE && near(ns, NAMESPACE)) {
      issues.push({ path: fullKey, message: `unknown namespace ${JSON.stringify(ns)} (did you mean ${NAMESPACE}:${key}?)` });
    }
  }
  return issues;
}

export function parseStackText(text: string, file: string): StackFile {
  let doc: unknown;
  try {
    // Merge keys (<<) merged, as the engine's YAML reader does for preview and up.
    doc = parseYaml(text, { merge: true });
  } catch (e) {
    throw new ConfigError(file, [{ path: file, message: `is not valid YAML: ${(e as Error).message.split("\n")[0]}` }]);
  }
  const issues: ConfigIssue[] = [];
  const raw: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  const config = doc !== null && typeof doc === "object" ? (doc as Record<string, unknown>)["config"] : undefined;
  if (config !== undefined && (config === null || typeof config !== "object" || Array.isArray(config))) {
    issues.push({ path: `${file}: config`, message: "must be a map of namespaced keys (mirrorstack:<key>: value)" });
  } else if (config) {
    for (const [fullKey, value] of Object.entries(config as Record<string, unknown>)) {
      const colon = fullKey.indexOf(":");
      if (colon < 0) {
        issues.push({ path: `${NAMESPACE}:${fullKey}`, message: `is written without its namespace; write ${NAMESPACE}:${fullKey}` });
        continue;
      }
      const ns = fullKey.slice(0, colon);
      const key = fullKey.slice(colon + 1);
      if (ns !== NAMESPACE) {
        issues.push(...namespaceIssues([fullKey]));
        continue;
      }
      const found: string[] = [];
      raw[key] = stripSecure(value, key, found);
      if (found.length > 0) {
        secretKeys.add(key);
        for (const p of found) secretKeys.add(p);
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(file, issues);
  return { raw, secretKeys };
}

/** Reads a Pulumi stack file and returns the `mirrorstack:` keys without their namespace. */
export function readStackFile(path: string): StackFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(path, [{ path, message: `cannot be read: ${(e as Error).message}` }]);
  }
  return parseStackText(text, path);
}

/** The directory holding the stack configs (Pulumi.yaml `stackConfigDir`, else the project root). */
export function stackConfigDir(projectRoot: string): string {
  try {
    const proj = parseYaml(readFileSync(join(projectRoot, "Pulumi.yaml"), "utf8")) as { stackConfigDir?: unknown };
    if (typeof proj?.stackConfigDir === "string") return join(projectRoot, proj.stackConfigDir);
  } catch {
    /* no project file: the root */
  }
  return projectRoot;
}

/** Where the engine reads a stack's config: <stackConfigDir>/Pulumi.<stack>.yaml. */
export function stackFilePath(projectRoot: string, stack: string): string {
  return join(stackConfigDir(projectRoot), `Pulumi.${stack}.yaml`);
}

/**
 * A stack file read, validated and resolved, as the program would see it (secrets stay placeholders). Throws
 * ConfigError with every problem (a file that cannot be read is one problem, "cannot be read").
 */
export function loadStackConfig(file: string, stack: string): StackConfig {
  const { raw, secretKeys } = readStackFile(file);
  return parseStackConfig(raw, { stack, secretKeys });
}
