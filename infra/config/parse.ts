// parseStackConfig: raw `mirrorstack:*` values -> StackConfig, or a ConfigError listing every problem.

import { z } from "zod";
import { show } from "./checks";
import { crossCheck } from "./cross";
import { ConfigError, type ConfigIssue, formatKeyPath } from "./errors";
import { resolveStackConfig } from "./resolve";
import { SECRET_KEYS, STRUCTURED_KEYS, stackSchema, type StackParsed } from "./schema";
import type { StackConfig } from "./types";

export interface ParseOptions {
  /** Stack name (used in messages and in the headers of rendered files). */
  readonly stack: string;
  /** Top-level keys that Pulumi holds as secrets (set with --secret). */
  readonly secretKeys?: ReadonlySet<string>;
}

/** Follows a key path through the schema (unwrapping optional/default/pipes) to find the object at that place. */
export function schemaAt(path: readonly PropertyKey[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = stackSchema;
  for (const seg of path) {
    s = unwrap(s);
    if (!s) return undefined;
    const def = s.def as unknown as { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType };
    if (def.type === "object" && typeof seg === "string") s = def.shape?.[seg];
    else if (def.type === "array" && typeof seg === "number") s = def.element;
    else return undefined;
  }
  return unwrap(s);
}

/** Strips optional/default/prefault/nullable wrappers and preprocess pipes. */
export function unwrap(s: z.ZodType | undefined): z.ZodType | undefined {
  let cur = s;
  for (let i = 0; i < 20 && cur; i++) {
    const def = cur.def as unknown as { type: string; innerType?: z.ZodType; in?: z.ZodType; out?: z.ZodType };
    if (def.type === "optional" || def.type === "default" || def.type === "prefault" || def.type === "nullable") {
      cur = def.innerType;
    } else if (def.type === "pipe" && def.in && (def.in.def as { type: string }).type === "transform") {
      // z.preprocess(fn, schema): the schema is the pipe's output side.
      cur = def.out;
    } else {
      return cur;
    }
  }
  return cur;
}

/** A parsed config in which each value that failed its schema is left out (and listed in `failed`). */
export type Lenient<T> = T extends readonly (infer E)[]
  ? (Lenient<E> | undefined)[]
  : T extends object
    ? { [K in keyof T]?: Lenient<T[K]> }
    : T;

/**
 * Parses `value` key by key: every value that passes its schema comes out parsed, with the schema's defaults
 * filled in; a value that fails is left out and its key path added to `failed`. The rules that span keys
 * (cross.ts) read this, so they see the schema's defaults (one home) and still run when other keys are wrong:
 * one run reports every problem.
 */
export function lenientParse(schema: z.ZodType, value: unknown, failed: Set<string>, at: readonly (string | number)[] = []): unknown {
  const whole = schema.safeParse(value);
  if (whole.success) return whole.data;
  const fail = () => {
    failed.add(formatKeyPath(at as (string | number)[]));
    return undefined;
  };
  let s: z.ZodType | undefined = schema;
  let v = value;
  for (let i = 0; i < 20 && s && v !== undefined && v !== null; i++) {
    const def = s.def as unknown as { type: string; innerType?: z.ZodType; in?: z.ZodType; out?: z.ZodType };
    if (def.type === "optional" || def.type === "default" || def.type === "prefault" || def.type === "nullable") {
      s = def.innerType;
    } else if (def.type === "pipe" && def.in && (def.in.def as { type: string }).type === "transform") {
      // z.preprocess(fn, schema): run fn, then go on with the schema.
      const pre = def.in.safeParse(v);
      if (!pre.success) return fail();
      v = pre.data;
      s = def.out;
    } else break;
  }
  const def = s?.def as unknown as { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType } | undefined;
  if (def?.type === "object" && def.shape && v !== null && typeof v === "object" && !Array.isArray(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, sub] of Object.entries(def.shape)) {
      const r = lenientParse(sub, (v as Record<string, unknown>)[k], failed, [...at, k]);
      if (r !== undefined) out[k] = r;
    }
    return out;
  }
  if (def?.type === "array" && def.element && Array.isArray(v)) {
    return v.map((e, i) => lenientParse(def.element!, e, failed, [...at, i]));
  }
  return fail();
}

