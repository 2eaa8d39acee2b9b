// mirrorctl switchover --to <mirror> [--dry-run] [--deadline S]: a planned change of master while the master is up.
// mirrorctl failover [--to <mirror>] [--accept-loss] [--dry-run] [--deadline S]: the master is gone, a mirror takes over.
//
// Switchover, each step checked, in this order:
//   1. preflight: every host answers; the master is writable, binary-logged and replicates from nobody; every
//      mirror replicates from it without an error, at most database.switchoverMaxLagSeconds behind, and holds no
//      transaction the master lacks (gtid_binlog_state compared, errant transactions named); the candidate has a
//      binary log with the replicated changes (log_bin + log_slave_updates) and its applied position is not ahead
//      of or beside the master's; under tls.enabled every host serves TLS with its certificate (one per host, for
//      both roles: render/tls.ts). A refusal changes nothing.
//   2. fence the old master: read_only (non-SUPER accounts can no longer write), a global read lock held by
//      mirrorctl's own session (nobody commits, SUPER / READ ONLY ADMIN included: MariaDB has no super_read_only),
//      and every client session ended except replication's and mirrorctl's.
//   3. wait until the candidate has applied the old master's last position.
//   4. promote it: replication stopped and forgotten (RESET SLAVE ALL), read_only off.
//   5. point the other mirrors and the old master at it by GTID (MASTER_USE_GTID=slave_pos from the old master's
//      last GTID position, which each reached first), without copying any data.
//   6. prove it: a heartbeat row written on the new master reaches every host; verify (chunk checksums) equal.
// Anything failing before step 4, or the deadline (database.switchoverDeadlineSeconds, --deadline) passing before
// it, undoes step 2: the lock released, read_only off; the old master takes writes again and nothing else changed.
//
// Failover: never automatic. Refused while the master answers (then it is a switchover), except that a master
// coming back after a failover is found (another host is the one the mirrors replicate from) and fenced
// read_only, and rejoined as a mirror by GTID when it holds nothing the new master lacks.
//
// Both print the stack-config change to commit (promote.ts masterChange). MariaDB only for now: the MySQL
// statements exist in dialect.ts, the orchestration is not tested on MySQL and refuses it.

import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { stackFilePath } from "../config";
import type { HostConfig, StackConfig } from "../config/types";
import { connectViaSsh, type DbSession } from "../replication/connect";
import { dialect, runAll, switchoverSql, type Dialect, type SwitchoverSql } from "../replication/dialect";
import { comparePositions, chooseCandidate, errantTransactions, formatGtidList, latestPosition, parseGtidList, type Gtid } from "../replication/gtid";
import { normalizeReplicaStatus, normalizeSourceStatus, type ReplicaStatus } from "../replication/status";
import { UsageError, type Request } from "./args";
import { contextOf, PROJECT_ROOT, type OpsContext } from "./context";
import { socketOptions } from "./hosts";
import { errMsg, mapLimit, type CommandResult } from "./output";
import { formatSteps, masterChange, rolesBefore, sessionsToEnd, toSessionRows, type Step } from "./promote";
import { verifyMirror } from "./verify";
import { on, readServerState, type ServerState } from "../replication/join";
import { accountHost, certCheckScript, replicationTls, TLS_FILES } from "../render/tls";
import { sshRun, type SshTarget } from "../ssh/exec";

export type { ServerState };

/** A run's log of steps, timed from its start, echoed as progress. */
class Run {
  readonly t0 = Date.now();
  readonly steps: Step[] = [];
  constructor(private readonly progress: (l: string) => void) {}
  ms(): number {
    return Date.now() - this.t0;
  }
  add(step: string, ok: boolean, detail: string): void {
    const s = { step, ok, detail, atMs: this.ms() };
    this.steps.push(s);
    this.progress(`${ok ? "ok" : "FAIL"} ${step}: ${detail}`);
  }
}

class Deadline {
  constructor(
    readonly at: number,
    readonly seconds: number,
  ) {}
  /** Whole seconds left (at least 1, so that a wait statement can still be issued and time out). */
  left(): number {
    return Math.max(1, Math.floor((this.at - Date.now()) / 1000));
  }
  passed(): boolean {
    return Date.now() > this.at;
  }
}

async function openAll(ctx: OpsContext, names: readonly string[], parallel: number): Promise<{ open: Map<string, DbSession>; failed: Map<string, string> }> {
  const open = new Map<string, DbSession>();
  const failed = new Map<string, string>();
  await mapLimit(names, parallel, async (n) => {
    try {
      open.set(n, await connectViaSsh(ctx.target(n), { ...socketOptions(ctx.cfg, n), connectTimeoutMs: 10_000 }));
    } catch (e) {
      failed.set(n, errMsg(e).replace(/^\[[^\]]*\] /, "").slice(0, 300));
    }
  });
  return { open, failed };
}

async function closeAll(sessions: Iterable<DbSession>): Promise<void> {
  await Promise.all([...sessions].map((s) => s.close()));
}

/** The config change as text: the diff, or why there is none. */
function configChangeText(ctx: OpsContext, newMaster: string, serverIds: ReadonlyMap<string, number>): { text: string; diff?: string } {
  const file = stackFilePath(PROJECT_ROOT, ctx.stack);
  try {
    const c = masterChange(readFileSync(file, "utf8"), `stacks/${basename(file)}`, { newMaster, serverIds });
    return { text: `stack-config change to commit (then review it with \`pulumi preview\`; see README "Switchover and failover" for what the next \`up\` does):\n${c.diff}`, diff: c.diff };
  } catch (e) {
    return { text: `(no config change printed: ${errMsg(e)})` };
  }
}

/**
 * Creates the replication account on `db` (the new master) for each replica, as seed.ts does for a mirror: its
 * account host, and under TLS the certificate it must present; not binary-logged.
 */
async function ensureAccounts(ctx: OpsContext, d: Dialect, db: DbSession, replicas: readonly HostConfig[], password: string): Promise<void> {
  for (const r of replicas) {
    const tls = replicationTls(ctx.cfg, r);
    await runAll(db, d.createReplicationUser({ user: ctx.cfg.database.replicationUser, host: accountHost(ctx.cfg, r), password, ...(tls ? { requireCertificate: tls.require } : {}) }));
  }
}

