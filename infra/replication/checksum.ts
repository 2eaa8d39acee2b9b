// Consistency check between a master and a mirror, chunk by chunk along the primary key.
//
// A chunk's fingerprint is COUNT(*) plus an order-independent aggregate of one hash per row. The row
// hash input is CONCAT_WS('#', ...) over every column in a form that cannot contain '#' (string, binary,
// JSON, ENUM/SET, BIT and spatial columns as HEX(), TIMESTAMP as UNIX_TIMESTAMP() so the session time zone
// does not matter, numbers and other temporal types as they are), followed by ISNULL(col) for every
// nullable column: CONCAT_WS skips NULLs, so without the flags NULL and '' (or (NULL,'x') and ('x',NULL))
// would hash alike. Tables with a primary key are split at every chunkSize-th key value of the master
// (the first chunk is open below, the last open above, so rows only the mirror has are still counted);
// tables without one are checksummed whole and flagged.
//
// SQL here is pure text; identifiers are quoted with backticks (backticks doubled), values go through
// `?` placeholders. compareTables is the small driver.

import { stmt, type FieldCast, type SqlRunner, type Stmt } from "./dialect";

/** Quotes an identifier with backticks; rejects empty names, NUL and names over 64 characters. */
export function quoteIdent(name: string): string {
  if (typeof name !== "string" || name.length === 0) throw new Error("identifier is empty");
  if (name.includes("\u0000")) throw new Error(`identifier ${JSON.stringify(name)} contains NUL`);
  if (name.length > 64) throw new Error(`identifier ${JSON.stringify(name)} is longer than 64 characters`);
  return "`" + name.replace(/`/g, "``") + "`";
}

/** `db`.`table` */
export function qualifiedName(db: string, table: string): string {
  return `${quoteIdent(db)}.${quoteIdent(table)}`;
}

export interface ColumnInfo {
  readonly name: string;
  /** information_schema DATA_TYPE, lower case (int, varchar, timestamp, ...). */
  readonly dataType: string;
  readonly nullable: boolean;
}

export interface TableInfo {
  readonly db: string;
  readonly table: string;
  /** In ordinal order. */
  readonly columns: readonly ColumnInfo[];
  /** Primary key columns in key order; empty when the table has none. */
  readonly primaryKey: readonly string[];
}

/**
 * Columns and primary keys of the base tables (views excluded) of `databases`, optionally one table.
 * One row per column: table_schema, table_name, column_name, data_type, is_nullable, pk_position.
 */
export function listTablesSql(databases: readonly string[], table?: string): Stmt {
  if (databases.length === 0) throw new Error("listTablesSql: no database given");
  for (const d of databases) quoteIdent(d);
  const values: unknown[] = [databases];
  let where = "c.TABLE_SCHEMA IN (?)";
  if (table !== undefined) {
    quoteIdent(table);
    where += " AND c.TABLE_NAME = ?";
    values.push(table);
  }
  return stmt(
    "SELECT c.TABLE_SCHEMA AS table_schema, c.TABLE_NAME AS table_name, c.COLUMN_NAME AS column_name," +
      " LOWER(c.DATA_TYPE) AS data_type, c.IS_NULLABLE AS is_nullable, k.ORDINAL_POSITION AS pk_position" +
      " FROM information_schema.COLUMNS c" +
      " JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE'" +
      " LEFT JOIN information_schema.KEY_COLUMN_USAGE k ON k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME" +
      " AND k.COLUMN_NAME = c.COLUMN_NAME AND k.CONSTRAINT_NAME = 'PRIMARY'" +
      ` WHERE ${where}` +
      " ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION",
    values,
  );
}

function str(v: unknown): string {
  return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
}

/** Groups listTablesSql rows into tables (order kept). */
export function parseTableList(rows: readonly Record<string, unknown>[]): TableInfo[] {
  const tables = new Map<string, { db: string; table: string; columns: ColumnInfo[]; pk: { name: string; pos: number }[] }>();
  for (const r of rows) {
    const db = str(r.table_schema);
    const table = str(r.table_name);
    const key = `${db}\u0000${table}`;
    let t = tables.get(key);
    if (!t) tables.set(key, (t = { db, table, columns: [], pk: [] }));
    const name = str(r.column_name);
    t.columns.push({ name, dataType: str(r.data_type).toLowerCase(), nullable: str(r.is_nullable).toUpperCase() === "YES" });
    if (r.pk_position !== null && r.pk_position !== undefined) t.pk.push({ name, pos: Number(r.pk_position) });
  }
  return [...tables.values()].map((t) => ({
    db: t.db,
    table: t.table,
    columns: t.columns,
    primaryKey: t.pk.sort((a, b) => a.pos - b.pos).map((p) => p.name),
  }));
}

// Arrays, not Sets: verify runs inside the MasterRole provider (a switchover by config change), whose code Pulumi's
// closure serializer copies, and it copies a Set as an empty object.
const HEX_TYPES: readonly string[] = [
  "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "binary", "varbinary", "tinyblob", "blob", "mediumblob",
  "longblob", "enum", "set", "json", "bit", "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
  "multipolygon", "geometrycollection", "geomcollection", "uuid", "inet4", "inet6", "vector",
];

/** The '#'-free text of one column for the row hash. */
export function columnHashTerm(c: ColumnInfo): string {
  const q = quoteIdent(c.name);
  if (c.dataType === "timestamp") return `UNIX_TIMESTAMP(${q})`;
  if (HEX_TYPES.includes(c.dataType)) return `HEX(${q})`;
  return q;
}

/** CONCAT_WS('#', terms..., ISNULL(nullable cols)...): the per-row hash input. */
export function rowHashInput(columns: readonly ColumnInfo[]): string {
  if (columns.length === 0) throw new Error("rowHashInput: no columns");
  const terms = columns.map(columnHashTerm);
  const flags = columns.filter((c) => c.nullable).map((c) => `ISNULL(${quoteIdent(c.name)})`);
  return `CONCAT_WS('#', ${[...terms, ...flags].join(", ")})`;
}

export type HashAlgorithm = "md5" | "crc32";
/** xor suits rows that are unique (a primary key); sum does not cancel duplicate rows (tables without one). */
export type HashAggregate = "xor" | "sum";

/**
 * Select list `cnt, crc`: the row count and the aggregated row hashes as a decimal string (md5: the two
 * 64-bit halves, "a/b"; crc32: one 32-bit value). Strings so no precision is lost in the driver.
 */
export function checksumSelect(columns: readonly ColumnInfo[], algorithm: HashAlgorithm = "md5", aggregate: HashAggregate = "xor"): string {
  const input = rowHashInput(columns);
  const agg = (e: string) => (aggregate === "xor" ? `BIT_XOR(${e})` : `COALESCE(SUM(${e}), 0)`);
  const parts =
    algorithm === "crc32"
      ? [`CAST(${agg(`CRC32(${input})`)} AS CHAR)`]
      : [
          `CAST(${agg(`CAST(CONV(SUBSTRING(MD5(${input}), 1, 16), 16, 10) AS UNSIGNED)`)} AS CHAR)`,
          `CAST(${agg(`CAST(CONV(SUBSTRING(MD5(${input}), 17, 16), 16, 10) AS UNSIGNED)`)} AS CHAR)`,
        ];
  return `COUNT(*) AS cnt, ${parts.length === 1 ? parts[0] : `CONCAT(${parts.join(", '/', ")})`} AS crc`;
}

function needPk(t: TableInfo): void {
  if (t.primaryKey.length === 0) throw new Error(`${t.db}.${t.table} has no primary key: use tableChecksumSql`);
}

/**
 * Split points for chunks of `chunkSize` rows: the primary key of rows chunkSize+1, 2*chunkSize+1, ... in
 * key order, as columns k0, k1, ... (one row per split point). Uses ROW_NUMBER() (MariaDB 10.2+, MySQL 8.0+).
 */
export function boundariesSql(t: TableInfo, chunkSize: number): Stmt {
  needPk(t);
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error(`chunk size ${String(chunkSize)} is not a positive integer`);
  const pk = t.primaryKey.map(quoteIdent);
  const aliases = pk.map((_, i) => `k${i}`);
  return stmt(
    `SELECT ${aliases.join(", ")} FROM (SELECT ${pk.map((c, i) => `${c} AS ${aliases[i]}`).join(", ")},` +
      ` ROW_NUMBER() OVER (ORDER BY ${pk.join(", ")}) AS ms_rn FROM ${qualifiedName(t.db, t.table)}) AS ms_b` +
      ` WHERE ms_rn > 1 AND MOD(ms_rn - 1, ?) = 0 ORDER BY ms_rn`,
    [chunkSize],
  );
}

/**
 * `(c1, c2, ...) >= (v1, v2, ...)` (or `<`) spelled out column by column so indexes are used on both
 * MariaDB and MySQL: c1 > v1 OR (c1 = v1 AND c2 > v2) OR ... OR (c1 = v1 AND ... AND cn >= vn).
 */
export function keyComparison(columns: readonly string[], op: ">=" | "<", values: readonly unknown[]): { sql: string; values: unknown[] } {
  if (columns.length === 0 || columns.length !== values.length) throw new Error("keyComparison: key columns and values differ in number");
  const strict = op === ">=" ? ">" : "<";
  const q = columns.map(quoteIdent);
  const ors: string[] = [];
  const vals: unknown[] = [];
  for (let i = 0; i < q.length; i++) {
    const ands: string[] = [];
    for (let j = 0; j < i; j++) {
      ands.push(`${q[j]} = ?`);
      vals.push(values[j]);
    }
    ands.push(`${q[i]} ${i === q.length - 1 ? op : strict} ?`);
    vals.push(values[i]);
    ors.push(ands.length === 1 ? ands[0] : `(${ands.join(" AND ")})`);
  }
  return { sql: ors.length === 1 ? ors[0] : `(${ors.join(" OR ")})`, values: vals };
}

/** Checksum of the rows with lower <= key < upper (null: unbounded). */
export function chunkChecksumSql(
  t: TableInfo,
  lower: readonly unknown[] | null,
  upper: readonly unknown[] | null,
  algorithm: HashAlgorithm = "md5",
): Stmt {
  needPk(t);
  const where: string[] = [];
  const values: unknown[] = [];
  for (const [op, v] of [[">=", lower], ["<", upper]] as const) {
    if (v === null) continue;
    const c = keyComparison(t.primaryKey, op, v);
    where.push(c.sql);
    values.push(...c.values);
  }
  return stmt(
    `SELECT ${checksumSelect(t.columns, algorithm, "xor")} FROM ${qualifiedName(t.db, t.table)}${where.length ? ` WHERE ${where.join(" AND ")}` : ""}`,
    values,
  );
}

/** Checksum of a whole table (tables without a primary key: SUM, so duplicate rows do not cancel out). */
export function tableChecksumSql(t: TableInfo, algorithm: HashAlgorithm = "md5"): Stmt {
  return stmt(`SELECT ${checksumSelect(t.columns, algorithm, t.primaryKey.length ? "xor" : "sum")} FROM ${qualifiedName(t.db, t.table)}`);
}

export interface Chunk {
  readonly index: number;
  /** Inclusive lower key, null for the first chunk. */
  readonly lower: readonly unknown[] | null;
  /** Exclusive upper key, null for the last chunk. */
  readonly upper: readonly unknown[] | null;
}

/** Chunks from split points (boundaries rows k0..kn in order): n+1 chunks covering the whole key space. */
export function chunksFromBoundaries(boundaries: readonly (readonly unknown[])[]): Chunk[] {
  const chunks: Chunk[] = [];
  for (let i = 0; i <= boundaries.length; i++) {
    chunks.push({ index: i, lower: i === 0 ? null : boundaries[i - 1], upper: i === boundaries.length ? null : boundaries[i] });
  }
  return chunks;
}

/** A numeric value as an unquoted SQL literal (mysql2 `format` uses toSqlString as is). */
export class SqlNumber {
  constructor(readonly text: string) {
    if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text)) throw new Error(`not a numeric literal: ${JSON.stringify(text)}`);
  }
  toSqlString(): string {
    return this.text;
  }
  toJSON(): string {
    return this.text;
  }
  toString(): string {
    return this.text;
  }
}

