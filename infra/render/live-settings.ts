// Which changes to a server's option file (the rendered my.cnf) can be applied to the running server with
// SET GLOBAL instead of a restart. Pure: the HostFile provider calls it with the old and new file text, in preview
// (to say "applied live" or "restart") and in update (to do it). One table, checked against the server's own
// metadata (information_schema.SYSTEM_VARIABLES.READ_ONLY) in test/replication.live.test.ts.

/** Options mirrorstack writes that the server can change at run time, as spelled in the file. */
export const LIVE_OPTIONS: readonly string[] = [
  "binlog_expire_logs_seconds",
  "expire_logs_days",
  "sync_binlog",
  "innodb_flush_log_at_trx_commit",
  "read_only",
  "super_read_only",
  "gtid_strict_mode",
  "max_connections",
];

/** Options the server could change at run time that still restart it, and why. */
export const RESTART_ALTHOUGH_DYNAMIC: Readonly<Record<string, string>> = {
  server_id: "a server's identity in replication: every event it writes carries it",
  binlog_format: "sessions already open keep the old format",
  replicate_do_db: "MariaDB changes replication filters only with the replica threads stopped",
  relay_log_recovery: "acts when the server starts",
  gtid_mode: "MySQL changes it only step by step, one value at a time",
  enforce_gtid_consistency: "goes with gtid_mode",
};

/** How a changed option file reaches the server. */
export type SettingsPlan =
  | { readonly kind: "none" } // no option changed (comments only): nothing to do
  | { readonly kind: "live"; readonly statements: readonly string[] }
  | { readonly kind: "restart"; readonly because: readonly string[] };

/** `[mysqld]` options of a my.cnf text, each with its values in order (an option may repeat, e.g. binlog_do_db). */
export function mysqldOptions(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let inMysqld = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      inMysqld = ["mysqld", "mariadb", "server"].includes(section[1].trim().toLowerCase());
      continue;
    }
    if (!inMysqld) continue;
    const eq = line.indexOf("=");
    // The server treats - and _ alike in option names.
    const name = (eq < 0 ? line : line.slice(0, eq)).trim().replace(/-/g, "_").toLowerCase();
    const value = eq < 0 ? "" : line.slice(eq + 1).trim();
    out.set(name, [...(out.get(name) ?? []), value]);
  }
  return out;
}

/** A value SET GLOBAL takes as written: numbers and words, nothing that needs quoting. */
const PLAIN_VALUE = /^[A-Za-z0-9_.]+$/;

/** What applying `next` over `prev` needs: nothing, SET GLOBAL statements, or a restart (with the options why). */
export function planSettings(prev: string, next: string): SettingsPlan {
  const a = mysqldOptions(prev);
  const b = mysqldOptions(next);
  const changed = [...new Set([...a.keys(), ...b.keys()])]
    .filter((k) => JSON.stringify(a.get(k) ?? null) !== JSON.stringify(b.get(k) ?? null))
    .sort();
  if (changed.length === 0) return { kind: "none" };
  const because = changed.filter((k) => {
    const v = b.get(k);
    if (!LIVE_OPTIONS.includes(k)) return true;
    return v !== undefined && (v.length !== 1 || !PLAIN_VALUE.test(v[0]));
  });
  if (because.length > 0) return { kind: "restart", because };
  // A removed option goes back to the server's default, as a restart would do.
  return { kind: "live", statements: changed.map((k) => `SET GLOBAL ${k} = ${b.get(k)?.[0] ?? "DEFAULT"}`) };
}

/** How the one-line summaries of the plans that restart nothing begin (the review report reads them back). */
export const NO_OPTION_CHANGED = "no option changed";
export const APPLIED_LIVE = "applied live";

/** The one-line summary a preview shows for a plan. */
export function describeSettingsPlan(p: SettingsPlan): string {
  switch (p.kind) {
    case "none":
      return `${NO_OPTION_CHANGED}: no restart`;
    case "live":
      return `${APPLIED_LIVE}, no restart: ${p.statements.join("; ")}`;
    case "restart":
      return `restart (${p.because.join(", ")} cannot change at run time)`;
  }
}
