// Config errors: every problem of a stack config, reported at once, each naming its `mirrorstack:` key path.

export const NAMESPACE = "mirrorstack";

/** One problem with one key. `path` is the full key path, e.g. `mirrorstack:mirrors[1].address`. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Formats a path made of keys and array indexes as `mirrorstack:a.b[1].c`. */
export function formatKeyPath(path: readonly (string | number)[]): string {
  let out = `${NAMESPACE}:`;
  path.forEach((seg, i) => {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += i === 0 ? seg : `.${seg}`;
  });
  return out;
}

export function issueLine(issue: ConfigIssue): string {
  return `${issue.path}: ${issue.message}`;
}

/** Thrown by parseStackConfig with every problem found. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  readonly stackName: string;

  constructor(stack: string, issues: readonly ConfigIssue[]) {
    const lines = issues.map(issueLine);
    super(
      `stack '${stack}' has ${issues.length} configuration problem${issues.length === 1 ? "" : "s"}:\n` +
        lines.map((l) => `  ${l}`).join("\n"),
    );
    this.name = "ConfigError";
    this.issues = issues;
    this.stackName = stack;
  }

  /** One line per issue, `mirrorstack:<path>: <message>`. */
  lines(): string[] {
    return this.issues.map(issueLine);
  }
}