const NUMERIC: readonly string[] = ["TINY", "SHORT", "LONG", "INT24", "LONGLONG", "DECIMAL", "NEWDECIMAL", "YEAR", "FLOAT", "DOUBLE"];
const TEMPORAL: readonly string[] = ["DATE", "NEWDATE", "DATETIME", "DATETIME2", "TIMESTAMP", "TIMESTAMP2", "TIME", "TIME2"];

/**
 * typeCast for key values that go back into SQL exactly: numbers as SqlNumber (no float rounding of
 * BIGINT/DECIMAL), temporal values as the server's text (no JS Date rounding or time zone shift), the rest
 * (strings, Buffers) as mysql2 reads them.
 */
export const exactKeyCast: FieldCast = (field, next) => {
  if (NUMERIC.includes(field.type)) {
    const s = field.string();
    return s === null ? null : new SqlNumber(s);
  }
  if (TEMPORAL.includes(field.type)) return field.string();
  return next();
};

// ---------------------------------------------------------------------------------------------------------------
// Driver

export interface Fingerprint {
  readonly count: number;
  readonly checksum: string;
}

export interface ChunkDiff extends Chunk {
  readonly master: Fingerprint;
  readonly mirror: Fingerprint;
}

export interface TableComparison {
  readonly db: string;
  readonly table: string;
  /** The table has no primary key: it was checksummed whole. */
  readonly noPrimaryKey: boolean;
  /** Set when the table is missing on one side or its columns / key differ; no rows were compared then. */
  readonly schemaDiffers?: string;
  readonly chunks: number;
  readonly differing: readonly ChunkDiff[];
  readonly equal: boolean;
}

