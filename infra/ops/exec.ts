// mirrorctl exec -- <command>: one command on every host (or --hosts), output grouped by host with its exit status.
// The master is only included with --yes: mirrorctl cannot tell a read-only command from one that is not, so
// every command that would run on the master needs the confirmation (simple, and no allowlist to get wrong).

import { execCommandLine, UsageError, type Request } from "./args";
import { selectHosts, type OpsContext } from "./context";
import { run } from "./hosts";
import { indent, mapLimit, type CommandResult } from "./output";

export interface ExecResult {
  readonly host: string;
  readonly role: "master" | "mirror";
  /** Exit status of the command; null when the host could not be reached. */
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly error?: string;
  readonly seconds: number;
}

/** Text output: one block per host, in stack order. */
export function formatExec(results: readonly ExecResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    const head = r.exitCode === null ? `unreachable: ${r.error ?? ""}` : `exit ${r.exitCode}`;
    out.push(`=== ${r.host} (${r.role}): ${head} (${r.seconds.toFixed(1)}s)`);
    if (r.stdout) out.push(indent(r.stdout));
    if (r.stderr) out.push(indent(r.stderr, "  ! "));
  }
  const failed = results.filter((r) => r.exitCode !== 0);
  out.push(failed.length === 0 ? `ok on all ${results.length} host(s)` : `failed on ${failed.map((r) => `${r.host} (${r.exitCode === null ? "unreachable" : `exit ${r.exitCode}`})`).join(", ")}`);
  return out.join("\n");
}

export async function execCommand(ctx: OpsContext, req: Request): Promise<CommandResult> {
  const hosts = selectHosts(ctx, req.hosts);
  const master = hosts.find((h) => h.role === "master");
  if (master && !req.yes) {
    throw new UsageError(
      `the command would also run on the master ${master.name}: add --yes to confirm, or leave the master out with --hosts ${ctx.cfg.mirrors.map((m) => m.name).join(",")}`,
    );
  }
  const line = execCommandLine(req.commandWords);
  const results = await mapLimit(hosts, req.parallel, async (h): Promise<ExecResult> => {
    const t0 = Date.now();
    const r = await run(ctx.target(h.name), line);
    const seconds = (Date.now() - t0) / 1000;
    if (r.unreachable) return { host: h.name, role: h.role, exitCode: null, stdout: "", stderr: "", error: r.stderr, seconds };
    return { host: h.name, role: h.role, exitCode: r.code, stdout: r.stdout, stderr: r.stderr, seconds };
  });
  const ok = results.every((r) => r.exitCode === 0);
  return { exitCode: ok ? 0 : 1, text: formatExec(results), json: { stack: ctx.stack, command: line, ok, hosts: results } };
}
