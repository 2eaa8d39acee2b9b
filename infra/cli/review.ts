// Review of a stack change, for people and pull requests:
//
//   npm run review -- --stack <stack> [--out review.md] [--json-out preview.json] [--no-policy] [--post-comment]
//
// Runs `pulumi preview --diff --json --show-sames` through scripts/pulumi.sh (no SSH: the providers' diff is local),
// applies the policy rules (infra/review/rules.ts, the same as the policy pack in policy/) and writes a Markdown
// report: per host the files that would change with a unified diff, the services that would restart, replication
// changes, secrets as [secret]. --post-comment puts the report on the pull request of a GitHub Actions run as one
// comment per stack (updated in place).
//
// Exit status: 0 the preview succeeded (changes or not) and no policy rule is violated; 1 the preview failed
// (its errors are printed and are in the report); 2 bad arguments; 3 policy violations.

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { STACK_NAME_RE } from "../render/common";
import { loadPolicyContext } from "../review/context";
import { githubTargetFromEnv, upsertReviewComment, type Fetch } from "../review/github";
import { trimPreview } from "../review/preview";
import { EXIT, runReview, type EngineResult } from "../review/run";
import { PROJECT_ROOT as ROOT } from "../paths";


interface Args {
  stack: string;
  out?: string;
  jsonOut?: string;
  policy: boolean;
  postComment: boolean;
  maxChars?: number;
}

const USAGE =
  "usage: npm run review -- --stack <stack> [--out <report.md>] [--json-out <preview.json>] [--no-policy] [--post-comment] [--max-chars N]\n";

function usage(msg: string): never {
  process.stderr.write(`${msg}\n${USAGE}`);
  process.exit(EXIT.usage);
}

function parseArgs(argv: readonly string[]): Args {
  const a: Partial<Args> = { policy: true, postComment: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const [name, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i] ?? usage(`${name} needs a value`);
    if (name === "--stack" || name === "-s") a.stack = value();
    else if (name === "--out") a.out = value();
    else if (name === "--json-out") a.jsonOut = value();
    else if (name === "--no-policy") a.policy = false;
    else if (name === "--post-comment") a.postComment = true;
    else if (name === "--max-chars") a.maxChars = Number(value());
    else if (name === "-h" || name === "--help") {
      // Asked for: usage on stdout, success.
      process.stdout.write(`mirrorstack review: a Markdown report of what an up would change, per host\n${USAGE}`);
      process.exit(0);
    }
    else usage(`unknown argument ${JSON.stringify(arg)}`);
  }
  if (!a.stack) usage("--stack is required");
  if (!STACK_NAME_RE.test(a.stack)) usage(`bad stack name ${JSON.stringify(a.stack)}`);
  if (a.maxChars !== undefined && !(Number.isInteger(a.maxChars) && a.maxChars >= 1000)) usage("--max-chars needs a whole number of at least 1000");
  return a as Args;
}

function engine(args: readonly string[]): EngineResult {
  const r = spawnSync("bash", [resolve(ROOT, "scripts/pulumi.sh"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
    timeout: 30 * 60 * 1000,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? `\n${r.error.message}` : "") };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const result = runReview({
    stack: args.stack,
    runEngine: engine,
    ...(args.policy ? { policy: loadPolicyContext(ROOT, args.stack) } : {}),
    ...(args.maxChars !== undefined ? { maxChars: args.maxChars } : {}),
  });
  for (const n of result.notes) process.stderr.write(`review: ${n}\n`);
  if (args.out) writeFileSync(args.out, result.report);
  else process.stdout.write(result.report);
  if (args.jsonOut && result.preview) writeFileSync(args.jsonOut, result.mask(JSON.stringify(trimPreview(result.preview), null, 2)) + "\n");
  if (!result.previewOk) {
    // The engine's errors on stderr too, whether or not the report went to a file.
    process.stderr.write(`review: the preview of stack ${args.stack} failed:\n${result.report}\n`);
  } else if (result.violations.length > 0) {
    process.stderr.write(`review: ${result.violations.length} policy violation(s):\n${result.violations.map((v) => `  ${v.message} [config key: ${v.key}]`).join("\n")}\n`);
  }
  if (args.postComment) {
    try {
      const gh = githubTargetFromEnv(process.env, (p) => readFileSync(p, "utf8"));
      const c = await upsertReviewComment(gh, args.stack, result.report, fetch as unknown as Fetch);
      process.stderr.write(`review: ${c.action} comment ${c.id}${c.url ? ` (${c.url})` : ""}\n`);
    } catch (e) {
      process.stderr.write(`review: could not post the comment: ${(e as Error).message}\n`);
      return result.exitCode === EXIT.ok ? EXIT.previewFailed : result.exitCode;
    }
  }
  return result.exitCode;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`review: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(EXIT.previewFailed);
  },
);