/**
 * STOP SLAVE, point `replica` at `source` by GTID from `gtid` (or the replica's own gtid_slave_pos), with its
 * client TLS settings under tls.enabled (as a mirror's own), START SLAVE.
 */
async function pointAt(ctx: OpsContext, d: Dialect, db: DbSession, source: HostConfig, replica: HostConfig, password: string, gtid: string | undefined, stop: boolean): Promise<void> {
  if (stop) await db.query(d.stopReplica());
  const tls = replicationTls(ctx.cfg, replica);
  await runAll(
    db,
    d.changeSource({
      host: source.address,
      port: ctx.cfg.database.port,
      user: ctx.cfg.database.replicationUser,
      password,
      position: gtid === undefined ? { kind: "gtid" } : { kind: "gtid", gtid },
      ...(tls ? { ssl: true, tls: tls.replica } : {}),
    }),
  );
  await db.query(d.startReplica());
}

/**
 * `[tls.enabled]` problems: under TLS every host that is to serve or replicate after the change must serve TLS
 * with the stack's certificate (my.cnf ssl_cert), and that certificate must be good for both roles at the host's
 * address (checked on the host with openssl). A host set up by a version that gave only the master a server
 * certificate gets both at its next `up` (with one restart of a mirror).
 */
async function tlsProblems(ctx: OpsContext, d: Dialect, open: ReadonlyMap<string, DbSession>, names: readonly string[]): Promise<string[]> {
  if (!ctx.cfg.tls.enabled) return [];
  const fix = "run `pulumi up` with this mirrorstack version first (it gives every host a certificate for both roles; a mirror's server restarts once)";
  const found = await Promise.all(
    names.map(async (n): Promise<string[]> => {
      const db = open.get(n);
      if (!db) return [];
      const p: string[] = [];
      const [row] = await db.query(d.serverTlsFiles());
      const cert = String(row?.ssl_cert ?? "");
      const serving = String(row?.have_ssl ?? "YES") === "YES";
      if (cert !== TLS_FILES.cert || !serving) {
        p.push(`[tls.enabled] ${n} does not serve TLS with the stack's certificate (ssl_cert ${cert ? `'${cert}'` : "not set"}${serving ? "" : `, have_ssl ${String(row?.have_ssl)}`}, expected '${TLS_FILES.cert}'): ${fix}`);
      }
      const r = await sshRun(ctx.target(n), certCheckScript(ctx.host(n))).catch((e) => ({ code: -1, stdout: "", stderr: errMsg(e) }));
      const lines = r.code === 0 ? r.stdout.split("\n").filter((l) => l.trim() !== "") : [`its certificate could not be checked (exit ${r.code}): ${r.stderr.trim().slice(-300)}`];
      for (const l of lines) p.push(`[tls.enabled] ${n}: ${l}: ${fix}`);
      return p;
    }),
  );
  return found.flat();
}

/** Writes a heartbeat on the new master and waits until each host has it; returns the problems. */
async function prove(ctx: OpsContext, d: Dialect, s: SwitchoverSql, newMaster: string, master: DbSession, others: ReadonlyMap<string, DbSession>, timeoutSeconds: number): Promise<string[]> {
  // Required here: the MasterRole provider carries this function (closure serialization takes no imported built-in).
  const crypto = require("crypto") as typeof import("crypto");
  const token = crypto.randomBytes(8).toString("hex");
  const db = ctx.cfg.database.databases[0]!;
  await runAll(master, s.writeHeartbeat(db, newMaster, token));
  const pos = String((await master.query(d.gtidPosition()))[0]?.gtid_binlog_pos ?? "");
  const problems: string[] = [];
  await Promise.all(
    [...others].map(async ([name, sess]) => {
      try {
        const w = d.waitForPosition({ gtid: pos }, timeoutSeconds);
        const [row] = await sess.query(w);
        const outcome = w.interpret(row?.result);
        const got = await sess.query(s.readHeartbeat(db)).catch(() => []);
        const st = normalizeReplicaStatus(await sess.query(d.showReplicaStatus()), name);
        if (outcome !== "reached" || String(got[0]?.token ?? "") !== token) {
          problems.push(`${name}: the heartbeat written on ${newMaster} did not arrive (${outcome}; IO ${st.ioRunning ? "running" : "stopped"}${st.lastIoError ? `: ${st.lastIoError}` : ""}, SQL ${st.sqlRunning ? "running" : "stopped"}${st.lastSqlError ? `: ${st.lastSqlError}` : ""})`);
        }
      } catch (e) {
        problems.push(`${name}: ${errMsg(e)}`);
      }
    }),
  );
  return problems;
}

/** verify (chunk checksums) of each host against the new master. */
async function verifyAgainst(ctx: OpsContext, newMaster: HostConfig, hosts: readonly string[], progress: (l: string) => void): Promise<string[]> {
  const view: OpsContext = { ...ctx, cfg: { ...ctx.cfg, master: newMaster } };
  const problems: string[] = [];
  for (const h of hosts) {
    const v = await verifyMirror(view, h, { chunkSize: 1000, timeoutSeconds: 120 }, progress);
    if (!v.equal) problems.push(`${h}: ${v.error ?? `${v.tables.filter((t) => !t.equal).map((t) => `${t.db}.${t.table}`).join(", ")} differ`}`);
  }
  return problems;
}

function checkMariaDb(ctx: OpsContext, command: string): void {
  if (ctx.engine.flavour !== "mariadb") throw new UsageError(`${command} is implemented for MariaDB only (database.flavour is ${ctx.engine.flavour})`);
}

function mirrorOf(ctx: OpsContext, name: string, command: string): HostConfig {
  const h = ctx.host(name);
  if (h.role !== "mirror") throw new UsageError(`${name} is the master already; ${command} --to names a mirror (${ctx.cfg.mirrors.map((m) => m.name).join(", ")})`);
  return h;
}