export interface CompareOptions {
  /** Rows per chunk (default 1000). */
  readonly chunkSize?: number;
  readonly algorithm?: HashAlgorithm;
  /** Database name on the mirror when it differs from `db` (e.g. comparing two copies on one server). */
  readonly mirrorDb?: string;
}

function fingerprint(rows: readonly Record<string, unknown>[]): Fingerprint {
  const r = rows[0] ?? {};
  return { count: Number(r.cnt ?? 0), checksum: r.crc === null || r.crc === undefined ? "" : str(r.crc) };
}

function describeTable(t: TableInfo | undefined): string {
  if (!t) return "(missing)";
  return `${t.columns.map((c) => `${c.name} ${c.dataType}${c.nullable ? " null" : ""}`).join(", ")}; key (${t.primaryKey.join(", ")})`;
}

/**
 * Compares one table on master and mirror. Both sessions get time_zone '+00:00' (TIMESTAMP key values
 * then mean the same instant on both sides). Rows written on the master but not yet applied on the
 * mirror show up as differences: compare after the mirror has caught up (waitForPosition) and re-check
 * differing chunks before acting on them.
 */
export async function compareTables(
  master: SqlRunner,
  mirror: SqlRunner,
  db: string,
  table: string,
  opts: CompareOptions = {},
): Promise<TableComparison> {
  const chunkSize = opts.chunkSize ?? 1000;
  const algorithm = opts.algorithm ?? "md5";
  const utc = stmt("SET SESSION time_zone = '+00:00'");
  await Promise.all([master.query(utc), mirror.query(utc)]);
  const mirrorDb = opts.mirrorDb ?? db;
  const [mt, rt] = await Promise.all([master.query(listTablesSql([db], table)), mirror.query(listTablesSql([mirrorDb], table))]).then(
    ([a, b]) => [parseTableList(a)[0], parseTableList(b)[0]],
  );
  if (!mt) throw new Error(`table ${db}.${table} does not exist on the master (or is not a base table)`);
  const base = { db, table, noPrimaryKey: mt.primaryKey.length === 0 };
  if (describeTable(mt) !== describeTable(rt)) {
    return { ...base, schemaDiffers: `master: ${describeTable(mt)}; mirror: ${describeTable(rt)}`, chunks: 0, differing: [], equal: false };
  }

  const mirrorTable: TableInfo = { ...mt, db: mirrorDb };
  if (base.noPrimaryKey) {
    const [a, b] = await Promise.all([master.query(tableChecksumSql(mt, algorithm)), mirror.query(tableChecksumSql(mirrorTable, algorithm))]);
    const fa = fingerprint(a);
    const fb = fingerprint(b);
    const same = fa.count === fb.count && fa.checksum === fb.checksum;
    return { ...base, chunks: 1, differing: same ? [] : [{ index: 0, lower: null, upper: null, master: fa, mirror: fb }], equal: same };
  }

  const boundaryRows = await master.query(boundariesSql(mt, chunkSize), { typeCast: exactKeyCast });
  const boundaries = boundaryRows.map((r) => mt.primaryKey.map((_, i) => r[`k${i}`]));
  const chunks = chunksFromBoundaries(boundaries);
  const differing: ChunkDiff[] = [];
  for (const c of chunks) {
    const [a, b] = await Promise.all([
      master.query(chunkChecksumSql(mt, c.lower, c.upper, algorithm)),
      mirror.query(chunkChecksumSql(mirrorTable, c.lower, c.upper, algorithm)),
    ]);
    const fa = fingerprint(a);
    const fb = fingerprint(b);
    if (fa.count !== fb.count || fa.checksum !== fb.checksum) differing.push({ ...c, master: fa, mirror: fb });
  }
  return { ...base, chunks: chunks.length, differing, equal: differing.length === 0 };
}
