// mirrorctl reseed --host <mirror> --yes: copies the master onto one mirror again now and restarts its
// replication, with seedMirror (infra/replication/seed.ts), the same code the MirrorReplication resource runs:
// replication account, full reset of the mirror's replication, a consistent copy (database.seedMethod), source and
// coordinates in one statement, start, and a wait until the mirror has caught up (database.catchUpTimeoutSeconds).
//
// It does not go through Pulumi: the stack's state keeps the old seed report until the next `pulumi refresh`,
// and the stack config does not record the re-seed. To have the config record it, bump mirrors[i].reseed and run
// `pulumi up` instead (which re-seeds through the resource); mirrorctl says so after every run.

import type { SeedPlan } from "../replication/seed";
import { seedMirror } from "../replication/seed";
import { seedScripts } from "../render/scripts";
import { accountHost, replicationTls } from "../render/tls";
import { UsageError, type Request } from "./args";
import type { OpsContext } from "./context";
import { bytes, type CommandResult } from "./output";

/** The plan infra/index.ts builds for a mirror's MirrorReplication. */
export function seedPlanFor(ctx: OpsContext, mirror: string, password: string): SeedPlan {
  const cfg = ctx.cfg;
  const m = ctx.host(mirror);
  return {
    master: ctx.target(cfg.master.name),
    mirror: ctx.target(m.name),
    sourceHost: cfg.master.address,
    sourcePort: cfg.database.port,
    mirrorAddress: accountHost(cfg, m),
    tls: replicationTls(cfg, m),
    engine: ctx.engine,
    user: cfg.database.replicationUser,
    password,
    databases: [...cfg.database.databases],
    method: cfg.database.seedMethod,
    catchUpTimeoutSeconds: cfg.database.catchUpTimeoutSeconds,
    scripts: seedScripts({ kind: cfg.database.seedMethod, flavour: cfg.database.flavour, databases: cfg.database.databases, compression: cfg.database.seedCompression }),
  };
}

export async function reseedCommand(ctx: OpsContext, req: Request, progress: (l: string) => void): Promise<CommandResult> {
  const m = ctx.host(req.host!);
  if (m.role !== "mirror") throw new UsageError(`${m.name} is the master; reseed copies the master onto a mirror`);
  const { replicationPassword } = await ctx.secrets();
  if (!replicationPassword) throw new Error(`stack ${ctx.stack} has no replicationPassword secret`);
  const index = ctx.cfg.mirrors.findIndex((x) => x.name === m.name);
  progress(`${m.name}: re-seeding from ${ctx.cfg.master.name} (${ctx.cfg.database.seedMethod} copy of ${ctx.cfg.database.databases.join(", ")})`);
  const report = await seedMirror(seedPlanFor(ctx, m.name, replicationPassword), (msg) => progress(msg));
  const s = report.status;
  const text = [
    `${m.name}: re-seeded with a ${report.method} copy (${bytes(report.bytes)} streamed) in ${report.seconds.toFixed(1)}s, started at ${report.startFile}:${report.startPos}`,
    `${m.name}: caught up: IO ${s.ioRunning ? "Yes" : "No"}, SQL ${s.sqlRunning ? "Yes" : "No"}, ${s.secondsBehind ?? "?"} s behind, executed ${s.execFile}:${s.execPos}`,
    `note: the stack state shows the previous seed until \`npm run pulumi -- refresh --stack ${ctx.stack}\`. The stack config does not record this re-seed; to have it recorded, re-seed by setting mirrors[${index}].reseed to a new value (e.g. today's date) and running \`pulumi up\` instead of this command.`,
  ].join("\n");
  return { exitCode: 0, text, json: { stack: ctx.stack, host: m.name, report } };
}
