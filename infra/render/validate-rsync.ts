// Renders validate-rsync, the forced command that lets a mirror's sync key do nothing but a read-only
// rsync pull of a configured tree from the master (installed at PATHS.validateRsync). Pure: reads its
// template, touches nothing else.

import { FILES_DEFAULTS } from "../config/schema";
import { header, STACK_NAME_RE } from "./common";
import { renderTemplate } from "./templates";

export interface ValidateRsyncOptions {
  /** Trees mirrors may pull: absolute, normalized, no trailing slash (from `files.trees`). */
  readonly trees: readonly string[];
  /** Absolute path of rsync on the master. Default `/usr/bin/rsync`. */
  readonly rsyncPath?: string;
  /** Absolute path of logger(1) on the master. Default `/usr/bin/logger`. */
  readonly loggerPath?: string;
  /**
   * Pass `--confine-root=<tree>` to rsync (needs rsync 3.5.0+). `true`: always (rsync refuses to start if it is
   * older, so the pull fails closed); `false`: never; `"auto"` (default): when `rsync --help` on the master
   * lists the option, checked by the script on every run, so an rsync upgrade turns it on without a re-render.
   */
  readonly confineRoot?: boolean | "auto";
  /** Pulumi stack name, written into the header comment. */
  readonly stack: string;
}

// One path component of a tree: the characters a real rsync client sends unescaped and that the script's
// character check lets through. Anything else (spaces, quotes, globs, `$`, `~`, `:`, `%`, non-ASCII) is refused.
// Components of A-Z a-z 0-9 . _ + , @ = -, with single spaces inside a component (a client sends them as "\ ").
const TREE_RE = /^(\/[A-Za-z0-9._+,@=-]+( [A-Za-z0-9._+,@=-]+)*)+$/;
const BIN_RE = /^(\/[A-Za-z0-9._+-]+)+$/;

function checkTrees(trees: readonly string[]): void {
  if (!Array.isArray(trees) || trees.length === 0) {
    throw new Error("[files.trees] at least one tree is required for validate-rsync");
  }
  const seen = new Set<string>();
  for (const t of trees) {
    if (typeof t !== "string" || !TREE_RE.test(t)) {
      throw new Error(
        `[files.trees] ${JSON.stringify(t)} must be an absolute path of components made of A-Z a-z 0-9 . _ + , @ = - ` +
          "and single spaces inside a component (no quotes, shell or glob characters, no trailing slash, not /)",
      );
    }
    if (t.split("/").some((c) => c === "." || c === "..")) {
      throw new Error(`[files.trees] ${JSON.stringify(t)} must be normalized (no . or .. components)`);
    }
    if (seen.has(t)) throw new Error(`[files.trees] ${JSON.stringify(t)} is listed twice`);
    seen.add(t);
  }
}

function checkBin(key: string, p: string): void {
  if (!BIN_RE.test(p) || p.split("/").some((c) => c === "." || c === "..")) {
    throw new Error(`[files.${key}] ${JSON.stringify(p)} must be a normalized absolute path without special characters`);
  }
}

/** Returns the text of the validate-rsync script for the given trees. Throws `[files.*]` errors on bad input. */
export function renderValidateRsync(opts: ValidateRsyncOptions): string {
  checkTrees(opts.trees);
  const rsyncPath = opts.rsyncPath ?? FILES_DEFAULTS.rsyncPath;
  const loggerPath = opts.loggerPath ?? "/usr/bin/logger";
  checkBin("rsyncPath", rsyncPath);
  checkBin("loggerPath", loggerPath);
  const c = opts.confineRoot ?? FILES_DEFAULTS.confineRoot;
  if (c !== true && c !== false && c !== "auto") {
    throw new Error(`[files.confineRoot] must be true, false or "auto", got ${JSON.stringify(c)}`);
  }
  if (typeof opts.stack !== "string" || !STACK_NAME_RE.test(opts.stack)) {
    throw new Error(`[stack] ${JSON.stringify(opts.stack)} is not a valid stack name`);
  }
  return renderTemplate("validate-rsync.sh.hbs", {
    header: header(opts.stack),
    trees: [...opts.trees],
    rsyncPath,
    loggerPath,
    confineRoot: c === "auto" ? "auto" : c ? "always" : "never",
  });
}
