// mirrorctl argument parsing. Pure: argv in, a typed request (or a UsageError) out; nothing is read or run here.

import { parseArgs as parseArgv } from "node:util";
import { STACK_NAME_RE } from "../render/common";
import { shqIfNeeded } from "../shell";

/** Bad arguments: printed with the usage line, exit status 2, nothing changed. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export const COMMANDS = [
  "status",
  "verify",
  "sync-now",
  "exec",
  "keys",
  "purge-binlogs",
  "drift",
  "repair",
  "skip-event",
  "reseed",
  "backup-now",
  "restore",
  "switchover",
  "failover",
] as const;
export type Command = (typeof COMMANDS)[number];

/** Options every command takes. */
const COMMON = ["--stack", "--json", "--parallel"] as const;

/** Extra options per command (flags without a value are listed in FLAGS). */
const PER_COMMAND: Record<Command, readonly string[]> = {
  status: ["--format"],
  verify: ["--chunk-size", "--timeout", "--hosts"],
  "sync-now": ["--hosts"],
  exec: ["--hosts", "--yes"],
  keys: ["--hosts"],
  "purge-binlogs": ["--dry-run", "--record-only"],
  drift: ["--hosts"],
  repair: ["--host", "--yes"],
  "skip-event": ["--host", "--yes"],
  reseed: ["--host", "--yes"],
  "backup-now": ["--host"],
  restore: ["--host", "--to", "--backup", "--db", "--keep"],
  switchover: ["--to", "--dry-run", "--deadline"],
  failover: ["--to", "--accept-loss", "--dry-run", "--deadline"],
};

const FLAGS = new Set(["--json", "--yes", "--dry-run", "--record-only", "--keep", "--accept-loss"]);

/** Output formats of `status --format` (--json stays the JSON document of every command). */
export const FORMATS = ["text", "prometheus"] as const;
export type OutputFormat = (typeof FORMATS)[number];

export interface Request {
  readonly command: Command;
  readonly stack: string;
  readonly json: boolean;
  /** Hosts worked at the same time (default 8). */
  readonly parallel: number;
  readonly hosts?: readonly string[];
  readonly host?: string;
  readonly yes: boolean;
  readonly dryRun: boolean;
  /** purge-binlogs: only record each mirror's position on the master for its purge job; purge nothing. */
  readonly recordOnly: boolean;
  readonly keep: boolean;
  /** restore: the scratch database; switchover / failover: the mirror to promote. */
  readonly to?: string;
  /** failover: promote even when another mirror holds transactions the chosen one lacks. */
  readonly acceptLoss: boolean;
  /** switchover / failover: hard deadline in seconds (default database.switchoverDeadlineSeconds). */
  readonly deadlineSeconds?: number;
  readonly backup?: string;
  readonly db?: string;
  readonly chunkSize?: number;
  readonly timeoutSeconds?: number;
  /** status: the table for people (text) or the Prometheus text format (prometheus). */
  readonly format: OutputFormat;
  /** exec: the words after `--`. */
  readonly commandWords: readonly string[];
}

export const USAGE = `usage: mirrorctl <command> --stack <stack> [--json] [--parallel N] [options]
commands:
  status [--format text|prometheus]        replication, file sync and disk per host (exit 0/1/2 = OK/WARNING/CRITICAL);
                                           --format prometheus: the same as metrics in the Prometheus text format
  verify [--hosts m1,m2] [--chunk-size N] [--timeout S]
                                           checksums of every replicated table, master vs each mirror, at one position
  sync-now [--hosts m1,m2]                 one file pull on each mirror now
  exec [--hosts a,b] [--yes] -- <command>  run one command on every host (--yes needed when the master is included)
  keys [--hosts a,b]                       every authorized SSH key on every host; flags weak and unrestricted ones
  purge-binlogs [--dry-run | --record-only]
                                           purge the master's binary logs no mirror still needs, and record each
                                           mirror's position on the master for its cron purge job (the only
                                           writer of those reports); --record-only: record, purge nothing
                                           (schedule it, e.g. hourly); --dry-run: change nothing
  drift [--hosts a,b]                      managed files that differ from what mirrorstack renders
  repair --host <h> [--yes]                mariadb-check --check --auto-repair of the replicated databases (--yes on the master)
  skip-event --host <mirror> [--yes]       show the failing replication event; --yes skips exactly that one event group
  reseed --host <mirror> --yes             copy the master onto one mirror again and restart its replication
  backup-now [--host <backup host>]        run the encrypted backup job now
  restore --host <h> --to <scratch db> [--db <db>] [--backup <name>] [--keep]
                                           decrypt a backup into a scratch database and compare it with the source
  switchover --to <mirror> [--dry-run] [--deadline S]
                                           planned change of master: checks, fences the master, promotes the mirror,
                                           points the others and the old master at it by GTID; prints the config change
  failover [--to <mirror>] [--accept-loss] [--dry-run] [--deadline S]
                                           the master is gone: promotes the mirror with the most transactions (or the
                                           one named); run again when the old master answers: fences and rejoins it`;

const HOST_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

function positiveInt(name: string, v: string, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new UsageError(`${name} must be a whole number from 1 to ${max} (got ${JSON.stringify(v)})`);
  return Number(v);
}

function hostName(name: string, v: string): string {
  if (!HOST_RE.test(v)) throw new UsageError(`${name}: ${JSON.stringify(v)} is not a host name`);
  return v;
}

