// mirrorctl repair --host <h>: `mariadb-check --check --auto-repair` (mysqlcheck on MySQL) of the replicated
// databases on one host. On the master only with --yes. Repairs are not written to the binary log
// (--skip-write-binlog): each host repairs its own tables, a repair on the master does not travel to the mirrors.

import { UsageError, type Request } from "./args";
import type { OpsContext } from "./context";
import { clientNames, run, shq } from "./hosts";
import { indent, table, type CommandResult } from "./output";

export interface CheckLine {
  readonly table: string;
  readonly status: string;
  readonly ok: boolean;
}

/** Parses mariadb-check output: `db.table   OK`, or a table line followed by `note :`/`error :`/`status :` lines. */
export function parseCheckOutput(stdout: string): CheckLine[] {
  const out: { table: string; lines: string[] }[] = [];
  for (const raw of stdout.split("\n")) {
    const line = raw.trimEnd();
    if (!line) continue;
    const m = /^(\S+\.\S+)\s*(.*)$/.exec(line);
    if (m && !/^(note|error|warning|status|info)\s*:/i.test(line)) {
      out.push({ table: m[1]!, lines: m[2] ? [m[2]] : [] });
    } else if (out.length > 0) {
      out[out.length - 1]!.lines.push(line.trim());
    } else {
      out.push({ table: "(general)", lines: [line.trim()] });
    }
  }
  return out.map((t) => {
    const status = t.lines.join("; ");
    // Bad: an error line, or a result that is neither OK nor only notes (e.g. "doesn't support check").
    const bad = t.lines.some((l) => /^error\s*:/i.test(l)) || (t.lines.length > 0 && !t.lines.some((l) => /\bOK\b/.test(l)) && !t.lines.every((l) => /^note\s*:/i.test(l)));
    return { table: t.table, status: status || "OK", ok: !bad };
  });
}

export async function repairCommand(ctx: OpsContext, req: Request): Promise<CommandResult> {
  const h = ctx.host(req.host!);
  if (h.role === "master" && !req.yes) {
    throw new UsageError(`${h.name} is the master: checking and repairing locks its tables while the site writes to them; add --yes to confirm`);
  }
  const tool = clientNames(ctx.cfg).check;
  const dbs = ctx.cfg.database.databases.map(shq).join(" ");
  const cmd = `${tool} --check --auto-repair --skip-write-binlog --databases ${ctx.cfg.database.databases.join(" ")}`;
  const script = `c=${shq(tool)}; command -v "$c" >/dev/null 2>&1 || c=mysqlcheck
"$c" --check --auto-repair --skip-write-binlog --databases ${dbs}`;
  const t0 = Date.now();
  const r = await run(ctx.target(h.name), script);
  if (r.unreachable) throw new Error(r.stderr);
  const lines = parseCheckOutput(r.stdout);
  const ok = r.code === 0 && lines.every((l) => l.ok);
  const text = [
    `${h.name}: ran ${cmd} (${((Date.now() - t0) / 1000).toFixed(1)}s, exit ${r.code})`,
    lines.length ? table(["TABLE", "RESULT"], lines.map((l) => [l.table, l.status])) : "(no tables checked)",
    ...(r.stderr.trim() ? [indent(r.stderr.trim(), "  ! ")] : []),
    ok ? `all ${lines.length} table(s) OK` : "PROBLEMS remain (see above)",
  ].join("\n");
  return { exitCode: ok ? 0 : 1, text, json: { stack: ctx.stack, host: h.name, command: cmd, exitCode: r.code, ok, tables: lines, stderr: r.stderr } };
}
