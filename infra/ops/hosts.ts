// Small remote helpers shared by mirrorctl commands: one shell script per host over SSH, one database session
// per host over the SSH socat relay, and the parsing of what the scripts print.

import type { StackConfig } from "../config/types";
import { dbSocket } from "../render/common";
import { connectViaSsh, type DbSession } from "../replication/connect";
import { SshTarget, sshRun, shq } from "../ssh/exec";
import { errMsg } from "./output";

export { shq };

/** Runs a script; never throws (an unreachable host comes back as code 255 with the reason in stderr). */
export async function run(target: SshTarget, script: string, stdin?: string): Promise<{ code: number; stdout: string; stderr: string; unreachable: boolean }> {
  try {
    const r = await sshRun(target, script, stdin);
    return { ...r, unreachable: false };
  } catch (e) {
    return { code: 255, stdout: "", stderr: errMsg(e), unreachable: true };
  }
}

/** Runs `fn` with a database session on the host and closes it afterwards. */
export async function withDb<T>(target: SshTarget, cfg: StackConfig, fn: (db: DbSession) => Promise<T>): Promise<T> {
  const db = await connectViaSsh(target, socketOptions(cfg, target.host));
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Database socket of a host per OS family (Debian /run/mysqld, RHEL /var/lib/mysql). */
export function socketOptions(cfg: StackConfig, host: string): { socketPath?: string } {
  const h = cfg.hosts.find((x) => x.name === host);
  // Debian's is connectViaSsh's default.
  return h?.osFamily === "rhel" ? { socketPath: dbSocket("rhel") } : {};
}

/** Client programs per flavour (the first one found on the host is used). */
export function clientNames(cfg: StackConfig): { client: string; dump: string; check: string } {
  return cfg.database.flavour === "mariadb"
    ? { client: "mariadb", dump: "mariadb-dump", check: "mariadb-check" }
    : { client: "mysql", dump: "mysqldump", check: "mysqlcheck" };
}

export interface DiskFree {
  readonly path: string;
  /** datadir, tree, mount, backups. */
  readonly what: string;
  readonly present: boolean;
  readonly totalBytes: number;
  readonly freeBytes: number;
  /** Free space in percent of the filesystem (0-100), -1 when the path is missing. */
  readonly freePercent: number;
}

/** Shell lines that print `DF<TAB>path<TAB>total<TAB>avail` (or `DFMISSING<TAB>path`) per path. */
export function dfScript(paths: readonly string[]): string {
  if (paths.length === 0) return ":";
  return `for p in ${paths.map(shq).join(" ")}; do
  if [ -e "$p" ]; then df -P -B1 -- "$p" 2>/dev/null | awk -v p="$p" 'NR==2 { printf "DF\\t%s\\t%s\\t%s\\n", p, $2, $4 }'
  else printf 'DFMISSING\\t%s\\n' "$p"; fi
done`;
}

/** Parses dfScript output. */
export function parseDf(stdout: string, what: ReadonlyMap<string, string>): DiskFree[] {
  const out: DiskFree[] = [];
  for (const line of stdout.split("\n")) {
    const f = line.split("\t");
    if (f[0] === "DF" && f.length >= 4) {
      const total = Number(f[2]);
      const free = Number(f[3]);
      out.push({ path: f[1]!, what: what.get(f[1]!) ?? "", present: true, totalBytes: total, freeBytes: free, freePercent: total > 0 ? Math.round((free / total) * 1000) / 10 : 0 });
    } else if (f[0] === "DFMISSING" && f.length >= 2) {
      out.push({ path: f[1]!, what: what.get(f[1]!) ?? "", present: false, totalBytes: 0, freeBytes: 0, freePercent: -1 });
    }
  }
  return out;
}

/** Parses `key=value` lines (the status files the jobs write). */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The text between `@@BEGIN name` and `@@END name` lines of a script's output. */
export function section(stdout: string, name: string): string | undefined {
  const b = stdout.indexOf(`@@BEGIN ${name}\n`);
  if (b < 0) return undefined;
  const start = b + `@@BEGIN ${name}\n`.length;
  const e = stdout.indexOf(`@@END ${name}\n`, start);
  return stdout.slice(start, e < 0 ? undefined : e);
}