/** Parses `mirrorctl` arguments (without node and the script path). */
export function parseArgs(argv: readonly string[]): Request {
  if (argv.length === 0) throw new UsageError("no command given");
  const [cmd, ...rest] = argv;
  if (cmd === "-h" || cmd === "--help" || cmd === "help") throw new UsageError("help");
  if (!(COMMANDS as readonly string[]).includes(cmd!)) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  const command = cmd as Command;
  const allowed = new Set<string>([...COMMON, ...PER_COMMAND[command]]);
  const values = new Map<string, string>();
  const flags = new Set<string>();
  let words: string[] = [];
  let sawDashDash = false;
  // node's parser splits the words (--name=value, --name value, --); not strict, so that each mistake is refused
  // below in mirrorctl's own words, in the order given.
  const options = Object.fromEntries([...allowed].map((o) => [o.slice(2), { type: FLAGS.has(o) ? ("boolean" as const) : ("string" as const) }]));
  const { tokens } = parseArgv({ args: [...rest], options, strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) {
    if (t.kind === "option-terminator") {
      if (command !== "exec") throw new UsageError(`${command} takes no command after --`);
      words = rest.slice(t.index + 1);
      sawDashDash = true;
      break;
    }
    if (t.kind === "positional" || !t.rawName.startsWith("--")) {
      throw new UsageError(`unexpected argument ${JSON.stringify(rest[t.index])}${command === "exec" ? " (put the command after --)" : ""}`);
    }
    const name = t.rawName;
    if (!allowed.has(name)) throw new UsageError(`${command} does not take ${name}`);
    if (FLAGS.has(name)) {
      if (t.inlineValue) throw new UsageError(`${name} takes no value`);
      flags.add(name);
      continue;
    }
    const v = t.value;
    if (v === undefined || v === "" || (!t.inlineValue && v.startsWith("--"))) throw new UsageError(`${name} needs a value`);
    if (values.has(name)) throw new UsageError(`${name} is given twice`);
    values.set(name, v);
  }
  const stack = values.get("--stack");
  if (!stack) throw new UsageError("--stack is required");
  if (!STACK_NAME_RE.test(stack)) throw new UsageError(`bad stack name ${JSON.stringify(stack)}`);

  const hostsRaw = values.get("--hosts");
  const hosts = hostsRaw === undefined ? undefined : [...new Set(hostsRaw.split(",").map((h) => hostName("--hosts", h.trim())))];
  const host = values.get("--host") === undefined ? undefined : hostName("--host", values.get("--host")!);
  const promoting = command === "switchover" || command === "failover";
  const to = values.get("--to") === undefined ? undefined : promoting ? hostName("--to", values.get("--to")!) : values.get("--to");
  if (to !== undefined && !promoting && !/^[A-Za-z0-9_]{1,64}$/.test(to)) throw new UsageError(`--to ${JSON.stringify(to)}: a scratch database name is letters, digits and _ (at most 64)`);
  if (command === "switchover" && !to) throw new UsageError("switchover needs --to <mirror>");
  const db = values.get("--db");
  if (db !== undefined && !/^[A-Za-z0-9_]{1,64}$/.test(db)) throw new UsageError(`--db ${JSON.stringify(db)} is not a database name`);
  const backup = values.get("--backup");
  if (backup !== undefined && !/^mirrorstack-\d{8}T\d{6}Z$/.test(backup)) throw new UsageError(`--backup ${JSON.stringify(backup)} is not a backup name like mirrorstack-20250101T034000Z`);

  const format = values.get("--format") ?? "text";
  if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${JSON.stringify(format)}: give one of ${FORMATS.join(", ")}`);
  if (format !== "text" && flags.has("--json")) throw new UsageError(`--json and --format ${format} are two outputs: give one of them`);

  if (["repair", "skip-event", "reseed", "restore"].includes(command) && !host) throw new UsageError(`${command} needs --host <host>`);
  if (command === "restore" && !to) throw new UsageError("restore needs --to <scratch database>");
  if (flags.has("--dry-run") && flags.has("--record-only")) throw new UsageError("--dry-run changes nothing and --record-only writes the position reports: give one of them");
  if (command === "reseed" && !flags.has("--yes")) throw new UsageError("reseed replaces the mirror's copy of the databases: add --yes to confirm");
  if (command === "exec") {
    if (!sawDashDash || words.length === 0) throw new UsageError("exec needs a command after -- (e.g. mirrorctl exec --stack prod -- uptime)");
    if (words.every((w) => w.trim() === "")) throw new UsageError("exec: the command is empty");
  }

  return {
    command,
    stack,
    json: flags.has("--json"),
    parallel: values.has("--parallel") ? positiveInt("--parallel", values.get("--parallel")!, 64) : 8,
    ...(hosts ? { hosts } : {}),
    ...(host ? { host } : {}),
    yes: flags.has("--yes"),
    dryRun: flags.has("--dry-run"),
    recordOnly: flags.has("--record-only"),
    keep: flags.has("--keep"),
    acceptLoss: flags.has("--accept-loss"),
    ...(values.has("--deadline") ? { deadlineSeconds: positiveInt("--deadline", values.get("--deadline")!, 3600) } : {}),
    ...(to ? { to } : {}),
    ...(backup ? { backup } : {}),
    ...(db ? { db } : {}),
    ...(values.has("--chunk-size") ? { chunkSize: positiveInt("--chunk-size", values.get("--chunk-size")!, 1_000_000) } : {}),
    ...(values.has("--timeout") ? { timeoutSeconds: positiveInt("--timeout", values.get("--timeout")!, 86_400) } : {}),
    format: format as OutputFormat,
    commandWords: words,
  };
}

/** The remote shell command for `exec`: one word is taken as a shell command line, several are quoted word by word. */
export function execCommandLine(words: readonly string[]): string {
  if (words.length === 1) return words[0]!;
  return words.map(shqIfNeeded).join(" ");
}