/** Preflight of a switchover: the reasons to refuse (empty: go). */
export function switchoverProblems(
  master: ServerState,
  mirrors: readonly ServerState[],
  candidate: string,
  opts: { masterAddress: string; maxLagSeconds: number; candidateApplied: readonly Gtid[] | null },
): string[] {
  const p: string[] = [];
  if (master.readOnly) p.push(`${master.name} (master) is read_only: it is not taking writes (fenced already? a failed switchover?)`);
  if (!master.logBin) p.push(`${master.name} (master) has no binary log`);
  if (master.replica) p.push(`${master.name} (master) replicates from ${master.replica.sourceHost}: it is not the master the config says`);
  for (const m of mirrors) {
    const r = m.replica;
    if (!r) {
      p.push(`${m.name}: replication is not configured`);
      continue;
    }
    if (r.sourceHost !== opts.masterAddress) p.push(`${m.name}: replicates from ${r.sourceHost}, not from ${master.name} (${opts.masterAddress})`);
    if (!r.ioRunning || !r.sqlRunning) p.push(`${m.name}: replication is not running (IO ${r.ioRunning ? "Yes" : "No"}, SQL ${r.sqlRunning ? "Yes" : "No"})`);
    if (r.lastIoError) p.push(`${m.name}: IO error ${r.lastIoErrno}: ${r.lastIoError}`);
    if (r.lastSqlError) p.push(`${m.name}: SQL error ${r.lastSqlErrno}: ${r.lastSqlError}`);
    if (r.secondsBehind === null || r.secondsBehind > opts.maxLagSeconds) {
      p.push(`${m.name}: ${r.secondsBehind === null ? "lag unknown" : `${r.secondsBehind} s behind`}, more than database.switchoverMaxLagSeconds (${opts.maxLagSeconds})`);
    }
    if (!m.readOnly) p.push(`${m.name}: not read_only (a mirror taking writes)`);
    const errant = errantTransactions(m.binlogState, master.binlogState);
    if (errant.length > 0) p.push(`${m.name}: errant transactions (in its binary log, not in the master's): ${formatGtidList(errant)}; undo them on that mirror without binary-logging (SET sql_log_bin = 0) and clear its binary log (RESET MASTER there), or re-seed it, before a switchover`);
  }
  const c = mirrors.find((m) => m.name === candidate);
  if (c) {
    if (!c.logBin || !c.logSlaveUpdates) {
      p.push(`${c.name}: no binary log with the replicated changes (log_bin ${c.logBin ? "ON" : "OFF"}, log_slave_updates ${c.logSlaveUpdates ? "ON" : "OFF"}): the other mirrors could not follow it; run \`pulumi up\` with this mirrorstack version first (it turns both on)`);
    }
    if (opts.candidateApplied) {
      const cmp = comparePositions(opts.candidateApplied, master.binlogPos);
      if (cmp.order === "ahead" || cmp.order === "diverged") {
        p.push(`${c.name}: its applied position ${formatGtidList(opts.candidateApplied)} is not within the master's ${formatGtidList(master.binlogPos)} (${[...cmp.extra, ...cmp.conflicting.map((x) => x.a)].map((g) => `${g.domain}-${g.server}-${g.seq}`).join(", ")})`);
      }
    }
  }
  return p;
}

export async function switchoverCommand(ctx: OpsContext, req: Request, progress: (l: string) => void): Promise<CommandResult> {
  return runSwitchover(ctx, req, progress, (newMaster, serverIds) => configChangeText(ctx, newMaster, serverIds));
}

/** The config change a run prints (mirrorctl: the diff of the stack file; `up`: none, the config is changed). */
type ChangeText = (newMaster: string, serverIds: ReadonlyMap<string, number>) => { text: string; diff?: string };

