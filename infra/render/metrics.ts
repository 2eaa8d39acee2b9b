// The Prometheus metrics mirrorstack exposes, in one place: the health job on each host writes them for
// node_exporter's textfile collector (/var/lib/prometheus/node-exporter/mirrorstack.prom), and
// `mirrorctl status --format prometheus` prints them for every host at once. Names follow Prometheus conventions
// (mirrorstack_ prefix, base units, _seconds / _bytes, 0/1 gauges for states); every sample carries the labels
// stack and host, so the two sources read the same. Checked with `promtool check metrics` in the tests.

/** One metric family: name, type and help text (the # HELP / # TYPE lines). */
export interface MetricFamily {
  readonly name: string;
  readonly type: "gauge" | "counter";
  readonly help: string;
  /** Labels besides stack and host. */
  readonly labels?: readonly string[];
}

function family(name: string, help: string, labels?: readonly string[]): MetricFamily {
  return { name: `mirrorstack_${name}`, type: "gauge", help, ...(labels ? { labels } : {}) };
}

/** Every family, by what it says. */
export const METRICS = {
  healthOk: family("health_ok", "1 when the host's last health check found no problem, else 0."),
  healthProblems: family("health_problems", "Number of problems the host's last health check found."),
  healthChecked: family("health_checked_timestamp_seconds", "When the host's last health check ran (Unix time)."),
  replicationIoRunning: family("replication_io_running", "1 when the mirror's replication IO thread runs, else 0."),
  replicationSqlRunning: family("replication_sql_running", "1 when the mirror's replication SQL thread runs, else 0."),
  replicationLag: family("replication_lag_seconds", "Replication lag of the mirror behind the master (seconds)."),
  fileSyncAge: family("file_sync_age_seconds", "Seconds since the mirror's last successful file sync."),
  backupAge: family("backup_age_seconds", "Seconds since the last successful backup on this host."),
  binlogSize: family("binlog_size_bytes", "Total size of the master's binary logs (bytes)."),
  filesystemAvail: family("filesystem_avail_bytes", "Free space for unprivileged users on a filesystem mirrorstack uses (bytes).", ["purpose", "path"]),
  filesystemSize: family("filesystem_size_bytes", "Size of a filesystem mirrorstack uses (bytes).", ["purpose", "path"]),
  mdDegraded: family("md_degraded", "1 when the software RAID array has a failed or missing member, else 0.", ["array"]),
  mdResyncing: family("md_resyncing", "1 when the software RAID array is resyncing, recovering or checking, else 0.", ["array"]),
  tlsCertExpiry: family("tls_cert_expiry_timestamp_seconds", "When a replication TLS certificate on the host expires (Unix time).", ["purpose", "path"]),
  vendorCheckOk: family("vendor_check_ok", "1 when the configured RAID vendor command reported every port OK, else 0."),
} as const satisfies Record<string, MetricFamily>;

/** One sample: a family, its extra label values, and the value. */
export interface Sample {
  readonly family: MetricFamily;
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A label value in the exposition format: backslash, double quote and newline escaped. */
export function labelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * The text exposition format for `samples`, each with the labels stack and host added: families in METRICS order,
 * each with its # HELP and # TYPE lines once, families without samples left out.
 */
export function formatMetrics(stack: string, samples: readonly (Sample & { readonly host: string })[]): string {
  const out: string[] = [];
  for (const f of Object.values(METRICS) as MetricFamily[]) {
    const mine = samples.filter((s) => s.family.name === f.name);
    if (mine.length === 0) continue;
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of mine) {
      const labels = { stack, host: s.host, ...(s.labels ?? {}) };
      const text = Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`).join(",");
      out.push(`${f.name}{${text}} ${Number.isFinite(s.value) ? String(s.value) : "NaN"}`);
    }
  }
  return out.length > 0 ? `${out.join("\n")}\n` : "";
}
