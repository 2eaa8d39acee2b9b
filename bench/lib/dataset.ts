// A sysbench-like dataset made inside the master with MariaDB's SEQUENCE engine: tables
// sbtest1..N (id INT PK, k INT, c CHAR(120), pad CHAR(60), KEY k_i (k)), random digit groups like sysbench's.
import { onHost, sql } from "./lab";

export const DATABASE = "sbtest";
/** Rows per MiB of information_schema data_length + index_length for this table shape (measured on the lab at 400 MiB). */
const ROWS_PER_MB = 3920;

export interface Dataset {
  readonly database: string;
  readonly tables: number;
  readonly rowsPerTable: number;
  /** Small tables besides: sbsmall1..N, 1 to 250 rows each. */
  readonly smallTables: number;
  /** SUM(data_length + index_length) of the database, after ANALYZE TABLE. */
  readonly bytes: number;
  readonly seconds: number;
}

/** `groups` groups of 11 random digits joined by '-' (sysbench's c/pad shape). */
function digitGroups(groups: number): string {
  const g = Array.from({ length: groups }, () => "LPAD(FLOOR(RAND() * 99999999999), 11, '0')");
  return `CONCAT_WS('-', ${g.join(", ")})`;
}

export function tableCount(sizeMb: number): number {
  return sizeMb >= 200 ? 8 : sizeMb >= 20 ? 4 : 1;
}

/**
 * Creates the dataset on `host` (replacing any earlier one). Not written to the binary log (sql_log_bin=0):
 * the mirrors get it from the seeding copy, as an existing site's data would.
 */
export async function generate(host: string, sizeMb: number, log: (m: string) => void, smallTables = 0): Promise<Dataset> {
  const t0 = performance.now();
  const tables = tableCount(sizeMb);
  const rowsPerTable = Math.max(1000, Math.round((sizeMb * ROWS_PER_MB) / tables));
  await sql(host, `SET SESSION sql_log_bin = 0; CREATE DATABASE IF NOT EXISTS ${DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;`);
  for (let i = 1; i <= tables; i++) {
    const t = `${DATABASE}.sbtest${i}`;
    log(`  generating ${t}: ${rowsPerTable} rows`);
    await sql(
      host,
      [
        `USE ${DATABASE}`,
        "SET SESSION sql_log_bin = 0, unique_checks = 0, foreign_key_checks = 0",
        `DROP TABLE IF EXISTS ${t}`,
        `CREATE TABLE ${t} (id INT NOT NULL, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id)) ENGINE=InnoDB`,
        `INSERT INTO ${t} (id, k, c, pad) SELECT seq, FLOOR(1 + RAND() * ${rowsPerTable}), ${digitGroups(10)}, ${digitGroups(5)} FROM seq_1_to_${rowsPerTable}`,
        // The secondary index is built after the load (one sorted build instead of random inserts).
        `ALTER TABLE ${t} ADD INDEX k_${i} (k)`,
        `ANALYZE TABLE ${t}`,
      ].join(";\n") + ";",
    );
  }
  // A CMS's many small tables (the logical seed's splitter costs per table, not per byte): same shape, fewer rows.
  if (smallTables > 0) log(`  generating ${DATABASE}.sbsmall1..${smallTables}`);
  for (let first = 1; first <= smallTables; first += 50) {
    const batch = Array.from({ length: Math.min(50, smallTables - first + 1) }, (_, j) => first + j).map((i) => {
      const t = `${DATABASE}.sbsmall${i}`;
      return [
        `DROP TABLE IF EXISTS ${t}`,
        `CREATE TABLE ${t} (id INT NOT NULL, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k (k)) ENGINE=InnoDB`,
        `INSERT INTO ${t} (id, k, c, pad) SELECT seq, seq % 17, ${digitGroups(10)}, ${digitGroups(5)} FROM seq_1_to_${((i * 37) % 250) + 1}`,
      ].join(";\n");
    });
    await sql(host, [`USE ${DATABASE}`, "SET SESSION sql_log_bin = 0", ...batch].join(";\n") + ";");
  }
  const bytes = await datasetBytes(host);
  return { database: DATABASE, tables, rowsPerTable, smallTables, bytes, seconds: (performance.now() - t0) / 1000 };
}

/** SUM(data_length + index_length) of the dataset's database on `host`. */
export async function datasetBytes(host: string): Promise<number> {
  const out = await sql(host, `SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.TABLES WHERE table_schema = '${DATABASE}';`);
  return Number(out);
}

/** Bytes of the whole data directory on `host` (what a raw copy moves). */
export async function datadirBytes(host: string): Promise<number> {
  const r = await onHost(host, "du -sb /var/lib/mysql | cut -f1");
  return Number(r.stdout.trim());
}