// The steps, apart from the stack file: `up` runs them from the MasterRole provider, whose code is serialized
// without the file reading (the closure serializer cannot take node:path under the test runner).
async function runSwitchover(ctx: OpsContext, req: Request, progress: (l: string) => void, changeText: ChangeText): Promise<CommandResult> {
  checkMariaDb(ctx, "switchover");
  const cand = mirrorOf(ctx, req.to!, "switchover");
  const oldMaster = ctx.cfg.master;
  const d = dialect(ctx.engine);
  const s = switchoverSql(ctx.engine);
  const run = new Run(progress);
  const seconds = req.deadlineSeconds ?? ctx.cfg.database.switchoverDeadlineSeconds;
  const deadline = new Deadline(run.t0 + seconds * 1000, seconds);
  const others = ctx.cfg.mirrors.filter((m) => m.name !== cand.name);
  const result = (exitCode: number, extra: Record<string, unknown>, lines: string[]): CommandResult => ({
    exitCode,
    text: [formatSteps(run.steps), ...lines].join("\n"),
    json: { stack: ctx.stack, command: "switchover", from: oldMaster.name, to: cand.name, dryRun: req.dryRun, deadlineSeconds: seconds, steps: run.steps, ...extra },
  });

  const { replicationPassword } = await ctx.secrets();
  if (!replicationPassword) throw new Error(`stack ${ctx.stack} has no replicationPassword secret`);
  const { open, failed } = await openAll(ctx, ctx.cfg.hosts.map((h) => h.name), req.parallel);
  // A second session on the old master holds the global read lock; the first one reads, kills and undoes.
  let fence: DbSession | undefined;
  try {
    if (failed.size > 0) {
      run.add("preflight", false, [...failed].map(([h, e]) => `${h} unreachable: ${e}`).join("; "));
      return result(1, { changed: false }, [`REFUSED: nothing changed; ${oldMaster.name} stays the master`]);
    }
    const master = open.get(oldMaster.name)!;
    // The mirrors first, the master last: under writes a mirror read after the master could hold the master's
    // newer transactions and look errant.
    const states = new Map<string, ServerState>();
    for (const m of ctx.cfg.mirrors) states.set(m.name, await readServerState(open.get(m.name)!, d, s, m.name));
    states.set(oldMaster.name, await readServerState(master, d, s, oldMaster.name));
    const mst = states.get(oldMaster.name)!;
    // The candidate's applied position in GTIDs, from its executed master coordinates (right in either mode).
    const cr = states.get(cand.name)!.replica;
    let candidateApplied: Gtid[] | null = null;
    if (cr?.execFile && cr.execPos !== null) {
      const [row] = await master.query(d.gtidForCoordinates(cr.execFile, cr.execPos));
      candidateApplied = parseGtidList(String(row?.gtid ?? ""));
    }
    const problems = [
      ...switchoverProblems(mst, ctx.cfg.mirrors.map((m) => states.get(m.name)!), cand.name, {
        masterAddress: oldMaster.address,
        maxLagSeconds: ctx.cfg.database.switchoverMaxLagSeconds,
        candidateApplied,
      }),
      ...(await tlsProblems(ctx, d, open, ctx.cfg.hosts.map((h) => h.name))),
    ];
    const serverIds = new Map([...states].map(([n, st]) => [n, st.serverId] as const));
    const change = changeText(cand.name, serverIds);
    if (problems.length > 0) {
      run.add("preflight", false, problems.join("; "));
      return result(1, { changed: false, problems }, ["REFUSED: nothing changed; " + `${oldMaster.name} stays the master and writable`, ...problems.map((x) => `  ${x}`)]);
    }
    run.add("preflight", true, `${ctx.cfg.hosts.length} hosts answer; every mirror replicates from ${oldMaster.name} within ${ctx.cfg.database.switchoverMaxLagSeconds} s; no errant transactions${ctx.cfg.tls.enabled ? "; every host serves TLS with its certificate" : ""}; ${cand.name} is binary-logged with the replicated changes at ${formatGtidList(candidateApplied ?? []) || "?"} (master ${formatGtidList(mst.binlogPos)})`);
    if (req.dryRun) {
      return result(0, { changed: false, configDiff: change.diff }, [
        `dry run: every check passed and nothing was changed. A switchover would fence ${oldMaster.name}, wait for ${cand.name}, promote it and point ${[...others.map((o) => o.name), oldMaster.name].join(", ")} at it by GTID (deadline ${seconds} s).`,
        change.text,
      ]);
    }

    // 2. Fence.
    fence = await connectViaSsh(ctx.target(oldMaster.name), socketOptions(ctx.cfg, oldMaster.name));
    let fencedAt = 0;
    let final: { file: string; pos: number; gtid: string };
    const undo = async (why: string): Promise<CommandResult> => {
      const errs: string[] = [];
      await fence!.query(s.unlockTables()).catch((e) => errs.push(errMsg(e)));
      await fence!.close();
      fence = undefined;
      await runAll(master, s.setReadOnly(false)).catch((e) => errs.push(errMsg(e)));
      const ro = await master.query(s.serverState()).then((r) => on(r[0]?.read_only)).catch(() => true);
      run.add("undo", !ro && errs.length === 0, ro ? `${oldMaster.name} could NOT be made writable again: ${errs.join("; ")}` : `${oldMaster.name} writable again, lock released, nothing else was changed`);
      return result(1, { changed: false, writeGapSeconds: fencedAt ? (Date.now() - fencedAt) / 1000 : 0 }, [`ABORTED before the promotion: ${why}`, `${oldMaster.name} stays the master${ro ? " BUT IS STILL READ-ONLY: SET GLOBAL read_only = 0 there by hand" : " and takes writes again"}`]);
    };
    try {
      const lockWait = Math.min(5, deadline.left());
      await master.query(s.lockWaitTimeout(lockWait));
      await fence.query(s.lockWaitTimeout(lockWait));
      fencedAt = Date.now();
      await runAll(master, s.setReadOnly(true));
      await fence.query(s.globalReadLock());
      const fenceId = Number((await fence.query(s.connectionId()))[0]?.id);
      const ended = sessionsToEnd(toSessionRows(await master.query(s.otherSessions()))).filter((x) => x.id !== fenceId);
      for (const x of ended) await master.query(s.killConnection(x.id)).catch(() => undefined); // gone already
      const src = normalizeSourceStatus(await master.query(d.showSourceStatus()), oldMaster.name);
      const gtid = String((await master.query(d.gtidPosition()))[0]?.gtid_binlog_pos ?? "");
      final = { file: src.file, pos: src.pos, gtid };
      run.add("fence", true, `${oldMaster.name}: read_only, global read lock held, ${ended.length} client session(s) ended; last position ${src.file}:${src.pos} (${gtid})`);
    } catch (e) {
      run.add("fence", false, errMsg(e));
      return await undo(`fencing ${oldMaster.name} failed: ${errMsg(e)}`);
    }

    // 3. Wait for the candidate.
    const candDb = open.get(cand.name)!;
    try {
      const w = d.waitForPosition({ file: final.file, pos: final.pos }, deadline.left());
      const [row] = await candDb.query(w);
      const outcome = w.interpret(row?.result);
      if (outcome !== "reached") throw new Error(`${cand.name} did not apply ${final.file}:${final.pos} (${outcome})`);
      const st = normalizeReplicaStatus(await candDb.query(d.showReplicaStatus()), cand.name);
      if (st.lastSqlError) throw new Error(`${cand.name}: SQL error ${st.lastSqlErrno}: ${st.lastSqlError}`);
      if (deadline.passed()) throw new Error(`the deadline of ${seconds} s passed`);
      run.add("catch up", true, `${cand.name} applied ${final.file}:${final.pos}`);
    } catch (e) {
      run.add("catch up", false, errMsg(e));
      return await undo(errMsg(e));
    }

    // 4. Promote. From here on there is no way back to the old master: problems are reported, not undone.
    try {
      await candDb.query(d.stopReplica());
      await candDb.query(d.resetReplicaAll());
      await runAll(candDb, [...s.setStrictMode(true), ...s.setReadOnly(false)]);
    } catch (e) {
      run.add("promote", false, errMsg(e));
      // Nothing was written on the candidate: read_only again (the statement may have taken effect with its reply
      // lost), its replication started again and the old master unfenced restore the old setup.
      await runAll(candDb, s.setReadOnly(true)).catch(() => undefined);
      await candDb.query(d.startReplica()).catch(() => undefined);
      return await undo(`promoting ${cand.name} failed: ${errMsg(e)}`);
    }
    const promotedAt = Date.now();
    const gap = (promotedAt - fencedAt) / 1000;
    run.add("promote", true, `${cand.name} replicates from nobody and is writable: no write was accepted for ${gap.toFixed(2)} s`);

    // 5. Repoint the other mirrors and the old master.
    const problems2: string[] = [];
    try {
      await ensureAccounts(ctx, d, candDb, [...others, oldMaster], replicationPassword);
    } catch (e) {
      problems2.push(`replication accounts on ${cand.name}: ${errMsg(e)}`);
    }
    await Promise.all(
      others.map(async (o) => {
        const db = open.get(o.name)!;
        try {
          const w = d.waitForPosition({ file: final.file, pos: final.pos }, 60);
          const [row] = await db.query(w);
          if (w.interpret(row?.result) !== "reached") throw new Error(`did not reach ${final.file}:${final.pos} from ${oldMaster.name}`);
          await pointAt(ctx, d, db, cand, o, replicationPassword, final.gtid, true);
          run.add("repoint", true, `${o.name} replicates from ${cand.name} by GTID from ${final.gtid}`);
        } catch (e) {
          problems2.push(`${o.name}: ${errMsg(e)}`);
          run.add("repoint", false, `${o.name}: ${errMsg(e)}`);
        }
      }),
    );
    try {
      // The lock goes only once the old master has no client left: then it becomes a replica (read_only stays).
      const fenceId = Number((await fence.query(s.connectionId()))[0]?.id);
      for (const x of sessionsToEnd(toSessionRows(await master.query(s.otherSessions()))).filter((x) => x.id !== fenceId)) {
        await master.query(s.killConnection(x.id)).catch(() => undefined);
      }
      await fence.query(s.unlockTables());
      await pointAt(ctx, d, master, cand, oldMaster, replicationPassword, final.gtid, false);
      run.add("repoint", true, `${oldMaster.name} (old master) is read_only and replicates from ${cand.name} by GTID from ${final.gtid}`);
    } catch (e) {
      problems2.push(`${oldMaster.name}: ${errMsg(e)}`);
      run.add("repoint", false, `${oldMaster.name}: ${errMsg(e)}`);
    }

    // 6. Prove.
    const rest = new Map([...others.map((o) => [o.name, open.get(o.name)!] as const), [oldMaster.name, master] as const]);
    const proof = await prove(ctx, d, s, cand.name, candDb, rest, 60).catch((e) => [errMsg(e)]);
    run.add("prove", proof.length === 0, proof.length === 0 ? `a heartbeat written on ${cand.name} reached ${[...rest.keys()].join(", ")}` : proof.join("; "));
    problems2.push(...proof);
    const diffs = await verifyAgainst(ctx, cand, [...rest.keys()], progress).catch((e) => [errMsg(e)]);
    run.add("verify", diffs.length === 0, diffs.length === 0 ? `${[...rest.keys()].join(", ")} equal to ${cand.name} (chunk checksums)` : diffs.join("; "));
    problems2.push(...diffs);
    const ok = problems2.length === 0;
    return result(ok ? 0 : 1, { changed: true, newMaster: cand.name, writeGapSeconds: gap, problems: problems2, configDiff: change.diff }, [
      ok ? `switchover done: ${cand.name} is the master; no write was accepted for ${gap.toFixed(2)} s` : `switchover done with problems (${cand.name} is the master): ${problems2.join("; ")}`,
      change.text,
    ]);
  } finally {
    if (fence) {
      await fence.query(s.unlockTables()).catch(() => undefined);
      await fence.close();
    }
    await closeAll(open.values());
  }
}

