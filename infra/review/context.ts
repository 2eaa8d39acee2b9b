// What the policy rules need from the stack config besides the resources: the explicit overrides an operator set
// (database.allowUnsafeBinlogFormat, nfs.exports[i].allowReadWrite / allowWildcard / allowNoRootSquash) and the
// host names by config position, so that each violation can name its config key. It comes from the resolved
// config (infra/config), so the review and the program see the same defaults. Secrets are never read here:
// encrypted values stay "[secret]" placeholders (readStackFile never decrypts).

import { existsSync, readFileSync } from "node:fs";
import { ConfigError, loadStackConfig, stackFilePath, type StackConfig } from "../config";
import { FILES_DEFAULTS } from "../config/schema";

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
export const STRICT_CONTEXT: PolicyContext = { mirrors: [], allowUnsafeBinlogFormat: false, nfsExports: [], syncUser: FILES_DEFAULTS.syncUser };

/** The policy context of a stack's resolved config (infra/config: the same defaults as the program). Pure. */
export function contextFromConfig(cfg: StackConfig): PolicyContext {
  return {
    master: cfg.master.name,
    mirrors: cfg.mirrors.map((m) => m.name),
    allowUnsafeBinlogFormat: cfg.database.allowUnsafeBinlogFormat,
    nfsExports: cfg.nfs?.exportsGiven
      ? cfg.nfs.exports.map((e, index) => ({
          index,
          path: e.path,
          allowReadWrite: e.allowReadWrite,
          allowWildcard: e.allowWildcard,
          allowNoRootSquash: e.allowNoRootSquash,
        }))
      : [],
    syncUser: cfg.files.syncUser,
  };
}

/**
 * The policy context of a stack, from its config file in the project; the strict context (no overrides) when the
 * file is missing or invalid (the preview itself then fails, naming each problem). Local SSH keys are read only
 * when `withLocalFiles` is set.
 */
export function loadPolicyContext(projectRoot: string, stack: string, withLocalFiles = true): PolicyContext {
  const file = stackFilePath(projectRoot, stack);
  let base = STRICT_CONTEXT;
  try {
    if (existsSync(file)) base = contextFromConfig(loadStackConfig(file, stack));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
  }
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
