// mirrorctl: day-2 operations on a stack's hosts, from the same stack config and SSH access as `pulumi up`.
//
//   npm run mirrorctl -- <command> --stack <stack> [--json] [options]      (or bin/mirrorctl)
//
// Exit status: 0 everything healthy / done; status: 0/1/2 = OK/WARNING/CRITICAL (monitoring-plugin style);
// other commands: 1 = a problem found or an operation failed; 2 = bad arguments or a refused request
// (unknown host, no command, missing --yes, unknown command), in which case nothing was changed.
// See README.md, "Operations (mirrorctl)".

import { parseArgs, UsageError, USAGE, type Request } from "../ops/args";
import { loadContext, StackConfigError, type OpsContext } from "../ops/context";
import { errMsg, type CommandResult } from "../ops/output";

type Handler = (ctx: OpsContext, req: Request, progress: (line: string) => void) => Promise<CommandResult>;

async function handler(command: Request["command"]): Promise<Handler> {
  switch (command) {
    case "status":
      return (await import("../ops/status")).statusCommand;
    case "verify":
      return (await import("../ops/verify")).verifyCommand;
    case "sync-now":
      return (await import("../ops/sync")).syncNowCommand;
    case "exec":
      return (await import("../ops/exec")).execCommand;
    case "keys":
      return (await import("../ops/keys")).keysCommand;
    case "purge-binlogs":
      return (await import("../ops/purge")).purgeCommand;
    case "drift":
      return (await import("../ops/drift")).driftCommand;
    case "repair":
      return (await import("../ops/repair")).repairCommand;
    case "skip-event":
      return (await import("../ops/skip")).skipEventCommand;
    case "reseed":
      return (await import("../ops/reseed")).reseedCommand;
    case "backup-now":
      return (await import("../ops/backup")).backupNowCommand;
    case "restore":
      return (await import("../ops/backup")).restoreCommand;
    case "switchover":
      return (await import("../ops/switchover")).switchoverCommand;
    case "failover":
      return (await import("../ops/switchover")).failoverCommand;
  }
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** Runs one mirrorctl invocation; returns the exit status. */
export async function main(argv: readonly string[], io: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }): Promise<number> {
  let req: Request;
  try {
    req = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      if (e.message === "help") {
        io.out(`${USAGE}\n`);
        return 0;
      }
      io.err(`mirrorctl: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    throw e;
  }
  const fail = (code: number, message: string) => {
    if (req.json) io.out(`${JSON.stringify({ command: req.command, stack: req.stack, exitCode: code, error: message }, null, 2)}\n`);
    io.err(`mirrorctl ${req.command}: ${message}\n`);
    return code;
  };
  try {
    const ctx = await loadContext(req.stack);
    const h = await handler(req.command);
    // Progress goes to stderr so that stdout stays the table (or the JSON document).
    const result = await h(ctx, req, (line) => io.err(`${line}\n`));
    io.out(req.json ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text.replace(/\n*$/, "")}\n`);
    return result.exitCode;
  } catch (e) {
    if (e instanceof UsageError) return fail(2, e.message);
    if (e instanceof StackConfigError) return fail(2, `${e.message}\n  ${e.lines.join("\n  ")}`);
    return fail(req.command === "status" ? 2 : 1, errMsg(e));
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`mirrorctl: ${errMsg(e)}\n`);
      process.exitCode = 1;
    },
  );
}