/**
 * A failover candidate's own writes (its server_id in its binary log) that no other answering mirror has: errant
 * (written on it as a mirror, never replicated). What it wrote as the master before a switchover back is in the
 * other mirrors' binary logs, so it is not named. With no other mirror answering nothing can be confirmed. Pure.
 */
export function ownErrant(cand: ServerState, others: readonly ServerState[]): Gtid[] {
  const own = cand.binlogState.filter((g) => g.server === cand.serverId);
  const seen = new Map<string, number>();
  for (const g of others.flatMap((o) => o.binlogState)) {
    const k = `${g.domain}-${g.server}`;
    seen.set(k, Math.max(seen.get(k) ?? -1, g.seq));
  }
  return own.filter((g) => (seen.get(`${g.domain}-${g.server}`) ?? -1) < g.seq);
}

/** Applied position of a failover candidate once its relay log is applied (or its SQL thread stopped). */
async function drainRelayLog(db: DbSession, d: Dialect, name: string, deadline: Deadline): Promise<ReplicaStatus> {
  for (;;) {
    const st = normalizeReplicaStatus(await db.query(d.showReplicaStatus()), name);
    const drained = st.readFile === st.execFile && st.readPos === st.execPos;
    if (drained || !st.sqlRunning || deadline.passed()) return st;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function failoverCommand(ctx: OpsContext, req: Request, progress: (l: string) => void): Promise<CommandResult> {
  checkMariaDb(ctx, "failover");
  if (req.to) mirrorOf(ctx, req.to, "failover");
  const d = dialect(ctx.engine);
  const s = switchoverSql(ctx.engine);
  const run = new Run(progress);
  const seconds = req.deadlineSeconds ?? ctx.cfg.database.switchoverDeadlineSeconds;
  const deadline = new Deadline(run.t0 + seconds * 1000, seconds);
  const result = (exitCode: number, extra: Record<string, unknown>, lines: string[]): CommandResult => ({
    exitCode,
    text: [formatSteps(run.steps), ...lines].join("\n"),
    json: { stack: ctx.stack, command: "failover", dryRun: req.dryRun, steps: run.steps, ...extra },
  });
  const { replicationPassword } = await ctx.secrets();
  if (!replicationPassword) throw new Error(`stack ${ctx.stack} has no replicationPassword secret`);
  const { open, failed } = await openAll(ctx, ctx.cfg.hosts.map((h) => h.name), req.parallel);
  try {
    const states = new Map<string, ServerState>();
    for (const [n, db] of open) {
      try {
        states.set(n, await readServerState(db, d, s, n));
      } catch (e) {
        failed.set(n, errMsg(e));
        await db.close();
        open.delete(n);
      }
    }
    // Which host the answering mirrors replicate from, and which hosts replicate from nobody ("primaries").
    const byAddress = new Map(ctx.cfg.hosts.map((h) => [h.address, h.name] as const));
    const sources = new Set([...states.values()].filter((x) => x.replica).map((x) => byAddress.get(x.replica!.sourceHost) ?? x.replica!.sourceHost));
    const primaries = [...states.values()].filter((x) => !x.replica);
    const configured = ctx.cfg.master.name;

    // A master is answering. Failover is for a master that is gone; what is left to do is a returning old master.
    const live = primaries.filter((p) => sources.has(p.name));
    const stale = primaries.filter((p) => !sources.has(p.name));
    if (live.length === 1 && stale.length > 0) return await rejoinStale(ctx, d, s, run, req, open, live[0]!, stale, replicationPassword, result);
    if (live.length === 1 && live[0]!.name !== configured) {
      // An earlier failover (or switchover) made another host the master; the config does not say so yet.
      const serverIds = new Map(ctx.cfg.hosts.map((h) => [h.name, states.get(h.name)?.serverId ?? h.serverId] as const));
      const change = configChangeText(ctx, live[0]!.name, serverIds);
      run.add("master", true, `${live[0]!.name} is the master already (the mirrors replicate from it); ${configured} ${states.has(configured) ? "replicates from it" : "does not answer"}`);
      return result(0, { changed: false, newMaster: live[0]!.name, configDiff: change.diff }, [`nothing to do: ${live[0]!.name} is the master already`, change.text]);
    }
    if (states.has(configured)) {
      run.add("preflight", false, `${configured} (master) answers: there is nothing to fail over`);
      return result(2, { changed: false }, [`REFUSED: nothing changed: ${configured} answers; use \`mirrorctl switchover --to <mirror>\` for a planned change`]);
    }
    run.add("master", true, `${configured} does not answer (${failed.get(configured) ?? "not a master"})`);
    const mirrors = ctx.cfg.mirrors.filter((m) => states.get(m.name)?.replica);
    const unreachable = ctx.cfg.mirrors.filter((m) => !states.get(m.name)?.replica).map((m) => `${m.name} (${failed.get(m.name) ?? "replication not configured"})`);
    // Apply what each mirror received before comparing (the master is gone: nothing more arrives).
    const applied = new Map<string, ReplicaStatus>();
    await Promise.all(mirrors.map(async (m) => applied.set(m.name, await drainRelayLog(open.get(m.name)!, d, m.name, deadline))));
    const positions = new Map<string, Gtid[]>();
    for (const m of mirrors) {
      const st = normalizeReplicaStatus(await open.get(m.name)!.query(d.showReplicaStatus()), m.name);
      const [row] = await open.get(m.name)!.query(s.serverState());
      positions.set(m.name, parseGtidList(String(row?.gtid_slave_pos ?? "")));
      applied.set(m.name, st);
    }
    run.add(
      "positions",
      true,
      mirrors.map((m) => `${m.name} ${formatGtidList(positions.get(m.name)!) || "(empty)"}${applied.get(m.name)!.lastSqlError ? ` (SQL error: ${applied.get(m.name)!.lastSqlError})` : ""}`).join("; ") + (unreachable.length ? `; unreachable: ${unreachable.join(", ")}` : ""),
    );
    // A mirror seeded by coordinates that has replicated nothing since has no GTID position: where it stands in
    // GTIDs is unknown, so it is neither chosen nor pointed anywhere by GTID (re-seed it from the new master).
    const noGtid = new Set(mirrors.filter((m) => positions.get(m.name)!.length === 0).map((m) => m.name));
    const notPromotable = (st: ServerState) =>
      noGtid.has(st.name)
        ? "no GTID position (nothing replicated since it was seeded)"
        : !st.logBin || !st.logSlaveUpdates
          ? `no binary log with the replicated changes (log_bin ${st.logBin ? "ON" : "OFF"}, log_slave_updates ${st.logSlaveUpdates ? "ON" : "OFF"}): the other mirrors could not follow it`
          : undefined;
    const choice = chooseCandidate(
      mirrors.map((m) => {
        const why = notPromotable(states.get(m.name)!);
        return { name: m.name, position: positions.get(m.name)!, ...(why ? { notPromotable: why } : {}) };
      }),
      { ...(req.to ? { named: req.to } : {}), acceptLoss: req.acceptLoss },
    );
    if (!choice.ok) {
      run.add("choose", false, choice.reason);
      return result(1, { changed: false }, [`REFUSED: nothing changed: ${choice.reason}`]);
    }
    const cand = ctx.host(choice.name);
    const cst = states.get(cand.name)!;
    const own = ownErrant(cst, mirrors.filter((m) => m.name !== cand.name && states.has(m.name)).map((m) => states.get(m.name)!));
    const problems: string[] = [];
    if (own.length > 0) problems.push(`${cand.name} holds errant transactions of its own: ${formatGtidList(own)}${mirrors.length < 2 ? " (no other mirror answers to show they reached the master: if it wrote them as the master before a switchover back, remove them from its binary log state only after checking)" : ""}`);
    problems.push(...(await tlsProblems(ctx, d, open, [cand.name, ...mirrors.filter((m) => m.name !== cand.name).map((m) => m.name)])));
    if (problems.length > 0) {
      run.add("choose", false, problems.join("; "));
      return result(1, { changed: false, choice }, [`REFUSED: nothing changed: ${problems.join("; ")}`]);
    }
    run.add("choose", true, `${cand.name}: ${choice.why}`);
    const serverIds = new Map([...states].map(([n, st]) => [n, st.serverId] as const));
    serverIds.set(configured, ctx.cfg.master.serverId);
    const change = configChangeText(ctx, cand.name, serverIds);
    const rest = mirrors.filter((m) => m.name !== cand.name);
    if (req.dryRun) {
      return result(0, { changed: false, choice, configDiff: change.diff }, [
        `dry run: nothing was changed. A failover would promote ${cand.name} and point ${rest.map((r) => r.name).join(", ") || "no other mirror"} at it by GTID.`,
        change.text,
      ]);
    }
    const candDb = open.get(cand.name)!;
    await candDb.query(d.stopReplica());
    await candDb.query(d.resetReplicaAll());
    await runAll(candDb, [...s.setStrictMode(true), ...s.setReadOnly(false)]);
    run.add("promote", true, `${cand.name} replicates from nobody and is writable`);
    const problems2: string[] = [];
    await ensureAccounts(ctx, d, candDb, [...rest, ctx.cfg.master], replicationPassword).catch((e) => problems2.push(`replication accounts on ${cand.name}: ${errMsg(e)}`));
    for (const o of rest) {
      if (noGtid.has(o.name)) {
        problems2.push(`${o.name}: not pointed at ${cand.name}: it has no GTID position; re-seed it (mirrorctl reseed, after committing the config change)`);
        run.add("repoint", false, problems2[problems2.length - 1]!);
        continue;
      }
      try {
        await pointAt(ctx, d, open.get(o.name)!, cand, o, replicationPassword, undefined, true);
        run.add("repoint", true, `${o.name} replicates from ${cand.name} by GTID from its own position ${formatGtidList(positions.get(o.name)!)}`);
      } catch (e) {
        problems2.push(`${o.name}: ${errMsg(e)}`);
        run.add("repoint", false, `${o.name}: ${errMsg(e)}`);
      }
    }
    const others = new Map(rest.filter((o) => !noGtid.has(o.name)).map((o) => [o.name, open.get(o.name)!] as const));
    const proof = others.size ? await prove(ctx, d, s, cand.name, candDb, others, 60).catch((e) => [errMsg(e)]) : [];
    run.add("prove", proof.length === 0, proof.length === 0 ? `a heartbeat written on ${cand.name} reached ${[...others.keys()].join(", ") || "no other host"}` : proof.join("; "));
    problems2.push(...proof);
    const ok = problems2.length === 0;
    return result(ok ? 0 : 1, { changed: true, newMaster: cand.name, choice, problems: problems2, configDiff: change.diff }, [
      ok ? `failover done: ${cand.name} is the master` : `failover done with problems (${cand.name} is the master): ${problems2.join("; ")}`,
      `${configured} (the old master) must not take writes when it comes back: run \`mirrorctl failover --stack ${ctx.stack}\` again once it answers; it fences it read_only and rejoins it as a mirror when it holds nothing ${cand.name} lacks.`,
      change.text,
    ]);
  } finally {
    await closeAll(open.values());
  }
}

/**
 * A host that replicates from nobody while the mirrors replicate from another one: an old master back after a
 * failover. Fenced read_only at once (clients ended); rejoined by GTID when its binary log holds nothing the new
 * master lacks, else left fenced with the transactions named (re-seed it).
 */
async function rejoinStale(
  ctx: OpsContext,
  d: Dialect,
  s: SwitchoverSql,
  run: Run,
  req: Request,
  open: Map<string, DbSession>,
  live: ServerState,
  stale: readonly ServerState[],
  password: string,
  result: (exitCode: number, extra: Record<string, unknown>, lines: string[]) => CommandResult,
): Promise<CommandResult> {
  const liveHost = ctx.host(live.name);
  const lines: string[] = [];
  let exitCode = 0;
  const rejoined: string[] = [];
  for (const st of stale) {
    const db = open.get(st.name)!;
    const errant = errantTransactions(st.binlogState, live.binlogState);
    const why = errant.length === 0 ? `its binary log holds nothing ${live.name} lacks (last ${formatGtidList(st.binlogPos)})` : `it holds transactions ${live.name} lacks: ${formatGtidList(errant)} (written after the failover's last replicated transaction, or never replicated)`;
    run.add("second master", false, `${st.name} replicates from nobody${st.readOnly ? " (read_only)" : " and TAKES WRITES"} while the mirrors replicate from ${live.name}`);
    if (req.dryRun) {
      lines.push(`dry run: ${st.name} would be fenced read_only and ${errant.length === 0 ? "rejoined as a mirror of " + live.name + " by GTID" : "left fenced (re-seed it)"}: ${why}`);
      exitCode = 1;
      continue;
    }
    await runAll(db, [...s.setReadOnly(true), ...s.setStrictMode(false)]);
    for (const x of sessionsToEnd(toSessionRows(await db.query(s.otherSessions())))) await db.query(s.killConnection(x.id)).catch(() => undefined);
    run.add("fence", true, `${st.name}: read_only (gtid_strict_mode off, as on a mirror), client sessions ended`);
    if (errant.length > 0) {
      run.add("rejoin", false, `${st.name} not rejoined: ${why}`);
      lines.push(`${st.name} is fenced read_only but NOT rejoined: ${why}. Commit the config change, then copy ${live.name} onto it: mirrorctl reseed --stack ${ctx.stack} --host ${st.name} --yes`);
      exitCode = 1;
      continue;
    }
    try {
      await ensureAccounts(ctx, d, open.get(live.name)!, [ctx.host(st.name)], password);
      // Where it stands: the later of what it wrote (binary log) and what it applied as a replica.
      await pointAt(ctx, d, db, liveHost, ctx.host(st.name), password, formatGtidList(latestPosition(st.binlogPos, st.slavePos)), false);
      const proof = await prove(ctx, d, s, live.name, open.get(live.name)!, new Map([[st.name, db]]), 60);
      if (proof.length > 0) throw new Error(proof.join("; "));
      run.add("rejoin", true, `${st.name} replicates from ${live.name} by GTID: ${why}`);
      rejoined.push(st.name);
    } catch (e) {
      run.add("rejoin", false, `${st.name}: ${errMsg(e)}`);
      exitCode = 1;
    }
  }
  const serverIds = new Map<string, number>([[live.name, live.serverId], ...stale.map((x) => [x.name, x.serverId] as const)]);
  for (const h of ctx.cfg.hosts) if (!serverIds.has(h.name)) serverIds.set(h.name, h.serverId);
  const change = ctx.cfg.master.name === live.name ? { text: `the stack config already names ${live.name} as the master` } : configChangeText(ctx, live.name, serverIds);
  return result(exitCode, { changed: !req.dryRun, newMaster: live.name, rejoined, configDiff: "diff" in change ? change.diff : undefined }, [...lines, change.text]);
}

/** What `up` did about a new master in the stack config (the MasterRole resource's outputs). */
export interface MasterChangeReport {
  readonly from: string;
  readonly to: string;
  /** switched: this run did the switchover; found: it was done already (mirrorctl switchover / failover). */
  readonly how: "switched" | "found";
  readonly detail: string;
  readonly writeGapSeconds?: number;
  readonly steps?: readonly Step[];
}

/** `[master.serverId]` / `[mirrors[i].serverId]` problems: a host whose running server_id the new config would change. */
function serverIdProblems(cfg: StackConfig, states: ReadonlyMap<string, ServerState>): string[] {
  const key = (name: string) => (cfg.master.name === name ? "master.serverId" : `mirrors[${cfg.mirrors.findIndex((m) => m.name === name)}].serverId`);
  return cfg.hosts
    .filter((h) => states.has(h.name) && states.get(h.name)!.serverId !== h.serverId)
    .map((h) => `[${key(h.name)}] ${h.name} runs with server_id ${states.get(h.name)!.serverId} but the config gives it ${h.serverId}: write \`serverId: ${states.get(h.name)!.serverId}\` for it (mirrorctl switchover --dry-run prints the whole change); a server whose id changes under replication skips or re-applies events`);
}

/**
 * `up` with a stack config that names another master (`cfg.master`, a mirror until now; `from` the master of the
 * last run): the switchover, unless it was done already. Done already: `cfg.master` is writable and replicates
 * from nobody. Otherwise the old master must answer (a master that does not is a failover, which is never
 * automatic) and `mirrorctl switchover`'s steps run as they do for the command, with its deadline; anything short
 * of done throws, with the steps. Before anything changes, every answering host must run with the server_id the
 * config gives it. MariaDB only (as the command); under TLS as well.
 */
export async function applyMasterChange(
  stack: string,
  cfg: StackConfig,
  targets: ReadonlyMap<string, SshTarget>,
  password: string,
  from: string,
  progress: (l: string) => void = () => undefined,
): Promise<MasterChangeReport> {
  const to = cfg.master.name;
  const secrets = async () => ({ replicationPassword: password, backupPassphrase: "" });
  const now = contextOf(stack, cfg, targets, secrets);
  checkMariaDb(now, "a switchover by config change");
  const d = dialect(now.engine);
  const s = switchoverSql(now.engine);
  const { open, failed } = await openAll(now, cfg.hosts.map((h) => h.name), 8);
  try {
    const db = open.get(to);
    if (!db) throw new Error(`[master.name] the new master ${to} does not answer: ${failed.get(to)} (a host must be a replicating mirror before it can be named the master: add it to mirrors first, then name it in a later up)`);
    const states = new Map<string, ServerState>();
    for (const [n, sess] of open) states.set(n, await readServerState(sess, d, s, n));
    const ids = serverIdProblems(cfg, states);
    if (ids.length > 0) throw new Error(`switchover from ${from} to ${to} refused, nothing changed:\n  ${ids.join("\n  ")}`);
    const st = states.get(to)!;
    // Done already: `to` replicates from nobody and is writable, or (restarted with its mirror my.cnf since) others
    // replicate from it.
    const followsTo = (n: string) => states.get(n)?.replica?.sourceHost === cfg.master.address;
    if (!st.replica && (!st.readOnly || followsTo(from) || cfg.mirrors.some((m) => followsTo(m.name)))) {
      // ... and it is this site's promoted mirror: a host replicates from it, or it holds everything the old master
      // (when that answers) wrote. A server that never replicated from the old master (a new host's own database)
      // is no master of this site.
      const fromSt = states.get(from);
      const contained = !fromSt || ["behind", "equal"].includes(comparePositions(fromSt.binlogPos, latestPosition(st.binlogPos, st.slavePos)).order);
      if (!followsTo(from) && !cfg.mirrors.some((m) => followsTo(m.name)) && !contained) {
        throw new Error(`[master.name] ${to} replicates from nobody, no host replicates from it, and it lacks what ${from} wrote: it is not a promoted mirror of ${from}; nothing changed (mirrorctl failover decides between them)`);
      }
      // The config names the master: an old master that takes writes (back after a failover, or restarted with its
      // master my.cnf after a switchover) is fenced at once (read_only, clients ended). Its transactions are
      // compared after the fence, so that none written meanwhile is missed; when it holds some the master lacks,
      // `up` stops and names them (its replication would refuse to copy over them anyway).
      const old = states.get(from);
      const oldDb = open.get(from);
      let fenced = "";
      if (old && oldDb && !old.readOnly) {
        await runAll(oldDb, [...s.setReadOnly(true), ...s.setStrictMode(false)]);
        for (const x of sessionsToEnd(toSessionRows(await oldDb.query(s.otherSessions())))) await oldDb.query(s.killConnection(x.id)).catch(() => undefined);
        const after = await readServerState(oldDb, d, s, from);
        const errant = errantTransactions(after.binlogState, [...st.binlogState, ...st.slavePos]);
        if (errant.length > 0) {
          throw new Error(`[master.name] ${from} took writes while ${to} is the master: fenced now (read_only, client sessions ended). It holds transactions ${to} lacks: ${formatGtidList(errant)}. Save what you need from it; then set mirrors[].reseed for ${from} to copy ${to} onto it.`);
        }
        fenced = `; ${from} took writes and was fenced (read_only, client sessions ended); it holds nothing ${to} lacks`;
      }
      const following = cfg.mirrors.filter((m) => followsTo(m.name)).map((m) => m.name);
      return { from, to, how: "found", detail: `${to} is the master already (replicates from nobody${st.readOnly ? "; read_only until its my.cnf is applied" : ""})${following.length ? `; ${following.join(", ")} replicate from it` : ""}${fenced}${failed.size ? `; not answering: ${[...failed.keys()].join(", ")}` : ""}` };
    }
    if (!cfg.mirrors.some((m) => m.name === from)) {
      throw new Error(`[mirrors] ${to} is not the master yet and the old master ${from} is not in the config: promote ${to} first (mirrorctl switchover, or mirrorctl failover when ${from} is gone), or list ${from} among the mirrors`);
    }
    if (failed.has(from)) {
      throw new Error(`[master.name] ${to} is not the master yet and the old master ${from} does not answer (${failed.get(from)}): that is a failover, which is never automatic: mirrorctl failover --stack ${stack} --to ${to}`);
    }
  } finally {
    await closeAll(open.values());
  }
  const before = contextOf(stack, rolesBefore(cfg, from), targets, secrets);
  const r = await runSwitchover(before, { command: "switchover", stack, json: true, parallel: 8, yes: true, dryRun: false, recordOnly: false, keep: false, acceptLoss: false, format: "text", commandWords: [], to }, progress, () => ({ text: "" }));
  const json = r.json as { writeGapSeconds?: number; steps?: Step[]; changed?: boolean };
  if (r.exitCode !== 0) {
    throw new Error(`[master.name] switchover from ${from} to ${to} ${json.changed ? "done with problems" : "refused or undone: " + from + " stays the master"}:\n${r.text}`);
  }
  return { from, to, how: "switched", detail: `${to} is the master; no write was accepted for ${json.writeGapSeconds?.toFixed(2)} s`, writeGapSeconds: json.writeGapSeconds, steps: json.steps };
}
