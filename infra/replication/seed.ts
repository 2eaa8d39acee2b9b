// Seeding a mirror and starting replication: the orchestration shared by the Pulumi provider and mirrorctl.
// No Pulumi here. Like the other replication modules, node built-ins and mysql2 are required inside
// functions so Pulumi's closure serialization can carry this code into a dynamic provider.
import type { SshTarget } from "../ssh/exec";
import { holdConnection, sshRun } from "../ssh/exec";
import type { SeedScripts } from "../render/scripts";
import { connectViaSsh, type DbSession } from "./connect";
import { dialect, runAll, stmt, switchoverSql, type CertificateRequirement, type DbEngine, type ReplicaTls } from "./dialect";
import { quoteIdent } from "./checksum";
import { normalizeReplicaStatus, normalizeSourceStatus, type ReplicaStatus } from "./status";
import { joinPlan, pointByGtid, readServerState, type JoinPlan } from "./join";

/** Everything needed to (re)build one mirror's replication. */
export interface SeedPlan {
  /** The master, as the provisioner reaches it over SSH. */
  readonly master: SshTarget;
  /** The mirror, as the provisioner reaches it over SSH. */
  readonly mirror: SshTarget;
  /** Address and port of the master's database as the mirror reaches it. */
  readonly sourceHost: string;
  readonly sourcePort: number;
  /** The mirror's address as the master sees its connections (host part of the replication account; '%' only with tls). */
  readonly mirrorAddress: string;
  /** TLS (tls.enabled): the mirror's client files and the certificate its account requires. */
  readonly tls?: { readonly replica: ReplicaTls; readonly require: CertificateRequirement } | null;
  readonly engine: DbEngine;
  readonly user: string;
  readonly password: string;
  /** Databases to copy and replicate. */
  readonly databases: readonly string[];
  /** logical: consistent dump streamed master -> mirror. physical: mariabackup stream of the whole instance. */
  readonly method: "logical" | "physical";
  /** Seconds to wait for the mirror to catch up before failing. */
  readonly catchUpTimeoutSeconds: number;
  /** The host-to-host copy's scripts, rendered for this method (infra/render/scripts.ts, seedScripts). */
  readonly scripts: SeedScripts;
  /**
   * How many mirrors may be seeded in the same run (the stack's mirror count): a seed waits briefly for the others
   * so that all of them take one copy of the master. 1 (the default) starts at once.
   */
  readonly batchSize?: number;
}

/** What a finished seed reports (goes into stack outputs). */
export interface SeedReport {
  readonly method: "logical" | "physical";
  /** Bytes of the copy as streamed (compressed), from the master to each mirror. */
  readonly bytes: number;
  /** Bytes that passed through the machine running the seed: scripts and summaries only, never data. */
  readonly controllerBytes: number;
  /** The mirrors that took the same copy (this one included). */
  readonly sharedWith: readonly string[];
  readonly seconds: number;
  /** Where the seconds went: the steps before the copy, the copy's own steps, and after it. */
  readonly phases: Readonly<Record<string, number>>;
  readonly startFile: string;
  readonly startPos: number;
  readonly status: ReplicaStatus;
}

/** One host-to-host copy: the master, the mirrors that take it, and the scripts for its kind. */
export interface CopyPlan {
  /** The master, as this machine reaches it over SSH. */
  readonly master: SshTarget;
  /** The master's address as the mirrors see its connections (the one-seed key's `from=`). */
  readonly masterAddress: string;
  /** The mirrors, as this machine reaches them; the master connects to the same address and port. */
  readonly mirrors: readonly SshTarget[];
  readonly scripts: SeedScripts;
}

/** A mirror's share of a host-to-host copy: what its receiving script printed, or why its copy failed. */
export type CopyResult =
  | {
      readonly ok: true;
      /** The mirror's receiving script's stdout (a physical copy's binlog coordinates). */
      readonly stdout: string;
      /** The logical dump's coordinate comment, when there is one. */
      readonly dump: string;
      /** Bytes streamed from the master to each mirror. */
      readonly bytes: number;
      /** The mirrors that took this copy. */
      readonly sharedWith: readonly string[];
      /** Seconds of each step of the copy (key, authorize, send). */
      readonly phases: Readonly<Record<string, number>>;
    }
  | { readonly ok: false; readonly error: Error };

