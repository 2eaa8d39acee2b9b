// mirrorctl backup-now / restore: runs the backup job (templates/mirrorstack-backup.sh.hbs) on the backup host now,
// and restores one database of a backup into a scratch database on a host, then compares it with the source
// database there (compareTables) and drops it again unless --keep.
//
// The passphrase never leaves the host: decryption runs there with the 0600 passphrase file on a file descriptor.

import { PATHS } from "../render/common";
import { renderPartial } from "../render/templates";
import { compareTables, listTablesSql, parseTableList, quoteIdent, type TableComparison } from "../replication/checksum";
import { connectViaSsh } from "../replication/connect";
import { stmt } from "../replication/dialect";
import { UsageError, type Request } from "./args";
import type { OpsContext } from "./context";
import { clientNames, parseKeyValues, run, section, shq, socketOptions } from "./hosts";
import { bytes, indent, table, type CommandResult } from "./output";
import { describeDifferences } from "./verify";

const SYSTEM_DBS = new Set(["mysql", "information_schema", "performance_schema", "sys"]);

export interface BackupEntry {
  readonly name: string;
  readonly bytes: number;
  readonly manifest: Record<string, string>;
}

/** The backup-name rule and order the backup and receive scripts use (templates/partials/backup-names.sh.hbs). */
const BACKUP_NAMES = () => `export LC_ALL=C\n${renderPartial("backup-names")}`;

/** Shell that lists the backups in `dest` (newest first, by the time in their names) with their sizes and manifests. */
export function listBackupsScript(dest: string): string {
  return `${BACKUP_NAMES()}
d=${shq(dest)}
[ -d "$d" ] || exit 0
for b in $(backups_newest_first "$d"); do
  echo "@@BEGIN $b"; echo "bytes=$(du -sb "$d/$b" | cut -f1)"; cat "$d/$b/MANIFEST" 2>/dev/null; echo "@@END $b"
done`;
}

export function parseBackupList(stdout: string): BackupEntry[] {
  const names = [...stdout.matchAll(/^@@BEGIN (mirrorstack-\d{8}T\d{6}Z)$/gm)].map((m) => m[1]!);
  return names.map((name) => {
    const kv = parseKeyValues(section(stdout, name) ?? "");
    return { name, bytes: Number(kv.bytes ?? 0), manifest: kv };
  });
}

export function formatBackups(list: readonly BackupEntry[]): string {
  if (list.length === 0) return "no backups";
  return table(
    ["BACKUP", "SIZE", "DATABASES", "TREES", "POSITION"],
    list.map((b) => [b.name, bytes(b.bytes), b.manifest.databases ?? "?", b.manifest.trees ?? "?", b.manifest.position || "-"]),
  );
}

function backupHost(ctx: OpsContext, req: Request): string {
  const b = ctx.cfg.backups;
  if (!b.enabled) throw new UsageError(`backups are disabled in stack ${ctx.stack} (backups.enabled: false)`);
  const host = req.host ?? b.host;
  ctx.host(host);
  if (host !== b.host) throw new UsageError(`backups of stack ${ctx.stack} are taken on ${b.host} (backups.host), not on ${host}`);
  return host;
}