function objectKeys(path: readonly PropertyKey[]): string[] {
  const s = schemaAt(path);
  const def = s?.def as unknown as { type: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[] = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= y.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (x[i - 1] === y[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[y.length]!;
}

// Secrets placed inside an object (pulumi config set --path --secret database.replicationPassword ...).
const MISPLACED_SECRETS: Record<string, string> = {
  replicationpassword: "replicationPassword",
  password: "replicationPassword",
  backuppassphrase: "backupPassphrase",
  passphrase: "backupPassphrase",
  sshprivatekey: "sshPrivateKey",
  privatekey: "sshPrivateKey",
};

function unknownKeyMessage(parent: readonly PropertyKey[], key: string): string {
  const secret = MISPLACED_SECRETS[key.toLowerCase()];
  if (secret && parent.length > 0) {
    return `unknown key; secrets are top-level keys: set mirrorstack:${secret} with --secret`;
  }
  const allowed = objectKeys(parent);
  const close = allowed
    .map((k) => ({ k, d: editDistance(k, key) }))
    .filter((c) => c.d <= Math.max(1, Math.floor(key.length / 3)))
    .sort((a, b) => a.d - b.d)[0];
  if (close) return `unknown key (did you mean ${close.k}?)`;
  return `unknown key; allowed here: ${allowed.join(", ")}`;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") return `the string ${show(v)}`;
  return `${typeof v} ${show(v)}`;
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  boolean: "true or false",
  object: "a map of keys (key: value)",
  array: "a list",
};

/** Turns one zod issue into one or more ConfigIssues with readable messages. */
function fromZodIssue(issue: z.core.$ZodIssue): ConfigIssue[] {
  const path = issue.path;
  const at = formatKeyPath(path as (string | number)[]);
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((k) => ({ path: formatKeyPath([...(path as (string | number)[]), k]), message: unknownKeyMessage(path, k) }));
    case "invalid_type": {
      if (input === undefined) {
        const top = path.length === 1 && typeof path[0] === "string" ? path[0] : undefined;
        if (top && (SECRET_KEYS as readonly string[]).includes(top)) {
          return [{ path: at, message: `is required; set it with: pulumi config set --secret ${top} <value>` }];
        }
        return [{ path: at, message: `is required (${EXPECTED[issue.expected] ?? issue.expected})` }];
      }
      return [{ path: at, message: `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${typeName(input)}` }];
    }
    case "invalid_value":
      return [{ path: at, message: `${show(input)} is not one of: ${issue.values.map((v) => String(v)).join(", ")}` }];
    case "too_small":
      if (issue.origin === "array") return [{ path: at, message: issue.message.startsWith("Too small") ? `must list at least ${String(issue.minimum)} item(s)` : issue.message }];
      return [{ path: at, message: `must be at least ${String(issue.minimum)}` }];
    case "too_big":
      if (issue.origin === "array") return [{ path: at, message: issue.message.startsWith("Too big") ? `must list at most ${String(issue.maximum)} item(s)` : issue.message }];
      return [{ path: at, message: `must be at most ${String(issue.maximum)}` }];
    case "invalid_format":
      return [{ path: at, message: `${show(input)}: ${issue.message}` }];
    default:
      return [{ path: at, message: issue.message }];
  }
}

/** Decodes JSON strings given for structured keys (Pulumi passes object/array config as JSON text). */
function decodeStructured(raw: Record<string, unknown>, issues: ConfigIssue[], bad: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (STRUCTURED_KEYS.has(key) && typeof value === "string") {
      const t = value.trim();
      if (t.startsWith("{") || t.startsWith("[")) {
        try {
          out[key] = JSON.parse(t) as unknown;
        } catch (e) {
          issues.push({ path: formatKeyPath([key]), message: `is not valid JSON (${(e as Error).message})` });
          bad.add(key);
        }
        continue;
      }
    }
    out[key] = value;
  }
  return out;
}

/**
 * Validates the un-namespaced `mirrorstack:*` values of one stack and resolves every default.
 * Throws ConfigError with every problem found.
 */
export function parseStackConfig(raw: Record<string, unknown>, opts: ParseOptions): StackConfig {
  const issues: ConfigIssue[] = [];
  const badJson = new Set<string>();
  const input = decodeStructured(raw, issues, badJson);
  const result = stackSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    for (const i of result.error.issues) {
      // A key whose JSON did not decode is already reported; do not also call it missing.
      if (typeof i.path[0] === "string" && badJson.has(i.path[0])) continue;
      issues.push(...fromZodIssue(i));
    }
  }
  const failed = new Set<string>();
  const view = (result.success ? result.data : lenientParse(stackSchema, input, failed)) as Lenient<StackParsed>;
  issues.push(...crossCheck(view, { raw: input, failed, secretKeys: opts.secretKeys ?? new Set() }));

  // One line per (path, message); keep the order found.
  const seen = new Set<string>();
  const unique = issues.filter((i) => {
    const k = `${i.path}\0${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  if (unique.length > 0 || !result.success) throw new ConfigError(opts.stack, unique);
  return resolveStackConfig(result.data, opts.stack);
}