/** A host-to-host copy: each mirror's result, and the removal of the one-seed key everywhere. */
export interface Copy {
  readonly results: readonly CopyResult[];
  /** Resolves when the key and its entries are gone on every host, with the bytes this machine passed in all. */
  readonly cleanedUp: Promise<{ readonly controllerBytes: number; readonly seconds: number }>;
}

/**
 * One consistent copy of the master streamed straight to every mirror of the plan (templates/steps/seed-*.sh.hbs):
 * the master makes a one-seed key, each mirror lets it in to run its receiving script only, the master streams one
 * compressed copy to all of them at once, and the key and its entries go whatever the outcome. This machine only
 * starts the steps and reads their summaries (`controllerBytes`); the data goes from host to host. A mirror that
 * fails fails alone; a failure of the copy itself fails them all.
 */
export async function copyFromMaster(plan: CopyPlan, log: (msg: string) => void = () => undefined): Promise<Copy> {
  const crypto = require("crypto") as typeof import("crypto");
  const { master, mirrors, scripts } = plan;
  const token = crypto.randomBytes(8).toString("hex");
  let controllerBytes = 0;
  const phases: Record<string, number> = {};
  let mark = Date.now();
  const lap = (name: string) => {
    const now = Date.now();
    phases[name] = (now - mark) / 1000;
    mark = now;
  };
  const run = async (t: SshTarget, script: string, stdin: string) => {
    const r = await sshRun(t, script, stdin);
    controllerBytes += script.length + stdin.length + r.stdout.length + r.stderr.length;
    return r;
  };
  const fail = (host: string, what: string, r: { code: number; stderr: string }) =>
    new Error(`[${host}] ${what} failed (exit ${r.code}): ${r.stderr.trim().slice(-2000)}`);
  const results: CopyResult[] = mirrors.map(() => ({ ok: false, error: new Error("not copied") }));
  const cleanup = async () => {
    const t = Date.now();
    await Promise.all([master, ...mirrors].map((h) => run(h, scripts.cleanup, `${token}\n`).catch(() => undefined)));
    return { controllerBytes, seconds: (Date.now() - t) / 1000 };
  };
  try {
    const k = await run(master, scripts.key, `${token}\n`);
    if (k.code !== 0) throw fail(master.host, "making the seed key", k);
    const key = k.stdout.trim();
    lap("key");
    const hostKeys = await Promise.all(
      mirrors.map(async (m, i) => {
        const r = await run(m, scripts.authorize, `${token} ${plan.masterAddress}\n${key}\n${scripts.receive}`);
        if (r.code !== 0) results[i] = { ok: false, error: fail(m.host, "letting the master's seed key in", r) };
        return r.code === 0 ? r.stdout.trim().split("\n").filter((l) => /^\S+ \S+/.test(l)) : undefined;
      }),
    );
    lap("authorize");
    const taking = mirrors.filter((_, i) => hostKeys[i]);
    if (taking.length === 0) return { results, cleanedUp: Promise.resolve(await cleanup()) };
    const lines = [token];
    mirrors.forEach((m, i) => {
      if (!hostKeys[i]) return;
      lines.push(`mirror ${i} ${m.address} ${m.port} ${m.user}`);
      for (const hk of hostKeys[i]!) lines.push(`hostkey ${i} ${hk.split(/\s+/).slice(0, 2).join(" ")}`);
    });
    log(`${taking.map((m) => m.host).join(", ")}: one copy streamed from ${master.host}, host to host`);
    // The mirrors' own connections wait idle through the copy; held, the sessions after it need no new login.
    const holds = taking.map((m) => holdConnection(m));
    const r = await run(master, scripts.send, lines.join("\n") + "\n").finally(() => Promise.all(holds.map((release) => release())));
    lap("send");
    const out = r.stdout.split("\n");
    const field = (name: string) => out.find((l) => l.startsWith(`${name} `))?.slice(name.length + 1);
    const decode = (b64: string | undefined) => Buffer.from(b64 ?? "", "base64").toString("utf8");
    for (const [i, m] of mirrors.entries()) {
      if (!hostKeys[i]) continue;
      const line = out.find((l) => l.startsWith(`mirror ${i} `))?.split(" ");
      const stderr = decode(out.find((l) => l.startsWith(`stderr ${i} `))?.split(" ")[2]);
      if (r.code !== 0) results[i] = { ok: false, error: fail(master.host, `the copy for ${m.host}`, r) };
      else if (!line || line[2] !== "0") {
        results[i] = { ok: false, error: new Error(`[${m.host}] taking in the copy from ${master.host} failed (exit ${line?.[2] ?? "?"}): ${stderr.trim()}`) };
      } else {
        const sharedWith = taking.map((t) => t.host);
        results[i] = { ok: true, stdout: decode(line[3]), dump: field("dump") ?? "", bytes: Number(field("bytes") ?? 0), sharedWith, phases: { ...phases } };
      }
    }
    // The keys go while the mirrors start replicating; each seed waits for it before it reports (seedMirror).
    return { results, cleanedUp: cleanup() };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Reads `-- CHANGE MASTER TO MASTER_LOG_FILE='f', MASTER_LOG_POS=n;` (either dialect's spelling). */
export function parseDumpCoordinates(text: string): { file: string; pos: number } {
  const m = /(?:MASTER|SOURCE)_LOG_FILE='([^']+)',\s*(?:MASTER|SOURCE)_LOG_POS=(\d+)/.exec(text);
  if (!m) throw new Error(`the dump did not report binlog coordinates (is the binary log on?): ${text.trim().slice(0, 300)}`);
  return { file: m[1], pos: Number(m[2]) };
}

/** Reads `file<TAB>pos[<TAB>gtid]` from mariabackup's binlog info. */
export function parseBackupCoordinates(text: string): { file: string; pos: number } {
  const m = /^(\S+)\s+(\d+)/m.exec(text.trim().split("\n").pop() ?? "");
  if (!m) throw new Error(`the physical copy did not report binlog coordinates: ${text.trim().slice(0, 300)}`);
  return { file: m[1], pos: Number(m[2]) };
}

async function withSessions<T>(plan: SeedPlan, fn: (master: DbSession, mirror: DbSession) => Promise<T>): Promise<T> {
  // Both at once: each is an SSH channel and a server handshake, and after a copy they are on the seed's critical path.
  const [master, mirror] = await Promise.allSettled([connectViaSsh(plan.master), connectViaSsh(plan.mirror)]);
  if (master.status === "rejected" || mirror.status === "rejected") {
    await Promise.all([master, mirror].map((s) => (s.status === "fulfilled" ? s.value.close() : undefined)));
    throw master.status === "rejected" ? master.reason : (mirror as PromiseRejectedResult).reason;
  }
  try {
    return await fn(master.value, mirror.value);
  } finally {
    await Promise.all([mirror.value.close(), master.value.close()]);
  }
}

/**
 * Replication account on the master for this mirror (idempotent; also resets the password). A configured
 * database the master does not have yet is created empty (utf8mb4), so mirrors replicate it from its start.
 */
export async function ensureReplicationUser(plan: SeedPlan): Promise<void> {
  const d = dialect(plan.engine);
  const master = await connectViaSsh(plan.master);
  try {
    for (const db of plan.databases) {
      await master.query(stmt(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`));
    }
    await runAll(
      master,
      d.createReplicationUser({ user: plan.user, host: plan.mirrorAddress, password: plan.password, ...(plan.tls ? { requireCertificate: plan.tls.require } : {}) }),
    );
  } finally {
    await master.close();
  }
}

/**
 * Waits until the mirror applied a master position taken now and both replica threads run; throws with the
 * threads' error text if they do not. START SLAVE returns before the IO thread has connected, so the
 * threads are polled (an IO error ends the wait at once).
 */
export async function waitCaughtUp(plan: SeedPlan, master: DbSession, mirror: DbSession): Promise<ReplicaStatus> {
  const d = dialect(plan.engine);
  const deadline = Date.now() + plan.catchUpTimeoutSeconds * 1000;
  let status = normalizeReplicaStatus(await mirror.query(d.showReplicaStatus()), plan.mirror.host);
  while (!(status.ioRunning && status.sqlRunning) && !status.lastIoError && !status.lastSqlError && Date.now() < deadline) {
    if (!status.sqlRunning && !status.ioConnecting && !status.ioRunning) break; // stopped, nothing to wait for
    // The IO thread connects within tens of milliseconds on a healthy network: a short poll, not a fifth of a second.
    await new Promise((r) => setTimeout(r, 50));
    status = normalizeReplicaStatus(await mirror.query(d.showReplicaStatus()), plan.mirror.host);
  }
  let outcome: string = "threads not running";
  if (status.ioRunning && status.sqlRunning) {
    const target = normalizeSourceStatus(await master.query(d.showSourceStatus()), plan.master.host);
    const seconds = Math.max(1, Math.round((deadline - Date.now()) / 1000));
    const w = d.waitForPosition({ file: target.file, pos: target.pos }, seconds);
    const [row] = await mirror.query(w);
    outcome = w.interpret(row?.result);
    status = normalizeReplicaStatus(await mirror.query(d.showReplicaStatus()), plan.mirror.host);
  }
  if (outcome !== "reached" || !status.ioRunning || !status.sqlRunning) {
    throw new Error(
      `[${plan.mirror.host}] replication is not healthy after seeding (${outcome}): ` +
        `IO thread ${status.ioRunning ? "running" : status.ioConnecting ? "still connecting" : "stopped"}${status.lastIoError ? ` (${status.lastIoError})` : ""}, ` +
        `SQL thread ${status.sqlRunning ? "running" : "stopped"}${status.lastSqlError ? ` (${status.lastSqlError})` : ""}`,
    );
  }
  return status;
}

/** Mirrors that join one copy: a seed waits this long after the last one joined for another. */
const JOIN_QUIET_MS = 1500;
/** ... and never longer than this in all. */
const JOIN_MAX_MS = 10_000;

interface CopyBatch {
  readonly plans: SeedPlan[];
  lastJoin: number;
  result?: Promise<Copy>;
}

/** Which seeds may share one copy: same master, method, databases and scripts. */
const copyKey = (plan: Pick<SeedPlan, "master" | "method" | "databases" | "scripts">) =>
  JSON.stringify([plan.master.address, plan.master.port, plan.method, plan.databases, plan.scripts.send]);

/** The mirrors that said they take no copy in this provider process (see declineCopy), per copy key. */
function declinedBy(key: string): ReadonlySet<string> {
  return (globalThis as { __mirrorstackCopyDeclined?: Map<string, Set<string>> }).__mirrorstackCopyDeclined?.get(key) ?? new Set<string>();
}

/**
 * A mirror of the stack says it takes no copy in this run (its replication unchanged, or joined by GTID), so that a
 * copy for the others does not wait JOIN_QUIET_MS for it. The engine starts one provider process per run, so the
 * record lives there (on globalThis, as the batches do), by mirror name: saying it twice counts once. A mirror that
 * declines and copies after all only makes a copy of its own.
 */
export function declineCopy(plan: Pick<SeedPlan, "master" | "mirror" | "method" | "databases" | "scripts">): void {
  const g = globalThis as { __mirrorstackCopyDeclined?: Map<string, Set<string>> };
  const m = (g.__mirrorstackCopyDeclined ??= new Map<string, Set<string>>());
  const key = copyKey(plan);
  if (!m.has(key)) m.set(key, new Set<string>());
  m.get(key)!.add(plan.mirror.host);
}

/**
 * This mirror's share of a copy that every mirror seeded in the same run shares: the first seed opens a batch and
 * waits until `batchSize` mirrors joined or declined (declineCopy), or none joined for JOIN_QUIET_MS. The Pulumi engine runs all dynamic
 * resources in one provider process, but each resource's provider is its own deserialized closure, so the batches
 * live on globalThis.
 */
function joinCopy(plan: SeedPlan, log: (msg: string) => void): Promise<{ readonly result: CopyResult; readonly cleanedUp: Copy["cleanedUp"] }> {
  const g = globalThis as { __mirrorstackCopyBatches?: Map<string, CopyBatch> };
  const batches = (g.__mirrorstackCopyBatches ??= new Map<string, CopyBatch>());
  const key = copyKey(plan);
  const open = batches.get(key);
  if (open) {
    const i = open.plans.push(plan) - 1;
    open.lastJoin = Date.now();
    return open.result!.then((c) => ({ result: c.results[i]!, cleanedUp: c.cleanedUp }));
  }
  const batch: CopyBatch = { plans: [plan], lastJoin: Date.now() };
  batches.set(key, batch);
  batch.result = (async () => {
    const first = Date.now();
    const want = plan.batchSize ?? 1;
    const accounted = () => new Set([...batch.plans.map((p) => p.mirror.host), ...declinedBy(key)]).size;
    while (accounted() < want && Date.now() - batch.lastJoin < JOIN_QUIET_MS && Date.now() - first < JOIN_MAX_MS) {
      await new Promise((r) => setTimeout(r, 50));
    }
    batches.delete(key);
    return copyFromMaster({ master: plan.master, masterAddress: plan.sourceHost, mirrors: batch.plans.map((p) => p.mirror), scripts: plan.scripts }, log);
  })();
  return batch.result.then((c) => ({ result: c.results[0]!, cleanedUp: c.cleanedUp }));
}

/** Stops and forgets any replication the mirror had (nothing to reset on a new mirror). */
async function resetMirror(plan: SeedPlan): Promise<void> {
  const mirror = await connectViaSsh(plan.mirror);
  try {
    for (const s of dialect(plan.engine).fullReset()) await mirror.query(s).catch(() => undefined);
  } finally {
    await mirror.close();
  }
}

/**
 * Full (re)seed: replication account, stop and forget any old replication on the mirror, a consistent copy
 * streamed from the master (shared with the other mirrors seeded in the same run), source + credentials +
 * coordinates in one statement, start, and wait until caught up.
 */
export async function seedMirror(plan: SeedPlan, log: (msg: string) => void = () => undefined): Promise<SeedReport> {
  const d = dialect(plan.engine);
  const t0 = Date.now();
  if (plan.method === "physical" && plan.engine.flavour !== "mariadb") {
    throw new Error("[database.seedMethod] physical seeding is implemented for MariaDB (mariabackup) only");
  }
  await Promise.all([ensureReplicationUser(plan), resetMirror(plan)]);
  const tCopy = Date.now();
  const { result: copy, cleanedUp } = await joinCopy(plan, log);
  if (!copy.ok) {
    await cleanedUp;
    throw copy.error;
  }
  const tStart = Date.now();
  let tCatchUp = 0;
  // The one-seed key is removed while the mirror starts replicating; the seed reports only once it is gone.
  const status = await (async () => {
    let start: { file: string; pos: number };
    try {
      start = plan.method === "logical" ? parseDumpCoordinates(copy.dump) : parseBackupCoordinates(copy.stdout);
    } catch (e) {
      throw new Error(`[${plan.mirror.host}] ${(e as Error).message}`);
    }
    const st = await withSessions(plan, async (master, mirror) => {
      await runAll(
        mirror,
        d.changeSource({
          host: plan.sourceHost,
          port: plan.sourcePort,
          user: plan.user,
          password: plan.password,
          position: { kind: "file", file: start.file, pos: start.pos },
          ...(plan.tls ? { ssl: true, tls: plan.tls.replica } : {}),
        }),
      );
      await mirror.query(d.startReplica());
      tCatchUp = Date.now();
      return waitCaughtUp(plan, master, mirror);
    });
    return { st, start };
  })().finally(() => cleanedUp);
  const tEnd = Date.now();
  const { controllerBytes, seconds: cleanupSeconds } = await cleanedUp;
  const secs = (a: number, b: number) => (b - a) / 1000;
  return {
    method: plan.method,
    bytes: copy.bytes,
    controllerBytes,
    sharedWith: copy.sharedWith,
    seconds: (tEnd - t0) / 1000,
    phases: {
      account: secs(t0, tCopy),
      ...Object.fromEntries(Object.entries(copy.phases).map(([k, v]) => [`copy.${k}`, v])),
      // The mirror's own steps inside copy.send (seed-receive prints them).
      ...Object.fromEntries([...copy.stdout.matchAll(/^phase (\S+) ([0-9.]+)$/gm)].map((m) => [`mirror.${m[1]}`, Number(m[2])])),
      // Waiting for other mirrors to join the copy (joinCopy), outside the copy's own steps.
      copyWait: Math.max(0, secs(tCopy, tStart) - Object.values(copy.phases).reduce((a, b) => a + b, 0)),
      connect: secs(tStart, tCatchUp),
      catchUp: secs(tCatchUp, tEnd),
      // Beside connect and catchUp, not after them.
      cleanup: cleanupSeconds,
    },
    startFile: status.start.file,
    startPos: status.start.pos,
    status: status.st,
  };
}

/** New password (and TLS settings): the master account and the mirror's stored credentials, replication position kept. */
export async function rotatePassword(plan: SeedPlan): Promise<ReplicaStatus> {
  const d = dialect(plan.engine);
  await ensureReplicationUser(plan);
  return withSessions(plan, async (master, mirror) => {
    await mirror.query(d.stopReplica());
    await mirror.query(d.changeSourcePassword(plan.password));
    await mirror.query(d.changeSourceTls(plan.tls?.replica ?? null));
    await mirror.query(d.startReplica());
    return waitCaughtUp(plan, master, mirror);
  });
}

/** Stops and forgets replication on the mirror and drops its account on the master. Data stays. */
/**
 * Joins the mirror to the master by GTID when it can (it replicates from it already, or its binary log holds
 * nothing the master lacks), with the account, password and TLS as configured now, and proves it caught up. A
 * `copy` plan, or a GTID join the master cannot serve (its binary log no longer has what the mirror needs), is
 * returned for the caller to seed. `rejoinFormerMaster` false: a host that replicates from nobody is copied.
 */
export async function joinMirror(plan: SeedPlan, opts: { readonly rejoinFormerMaster: boolean }): Promise<{ readonly join: JoinPlan; readonly status?: ReplicaStatus }> {
  if (plan.engine.flavour !== "mariadb") return { join: { kind: "copy", why: "joining by GTID is implemented for MariaDB only" } };
  const d = dialect(plan.engine);
  const s = switchoverSql(plan.engine);
  await ensureReplicationUser(plan);
  return withSessions(plan, async (master, mirror) => {
    // The mirror first: read after the master, it could hold newer master transactions and look errant.
    const ts = await readServerState(mirror, d, s, plan.mirror.host);
    const ms = await readServerState(master, d, s, plan.master.host);
    let join = joinPlan(ts, ms, plan.sourceHost, { formerMasterOnly: true });
    if (join.kind === "gtid" && !ts.replica && !opts.rejoinFormerMaster) {
      join = { kind: "copy", why: `${plan.mirror.host} replicates from nobody and was given a re-seed token` };
    }
    if (join.kind === "copy") return { join };
    if (join.kind === "already") {
      await mirror.query(d.stopReplica());
      await mirror.query(d.changeSourcePassword(plan.password));
      await mirror.query(d.changeSourceTls(plan.tls?.replica ?? null));
      await mirror.query(d.startReplica());
    } else {
      await pointByGtid(mirror, plan.engine, { host: plan.sourceHost, port: plan.sourcePort, user: plan.user, password: plan.password, tls: plan.tls?.replica }, join.gtid);
    }
    try {
      return { join, status: await waitCaughtUp(plan, master, mirror) };
    } catch (e) {
      // Only the master's answer that it no longer has what the mirror needs (error 1236: purged binary logs)
      // means a copy; anything else (a timeout under load, a password, TLS) is reported, not copied over.
      if (join.kind === "already" || !/\b1236\b/.test((e as Error).message)) throw e;
      return { join: { kind: "copy", why: `joining by GTID from ${join.gtid} failed: ${(e as Error).message}` } };
    }
  });
}

/**
 * Stops the mirror's replication and drops its account on the master. A mirror that was promoted (it replicates
 * from nobody and is writable) may outlive its old master: when that one does not answer, its account there is
 * left as it is instead of failing the run.
 */
export async function unseedMirror(plan: SeedPlan): Promise<void> {
  const d = dialect(plan.engine);
  let promoted = false;
  const mirror = await connectViaSsh(plan.mirror);
  try {
    if (plan.engine.flavour === "mariadb") {
      const st = await readServerState(mirror, d, switchoverSql(plan.engine), plan.mirror.host);
      promoted = !st.readOnly && !st.replica;
    }
    for (const s of d.fullReset()) await mirror.query(s).catch(() => undefined);
  } finally {
    await mirror.close();
  }
  let master: DbSession;
  try {
    master = await connectViaSsh(plan.master);
  } catch (e) {
    if (promoted) return;
    throw e;
  }
  try {
    await runAll(master, d.dropReplicationUser({ user: plan.user, host: plan.mirrorAddress, ...(plan.tls ? { requireCertificate: plan.tls.require } : {}) }));
  } finally {
    await master.close();
  }
}

/** Current replica status of one mirror. */
export async function mirrorStatus(target: SshTarget, engine: DbEngine): Promise<ReplicaStatus> {
  const mirror = await connectViaSsh(target);
  try {
    return normalizeReplicaStatus(await mirror.query(dialect(engine).showReplicaStatus()), target.host);
  } finally {
    await mirror.close();
  }
}