export async function backupNowCommand(ctx: OpsContext, req: Request, progress: (l: string) => void): Promise<CommandResult> {
  const host = backupHost(ctx, req);
  const log = `${PATHS.logDir}/backup.log`;
  progress(`${host}: running ${PATHS.backupScript} ...`);
  const t0 = Date.now();
  const r = await run(
    ctx.target(host),
    `log=${shq(log)}
s=$(stat -c %s "$log" 2>/dev/null || echo 0)
[ -x ${shq(PATHS.backupScript)} ] || { echo "${PATHS.backupScript} is not installed on $(hostname): run pulumi up for this stack" >&2; exit 3; }
${shq(PATHS.backupScript)}; rc=$?
echo "@@BEGIN log"; tail -c +$((s + 1)) "$log"; echo "@@END log"
echo "@@BEGIN list"; ${listBackupsScript(ctx.cfg.backups.destination)}; echo "@@END list"
exit $rc`,
  );
  const seconds = (Date.now() - t0) / 1000;
  if (r.unreachable) throw new Error(r.stderr);
  const logText = section(r.stdout, "log") ?? "";
  const list = parseBackupList(section(r.stdout, "list") ?? "");
  const ok = r.code === 0;
  const text = [
    `${host}: backup ${ok ? "done" : `FAILED (exit ${r.code})`} in ${seconds.toFixed(1)}s`,
    indent(logText.trim() || r.stderr.trim() || "(no log output)"),
    "",
    `backups on ${host} in ${ctx.cfg.backups.destination} (keeping ${ctx.cfg.backups.retention}):`,
    formatBackups(list),
  ].join("\n");
  return { exitCode: ok ? 0 : 1, text, json: { stack: ctx.stack, host, ok, exitCode: r.code, seconds, log: logText, backups: list } };
}

/** The restore script: decrypts one database dump of a backup and loads it into a new scratch database. */
export function restoreScript(o: { dest: string; backup?: string; db: string; to: string; client: string; passphraseFile: string }): string {
  return `set -euo pipefail
umask 077
${BACKUP_NAMES()}
d=${shq(o.dest)}
b=${o.backup ? shq(o.backup) : `$(backups_newest_first "$d" | sed -n 1p)`}
[ -n "$b" ] && [ -d "$d/$b" ] || { echo "no backup \${b:-(none)} in $d on $(hostname)" >&2; exit 3; }
f="$d/$b/db-"${shq(o.db)}".sql.gz.gpg"
[ -f "$f" ] || { echo "backup $b has no dump of database "${shq(o.db)} >&2; exit 3; }
want=$(sed -n "s/^file=$(basename "$f") [0-9]* //p" "$d/$b/MANIFEST")
have=$(sha256sum "$f" | cut -d' ' -f1)
[ "$want" = "$have" ] || { echo "$f does not match its MANIFEST checksum (damaged backup?)" >&2; exit 4; }
c=${shq(o.client)}
exists=$("$c" -N -B -e "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"${shq(o.to)}"'")
[ "$exists" = 0 ] || { echo "database "${shq(o.to)}" already exists on $(hostname); choose another --to" >&2; exit 3; }
cs=$("$c" -N -B -e "SELECT CONCAT(DEFAULT_CHARACTER_SET_NAME, ' ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"${shq(o.db)}"'")
set -- $cs
"$c" -e "SET SESSION sql_log_bin = 0; CREATE DATABASE \\\`"${shq(o.to)}"\\\`\${1:+ CHARACTER SET $1}\${2:+ COLLATE $2}"
g=$(mktemp -d); trap 'gpgconf --homedir "$g" --kill all >/dev/null 2>&1; rm -rf "$g"' EXIT
{ echo "SET SESSION sql_log_bin = 0;"; gpg --homedir "$g" --batch --quiet --no-symkey-cache --pinentry-mode loopback --passphrase-fd 3 --decrypt "$f" 3< <(sed -n '$p' ${shq(o.passphraseFile)}) | gunzip -c; } \\
  | "$c" --binary-mode ${shq(o.to)}
echo "restored=$b"
echo "bytes=$(stat -c %s "$f")"
sed -n 's/^position=/position=/p' "$d/$b/MANIFEST"`;
}

