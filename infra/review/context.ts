// What the policy rules need from the stack config besides the resources: the explicit overrides an operator set
// (database.allowUnsafeBinlogFormat, nfs.exports[i].allowReadWrite / allowWildcard / allowNoRootSquash) and the
// host names by config position, so that each violation can name its config key. Secrets are never read here:
// encrypted values stay "[secret]" placeholders (readStackFile never decrypts).

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { readStackFile } from "../config/stackfile";

export interface ExportOverride {
  /** Position in nfs.exports. */
  readonly index: number;
  readonly path: string;
  readonly allowReadWrite: boolean;
  readonly allowWildcard: boolean;
  readonly allowNoRootSquash: boolean;
}

export interface PolicyContext {
  /** The master's name (master.name), when known. */
  readonly master?: string;
  /** Mirror names in config order (mirrors[i].name). */
  readonly mirrors: readonly string[];
  /** database.allowUnsafeBinlogFormat */
  readonly allowUnsafeBinlogFormat: boolean;
  /** nfs.exports[i] and their overrides; empty when the exports are derived from files.trees. */
  readonly nfsExports: readonly ExportOverride[];
  /** files.syncUser (default mirrorsync). */
  readonly syncUser: string;
  /**
   * Reads a file on the machine running the check (the operator's SSH key, by its path in the resources);
   * undefined when it cannot be read. Not given: local keys are not checked.
   */
  readonly readLocalFile?: (path: string) => string | undefined;
}

/** No overrides at all: the strictest reading. */
export const STRICT_CONTEXT: PolicyContext = { mirrors: [], allowUnsafeBinlogFormat: false, nfsExports: [], syncUser: "mirrorsync" };

function obj(v: unknown): Record<string, unknown> | undefined {
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function list(v: unknown): unknown[] {
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch {
      return [];
    }
  }
  return Array.isArray(v) ? v : [];
}

/** Only an explicit true (or "true") counts as an override. */
function yes(v: unknown): boolean {
  return v === true || v === "true";
}

/** The policy context from the un-namespaced `mirrorstack:*` values of a stack config. Pure. */
export function contextFromConfig(raw: Record<string, unknown>): PolicyContext {
  const master = obj(raw.master);
  const mirrors = list(raw.mirrors)
    .map((m) => obj(m)?.name)
    .map((n) => (typeof n === "string" ? n : ""));
  const database = obj(raw.database) ?? {};
  const files = obj(raw.files) ?? {};
  const nfs = obj(raw.nfs) ?? {};
  const nfsExports = list(nfs.exports).flatMap((e, index) => {
    const x = obj(e);
    if (!x || typeof x.path !== "string") return [];
    return [{
      index,
      path: x.path,
      allowReadWrite: yes(x.allowReadWrite),
      allowWildcard: yes(x.allowWildcard),
      allowNoRootSquash: yes(x.allowNoRootSquash),
    }];
  });
  return {
    ...(typeof master?.name === "string" ? { master: master.name } : {}),
    mirrors,
    allowUnsafeBinlogFormat: yes(database.allowUnsafeBinlogFormat),
    nfsExports,
    syncUser: typeof files.syncUser === "string" ? files.syncUser : "mirrorsync",
  };
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

/**
 * The policy context of a stack, read from its config file in the project; the strict context (no overrides)
 * when the file is missing. Local SSH keys are read only when `withLocalFiles` is set.
 */
export function loadPolicyContext(projectRoot: string, stack: string, withLocalFiles = true): PolicyContext {
  const file = join(stackConfigDir(projectRoot), `Pulumi.${stack}.yaml`);
  const base = existsSync(file) ? contextFromConfig(readStackFile(file).raw) : STRICT_CONTEXT;
  if (!withLocalFiles) return base;
  return {
    ...base,
    readLocalFile: (p) => {
      try {
        return readFileSync(p, "utf8");
      } catch {
        return undefined;
      }
    },
  };
}
