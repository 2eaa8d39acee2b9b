// Generates docs/config.md from the zod schema: one row per key with its type, default and description.
// `node --import tsx infra/config/doc.ts` rewrites the file; test/config-doc.test.ts fails when it is stale.

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import type { DocMeta } from "./schema";
import { SECRET_KEYS, stackSchema } from "./schema";
import { PROJECT_ROOT } from "../paths";

export interface DocRow {
  readonly key: string;
  readonly type: string;
  readonly default: string;
  readonly description: string;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  entries?: Record<string, string>;
  defaultValue?: unknown;
}

interface Layers {
  core: z.ZodType;
  meta: DocMeta & { description?: string };
  optional: boolean;
  dflt?: unknown;
  hasDefault: boolean;
  prefault: boolean;
}

function peel(s: z.ZodType): Layers {
  let cur = s;
  const meta: DocMeta & { description?: string } = {};
  let optional = false;
  let hasDefault = false;
  let prefault = false;
  let dflt: unknown;
  for (let i = 0; i < 20; i++) {
    const m = z.globalRegistry.get(cur) as (DocMeta & { description?: string }) | undefined;
    if (m) for (const [k, v] of Object.entries(m)) if ((meta as Record<string, unknown>)[k] === undefined) (meta as Record<string, unknown>)[k] = v;
    const def = cur.def as unknown as Def;
    if (def.type === "optional") {
      optional = true;
      cur = def.innerType!;
    } else if (def.type === "default") {
      hasDefault = true;
      dflt = def.defaultValue;
      cur = def.innerType!;
    } else if (def.type === "prefault") {
      prefault = true;
      cur = def.innerType!;
    } else if (def.type === "pipe" && def.in && (def.in.def as unknown as Def).type === "transform") {
      cur = def.out!;
    } else if (def.type === "pipe" && def.in && (def.in.def as unknown as Def).type === "unknown") {
      break; // int()/bool(): the docType meta says what it is
    } else {
      break;
    }
  }
  return { core: cur, meta, optional, dflt, hasDefault, prefault };
}

function typeLabel(l: Layers): string {
  if (l.meta.docType) return l.meta.docType;
  const def = l.core.def as unknown as Def;
  switch (def.type) {
    case "enum":
      return Object.values(def.entries ?? {}).join(" \\| ");
    case "array": {
      const inner = peel(def.element!);
      const innerDef = inner.core.def as unknown as Def;
      if (innerDef.type === "object") return "array of objects";
      return `array of ${typeLabel(inner)}`;
    }
    case "object":
      return "object";
    default:
      return def.type;
  }
}

function defaultLabel(l: Layers, path: string): string {
  if (l.meta.derivedDefault) return `derived: ${l.meta.derivedDefault}`;
  if (l.hasDefault) {
    const v = l.dflt;
    if (Array.isArray(v)) return v.length === 0 ? "`[]`" : `\`${v.join(" ")}\``;
    return `\`${typeof v === "string" ? v : JSON.stringify(v)}\``;
  }
  if (l.prefault) return "(see its keys)";
  if (l.optional) return "unset";
  if ((SECRET_KEYS as readonly string[]).includes(path)) return "**required** (secret)";
  return "**required**";
}

function walk(s: z.ZodType, path: string, rows: DocRow[]): void {
  const l = peel(s);
  const def = l.core.def as unknown as Def;
  if (path !== "") {
    rows.push({
      key: `mirrorstack:${path}`,
      type: typeLabel(l),
      default: defaultLabel(l, path),
      description: (l.meta.description ?? "").replace(/\|/g, "\\|"),
    });
  }
  if (def.type === "object") {
    for (const [k, v] of Object.entries(def.shape ?? {})) walk(v, path === "" ? k : `${path}.${k}`, rows);
  } else if (def.type === "array") {
    const inner = peel(def.element!);
    if ((inner.core.def as unknown as Def).type === "object") {
      for (const [k, v] of Object.entries((inner.core.def as unknown as Def).shape ?? {})) walk(v, `${path}[].${k}`, rows);
    }
  }
}

export function configDocRows(): DocRow[] {
  const rows: DocRow[] = [];
  walk(stackSchema, "", rows);
  return rows;
}

export function generateConfigDoc(): string {
  const rows = configDocRows();
  const lines = [
    "# Stack configuration",
    "",
    "<!-- Generated from infra/config/schema.ts by `node --import tsx infra/config/doc.ts`; do not edit. -->",
    "",
    "Each stack's settings live in `stacks/Pulumi.<stack>.yaml` under `config:`, every key in the `mirrorstack:`",
    "namespace. Objects and lists are written as YAML (or set with `pulumi config set --path`). Unknown keys are",
    "errors. Every problem is reported at once, one line per key, e.g.",
    "`mirrorstack:mirrors[1].address: \"10.0.0.300\" is not an IP address or host name`.",
    "",
    "Secrets are top-level keys and must be set with `pulumi config set --secret <key> <value>`:",
    "`replicationPassword` (always), `backupPassphrase` (while backups are enabled) and `sshPrivateKey` (optional,",
    "instead of `ssh.privateKeyPath`). A secret stored in clear text is an error.",
    "",
    "Values that end up in files or shell commands are limited to characters that cannot break out of their place:",
    "no newlines, quotes, `#`, `;`, `$`, backticks, backslashes or stray spaces; paths are absolute, normalized, without",
    "`..` or a trailing `/`.",
    "",
    "The smallest valid stack:",
    "",
    "```yaml",
    "config:",
    "  mirrorstack:master: {name: db1, address: 192.0.2.10}",
    "  mirrorstack:mirrors: [{name: db2, address: 192.0.2.11}]",
    "  mirrorstack:database: {databases: [wiki]}",
    "  mirrorstack:replicationPassword: {secure: v1:...}",
    "  mirrorstack:backupPassphrase: {secure: v1:...}",
    "```",
    "",
    "| Key | Type | Default | Description |",
    "| --- | --- | --- | --- |",
    ...rows.map((r) => `| \`${r.key}\` | ${r.type} | ${r.default} | ${r.description} |`),
    "",
  ];
  return lines.join("\n");
}

export const CONFIG_DOC_PATH = resolve(PROJECT_ROOT, "docs/config.md");

if (require.main === module) {
  mkdirSync(dirname(CONFIG_DOC_PATH), { recursive: true });
  writeFileSync(CONFIG_DOC_PATH, generateConfigDoc());
  console.log(`wrote ${CONFIG_DOC_PATH}`);
}