export async function restoreCommand(ctx: OpsContext, req: Request, progress: (l: string) => void): Promise<CommandResult> {
  const cfg = ctx.cfg;
  const host = ctx.host(req.host!).name;
  const to = req.to!;
  if (SYSTEM_DBS.has(to.toLowerCase()) || cfg.database.databases.includes(to)) {
    throw new UsageError(`--to ${to} is a ${SYSTEM_DBS.has(to.toLowerCase()) ? "system" : "replicated"} database; restore into a new scratch database`);
  }
  if (!cfg.backups.enabled) throw new UsageError(`backups are disabled in stack ${ctx.stack} (backups.enabled: false)`);
  let db = req.db;
  if (db === undefined) {
    if (cfg.database.databases.length > 1) throw new UsageError(`the backups hold ${cfg.database.databases.join(", ")}: choose one with --db`);
    db = cfg.database.databases[0]!;
  } else if (!cfg.database.databases.includes(db)) {
    throw new UsageError(`--db ${db} is not a replicated database of stack ${ctx.stack} (${cfg.database.databases.join(", ")})`);
  }
  progress(`${host}: restoring ${db} from ${req.backup ?? "the newest backup"} into ${to} ...`);
  const t0 = Date.now();
  const r = await run(
    ctx.target(host),
    restoreScript({ dest: cfg.backups.destination, ...(req.backup ? { backup: req.backup } : {}), db, to, client: clientNames(cfg).client, passphraseFile: PATHS.backupPassphrase }),
  );
  if (r.unreachable) throw new Error(r.stderr);
  if (r.code === 3) throw new UsageError(r.stderr.trim());
  if (r.code !== 0) {
    // A failed load leaves a half-filled scratch database: drop it unless it existed before (exit 3 above).
    await run(ctx.target(host), `${clientNames(cfg).client} -e ${shq(`SET SESSION sql_log_bin = 0; DROP DATABASE IF EXISTS ${quoteIdent(to)}`)}`);
    throw new Error(`[${host}] restore failed (exit ${r.code}): ${r.stderr.trim().slice(-1500)}`);
  }
  const info = parseKeyValues(r.stdout);
  progress(`${host}: restored ${info.restored}; comparing ${to} with ${db} ...`);

  const opts = socketOptions(cfg, host);
  const source = await connectViaSsh(ctx.target(host), opts);
  const comparisons: TableComparison[] = [];
  let dropped = false;
  try {
    const scratch = await connectViaSsh(ctx.target(host), opts);
    try {
      const tables = parseTableList(await source.query(listTablesSql([db])));
      for (const t of tables) comparisons.push(await compareTables(source, scratch, db, t.table, { mirrorDb: to }));
      const restored = parseTableList(await scratch.query(listTablesSql([to])));
      for (const t of restored) {
        if (!tables.some((x) => x.table === t.table)) comparisons.push({ db, table: t.table, noPrimaryKey: t.primaryKey.length === 0, schemaDiffers: "only in the backup", chunks: 0, differing: [], equal: false });
      }
    } finally {
      await scratch.close();
    }
    if (!req.keep) {
      await source.query(stmt("SET SESSION sql_log_bin = 0"));
      await source.query(stmt(`DROP DATABASE ${quoteIdent(to)}`));
      dropped = true;
    }
  } finally {
    await source.close();
  }
  const equal = comparisons.every((c) => c.equal);
  const diffs = describeDifferences({ mirror: host, position: null, tables: comparisons, equal, seconds: 0 });
  const text = [
    `${host}: restored ${db} from ${info.restored} (${bytes(Number(info.bytes ?? 0))} encrypted, position ${info.position || "-"}) into ${to}`,
    `compared ${comparisons.length} table(s), ${comparisons.reduce((n, c) => n + c.chunks, 0)} chunk(s) with ${db} on ${host}: ${equal ? "identical checksums" : "DIFFERENCES"}`,
    ...diffs.map((d) => `  ${d.replace(new RegExp(`^${db}\\.`), `${to} vs ${db}: `)}`),
    ...(equal ? [] : [`  (expected when ${db} changed on ${host} after the backup was taken)`]),
    dropped ? `dropped the scratch database ${to}` : `kept the scratch database ${to} (--keep)`,
  ].join("\n");
  return {
    exitCode: equal ? 0 : 1,
    text,
    json: { stack: ctx.stack, host, database: db, scratch: to, backup: info.restored, position: info.position ?? null, equal, dropped, seconds: (Date.now() - t0) / 1000, tables: comparisons },
  };
}
