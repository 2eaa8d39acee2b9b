// Pure helpers of mirrorctl switchover / failover: which sessions fencing ends, the stack-config change that
// records a new master, and the text of a run's steps. Nothing here talks to a host.

import { createPatch } from "diff";
import { parseDocument } from "yaml";
import { NAMESPACE } from "../config";
import type { HostConfig, StackConfig } from "../config/types";

/** A row of information_schema.PROCESSLIST (otherSessions in dialect.ts). */
export interface SessionRow {
  readonly id: number;
  readonly user: string;
  readonly command: string;
}

/**
 * The sessions fencing ends on the old master: every client session but replication's (the mirrors' binlog dump
 * threads must keep reading up to the last transaction) and the server's own threads. read_only alone does not
 * stop accounts with SUPER / READ ONLY ADMIN on MariaDB, nor commits already under way.
 */
export function sessionsToEnd(rows: readonly SessionRow[]): SessionRow[] {
  return rows.filter((r) => {
    if (/^Binlog Dump/i.test(r.command)) return false;
    if (r.command === "Daemon" || r.user === "system user" || r.user === "event_scheduler") return false;
    // Killed already and still going away.
    if (r.command === "Killed") return false;
    return true;
  });
}

export function toSessionRows(rows: readonly Record<string, unknown>[]): SessionRow[] {
  return rows.map((r) => ({ id: Number(r.id), user: String(r.user ?? ""), command: String(r.command ?? "") }));
}

export interface ConfigChange {
  /** The stack file's new text. */
  readonly text: string;
  /** Unified diff from the current file to the new one. */
  readonly diff: string;
}

type Entry = Record<string, unknown>;

/**
 * The stack-config change that makes `newMaster` (a mirror today) the master and `oldMaster` a mirror in its
 * place in the list (so the other mirrors keep their index, hence their default server_id). Both get their
 * server_id written down (what they run with now): the derived default depends on role and index, and a server
 * whose id changed under it would skip or re-apply events. `reseed` does not exist on the master.
 */
export function masterChange(fileText: string, fileName: string, opts: { newMaster: string; serverIds: ReadonlyMap<string, number> }): ConfigChange {
  const doc = parseDocument(fileText);
  const mKey = `${NAMESPACE}:master`;
  const sKey = `${NAMESPACE}:mirrors`;
  const master = doc.getIn(["config", mKey]);
  const mirrors = doc.getIn(["config", sKey]);
  const js = (n: unknown) => (n && typeof n === "object" && "toJSON" in n ? (n as { toJSON(): unknown }).toJSON() : n);
  const oldMasterEntry = js(master) as Entry | undefined;
  const mirrorEntries = (js(mirrors) as Entry[] | undefined) ?? [];
  if (!oldMasterEntry || typeof oldMasterEntry.name !== "string") throw new Error(`${fileName}: no ${mKey} with a name`);
  const index = mirrorEntries.findIndex((m) => m.name === opts.newMaster);
  if (index < 0) throw new Error(`${fileName}: ${opts.newMaster} is not in ${sKey}`);
  const idOf = (name: string) => {
    const id = opts.serverIds.get(name);
    if (id === undefined) throw new Error(`no server_id known for ${name}`);
    return id;
  };
  // Mirror-only keys stay behind (the master's schema has neither): a re-seed token, and a changing address
  // (whose account matches any address: the master's role has no account of its own).
  const { reseed: _reseed, changingAddress: _changing, ...promoted } = mirrorEntries[index]!;
  void _reseed;
  void _changing;
  const newMaster: Entry = { ...promoted, serverId: idOf(opts.newMaster) };
  const demoted: Entry = { ...oldMasterEntry, serverId: idOf(oldMasterEntry.name) };
  const newMirrors = mirrorEntries.map((m, i) => (i === index ? demoted : m));
  doc.setIn(["config", mKey], doc.createNode(newMaster));
  doc.setIn(["config", sKey], doc.createNode(newMirrors));
  const text = String(doc);
  return { text, diff: createPatch(fileName, fileText, text, "", "", { context: 2 }) };
}

export interface Step {
  readonly step: string;
  readonly ok: boolean;
  readonly detail: string;
  /** Milliseconds since the command started. */
  readonly atMs: number;
}

export function formatSteps(steps: readonly Step[]): string {
  return steps.map((s) => `${s.ok ? "ok  " : "FAIL"} ${(s.atMs / 1000).toFixed(2).padStart(6)}s  ${s.step}: ${s.detail}`).join("\n");
}

/**
 * The config as it was before `newConfig` named another master: `oldMaster` (a mirror in `newConfig`) is the
 * master again and the new master takes its place among the mirrors. What `up` hands to the switchover, which
 * reads the topology it starts from. Pure.
 */
export function rolesBefore(newConfig: StackConfig, oldMaster: string): StackConfig {
  const old = newConfig.mirrors.find((m) => m.name === oldMaster);
  if (!old) throw new Error(`[mirrors] the old master ${oldMaster} is not among the mirrors`);
  const master: HostConfig = { ...old, role: "master" };
  const mirrors = newConfig.mirrors.map((m): HostConfig => (m.name === oldMaster ? { ...newConfig.master, role: "mirror" } : m));
  return { ...newConfig, master, mirrors, hosts: [master, ...mirrors] };
}
