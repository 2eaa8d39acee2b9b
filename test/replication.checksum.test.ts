import { describe, expect, it } from "vitest";
import {
  boundariesSql,
  checksumSelect,
  chunkChecksumSql,
  chunksFromBoundaries,
  columnHashTerm,
  compareTables,
  exactKeyCast,
  keyComparison,
  listTablesSql,
  parseTableList,
  quoteIdent,
  rowHashInput,
  SqlNumber,
  tableChecksumSql,
  type TableInfo,
} from "../infra/replication/checksum";
import { render, type SqlRunner, type Stmt } from "../infra/replication/dialect";

const orders: TableInfo = {
  db: "shop",
  table: "orders",
  columns: [
    { name: "id", dataType: "bigint", nullable: false },
    { name: "customer", dataType: "varchar", nullable: true },
    { name: "note", dataType: "text", nullable: true },
    { name: "total", dataType: "decimal", nullable: false },
    { name: "created", dataType: "timestamp", nullable: false },
  ],
  primaryKey: ["id"],
};
const lines: TableInfo = {
  db: "shop",
  table: "order`lines",
  columns: [
    { name: "order_id", dataType: "int", nullable: false },
    { name: "line", dataType: "smallint", nullable: false },
    { name: "sku", dataType: "char", nullable: false },
  ],
  primaryKey: ["order_id", "line"],
};

describe("identifiers", () => {
  it("quotes with backticks and doubles backticks", () => {
    expect(quoteIdent("orders")).toBe("`orders`");
    expect(quoteIdent("a`b")).toBe("`a``b`");
    expect(quoteIdent("x`; DROP TABLE y; --")).toBe("`x``; DROP TABLE y; --`");
    expect(quoteIdent("db.table")).toBe("`db.table`");
    expect(() => quoteIdent("")).toThrow(/empty/);
    expect(() => quoteIdent("a\u0000b")).toThrow(/NUL/);
    expect(() => quoteIdent("x".repeat(65))).toThrow(/64/);
  });
});

describe("table listing", () => {
  it("queries information_schema for base tables with their primary keys", () => {
    expect(render(listTablesSql(["shop", "blog"]))).toMatchInlineSnapshot(`"SELECT c.TABLE_SCHEMA AS table_schema, c.TABLE_NAME AS table_name, c.COLUMN_NAME AS column_name, LOWER(c.DATA_TYPE) AS data_type, c.IS_NULLABLE AS is_nullable, k.ORDINAL_POSITION AS pk_position FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE' LEFT JOIN information_schema.KEY_COLUMN_USAGE k ON k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME AND k.COLUMN_NAME = c.COLUMN_NAME AND k.CONSTRAINT_NAME = 'PRIMARY' WHERE c.TABLE_SCHEMA IN ('shop', 'blog') ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION"`);
    expect(render(listTablesSql(["shop"], "orders"))).toMatch(/WHERE c.TABLE_SCHEMA IN \('shop'\) AND c.TABLE_NAME = 'orders'/);
    expect(() => listTablesSql([])).toThrow(/no database/);
  });
  it("groups rows into tables, key columns in key order, flags tables without key", () => {
    const rows = [
      { table_schema: "shop", table_name: "lines", column_name: "sku", data_type: "char", is_nullable: "NO", pk_position: null },
      { table_schema: "shop", table_name: "lines", column_name: "line", data_type: "smallint", is_nullable: "NO", pk_position: 2 },
      { table_schema: "shop", table_name: "lines", column_name: "order_id", data_type: "INT", is_nullable: "NO", pk_position: 1 },
      { table_schema: "shop", table_name: "log", column_name: "msg", data_type: "text", is_nullable: "YES", pk_position: null },
    ];
    expect(parseTableList(rows)).toEqual([
      {
        db: "shop",
        table: "lines",
        columns: [
          { name: "sku", dataType: "char", nullable: false },
          { name: "line", dataType: "smallint", nullable: false },
          { name: "order_id", dataType: "int", nullable: false },
        ],
        primaryKey: ["order_id", "line"],
      },
      { db: "shop", table: "log", columns: [{ name: "msg", dataType: "text", nullable: true }], primaryKey: [] },
    ]);
  });
});

describe("row hash", () => {
  it("uses '#'-free terms per type and ISNULL flags for nullable columns", () => {
    expect(columnHashTerm({ name: "n", dataType: "int", nullable: false })).toBe("`n`");
    expect(columnHashTerm({ name: "s", dataType: "varchar", nullable: false })).toBe("HEX(`s`)");
    expect(columnHashTerm({ name: "b", dataType: "longblob", nullable: false })).toBe("HEX(`b`)");
    expect(columnHashTerm({ name: "j", dataType: "json", nullable: false })).toBe("HEX(`j`)");
    expect(columnHashTerm({ name: "t", dataType: "timestamp", nullable: false })).toBe("UNIX_TIMESTAMP(`t`)");
    expect(columnHashTerm({ name: "d", dataType: "datetime", nullable: false })).toBe("`d`");
    expect(rowHashInput(orders.columns)).toMatchInlineSnapshot(`"CONCAT_WS('#', \`id\`, HEX(\`customer\`), HEX(\`note\`), \`total\`, UNIX_TIMESTAMP(\`created\`), ISNULL(\`customer\`), ISNULL(\`note\`))"`);
  });
  it("md5 (two 64-bit halves) and crc32 aggregates as strings", () => {
    expect(checksumSelect(lines.columns)).toMatchInlineSnapshot(`"COUNT(*) AS cnt, CONCAT(CAST(BIT_XOR(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('#', \`order_id\`, \`line\`, HEX(\`sku\`))), 1, 16), 16, 10) AS UNSIGNED)) AS CHAR), '/', CAST(BIT_XOR(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('#', \`order_id\`, \`line\`, HEX(\`sku\`))), 17, 16), 16, 10) AS UNSIGNED)) AS CHAR)) AS crc"`);
    expect(checksumSelect(lines.columns, "crc32")).toMatchInlineSnapshot(`"COUNT(*) AS cnt, CAST(BIT_XOR(CRC32(CONCAT_WS('#', \`order_id\`, \`line\`, HEX(\`sku\`)))) AS CHAR) AS crc"`);
    expect(checksumSelect(lines.columns, "crc32", "sum")).toMatchInlineSnapshot(`"COUNT(*) AS cnt, CAST(COALESCE(SUM(CRC32(CONCAT_WS('#', \`order_id\`, \`line\`, HEX(\`sku\`)))), 0) AS CHAR) AS crc"`);
  });
});

describe("chunks", () => {
  it("lists every N-th key (single and composite)", () => {
    expect(render(boundariesSql(orders, 1000))).toMatchInlineSnapshot(`"SELECT k0 FROM (SELECT \`id\` AS k0, ROW_NUMBER() OVER (ORDER BY \`id\`) AS ms_rn FROM \`shop\`.\`orders\`) AS ms_b WHERE ms_rn > 1 AND MOD(ms_rn - 1, 1000) = 0 ORDER BY ms_rn"`);
    expect(render(boundariesSql(lines, 500))).toMatchInlineSnapshot(`"SELECT k0, k1 FROM (SELECT \`order_id\` AS k0, \`line\` AS k1, ROW_NUMBER() OVER (ORDER BY \`order_id\`, \`line\`) AS ms_rn FROM \`shop\`.\`order\`\`lines\`) AS ms_b WHERE ms_rn > 1 AND MOD(ms_rn - 1, 500) = 0 ORDER BY ms_rn"`);
    expect(() => boundariesSql(orders, 0)).toThrow(/chunk size/);
    expect(() => boundariesSql({ ...orders, primaryKey: [] }, 10)).toThrow(/no primary key/);
  });
  it("spells out composite key comparisons", () => {
    expect(keyComparison(["a"], ">=", [1])).toEqual({ sql: "`a` >= ?", values: [1] });
    expect(keyComparison(["a", "b", "c"], "<", [1, 2, 3])).toEqual({
      sql: "(`a` < ? OR (`a` = ? AND `b` < ?) OR (`a` = ? AND `b` = ? AND `c` < ?))",
      values: [1, 1, 2, 1, 2, 3],
    });
    expect(() => keyComparison(["a", "b"], "<", [1])).toThrow();
  });
  it("covers the whole key space: open first and last chunks", () => {
    expect(chunksFromBoundaries([])).toEqual([{ index: 0, lower: null, upper: null }]);
    expect(chunksFromBoundaries([[10], [20]])).toEqual([
      { index: 0, lower: null, upper: [10] },
      { index: 1, lower: [10], upper: [20] },
      { index: 2, lower: [20], upper: null },
    ]);
  });
  it("checksums a chunk by key range", () => {
    expect(render(chunkChecksumSql(orders, null, [new SqlNumber("9007199254740993")], "crc32"))).toMatchInlineSnapshot(`"SELECT COUNT(*) AS cnt, CAST(BIT_XOR(CRC32(CONCAT_WS('#', \`id\`, HEX(\`customer\`), HEX(\`note\`), \`total\`, UNIX_TIMESTAMP(\`created\`), ISNULL(\`customer\`), ISNULL(\`note\`)))) AS CHAR) AS crc FROM \`shop\`.\`orders\` WHERE \`id\` < 9007199254740993"`);
    expect(render(chunkChecksumSql(lines, [7, 2], [9, 1], "crc32"))).toMatchInlineSnapshot(`"SELECT COUNT(*) AS cnt, CAST(BIT_XOR(CRC32(CONCAT_WS('#', \`order_id\`, \`line\`, HEX(\`sku\`)))) AS CHAR) AS crc FROM \`shop\`.\`order\`\`lines\` WHERE (\`order_id\` > 7 OR (\`order_id\` = 7 AND \`line\` >= 2)) AND (\`order_id\` < 9 OR (\`order_id\` = 9 AND \`line\` < 1))"`);
    expect(render(chunkChecksumSql(lines, null, null, "crc32"))).not.toMatch(/WHERE/);
  });
  it("checksums tables without a primary key whole, with SUM", () => {
    expect(render(tableChecksumSql({ db: "shop", table: "log", columns: [{ name: "msg", dataType: "text", nullable: true }], primaryKey: [] }, "crc32"))).toMatchInlineSnapshot(`"SELECT COUNT(*) AS cnt, CAST(COALESCE(SUM(CRC32(CONCAT_WS('#', HEX(\`msg\`), ISNULL(\`msg\`)))), 0) AS CHAR) AS crc FROM \`shop\`.\`log\`"`);
  });
  it("reads key values exactly", () => {
    const field = (type: string, text: string | null) => ({ type, string: () => text });
    expect(exactKeyCast(field("LONGLONG", "9007199254740993"), () => 0)).toEqual(new SqlNumber("9007199254740993"));
    expect(render({ sql: "?", values: [exactKeyCast(field("NEWDECIMAL", "-12.50"), () => 0)] })).toBe("-12.50");
    expect(exactKeyCast(field("DATETIME", "2024-01-02 03:04:05.123456"), () => 0)).toBe("2024-01-02 03:04:05.123456");
    expect(exactKeyCast(field("LONG", null), () => 0)).toBeNull();
    expect(exactKeyCast(field("VAR_STRING", "x"), () => "via next")).toBe("via next");
    expect(() => new SqlNumber("1; DROP")).toThrow();
  });
});

describe("compareTables (scripted runners)", () => {
  // A runner that answers by statement text; enough to check the driver's flow without a server.
  function fake(table: TableInfo | undefined, fingerprint: (s: Stmt) => { cnt: number; crc: string }, boundaries: unknown[][] = []): SqlRunner & { seen: string[] } {
    const seen: string[] = [];
    return {
      seen,
      async query(s) {
        seen.push(render(s));
        if (s.sql.startsWith("SET SESSION")) return [];
        if (s.sql.includes("information_schema")) {
          return table
            ? table.columns.map((c) => ({
                table_schema: s.values[0] && (s.values[0] as string[])[0],
                table_name: table.table,
                column_name: c.name,
                data_type: c.dataType,
                is_nullable: c.nullable ? "YES" : "NO",
                pk_position: table.primaryKey.includes(c.name) ? table.primaryKey.indexOf(c.name) + 1 : null,
              }))
            : [];
        }
        if (s.sql.includes("ROW_NUMBER")) return boundaries.map((b) => Object.fromEntries(b.map((v, i) => [`k${i}`, v])));
        return [fingerprint(s)];
      },
    };
  }

  it("reports only the differing chunks", async () => {
    const master = fake(orders, () => ({ cnt: 10, crc: "1/2" }), [[100], [200]]);
    const mirror = fake(orders, (s) => (s.values.includes(100) && s.values.includes(200) ? { cnt: 10, crc: "1/3" } : { cnt: 10, crc: "1/2" }));
    const r = await compareTables(master, mirror, "shop", "orders", { chunkSize: 10 });
    expect(r).toEqual({
      db: "shop",
      table: "orders",
      noPrimaryKey: false,
      chunks: 3,
      differing: [{ index: 1, lower: [100], upper: [200], master: { count: 10, checksum: "1/2" }, mirror: { count: 10, checksum: "1/3" } }],
      equal: false,
    });
    expect(master.seen[0]).toBe("SET SESSION time_zone = '+00:00'");
  });

  it("flags a schema difference without comparing rows", async () => {
    const r = await compareTables(fake(orders, () => ({ cnt: 0, crc: "0" })), fake(undefined, () => ({ cnt: 0, crc: "0" })), "shop", "orders");
    expect(r.equal).toBe(false);
    expect(r.schemaDiffers).toMatch(/mirror: \(missing\)/);
  });

  it("checksums tables without a primary key whole and flags them", async () => {
    const log: TableInfo = { db: "shop", table: "log", columns: [{ name: "msg", dataType: "text", nullable: true }], primaryKey: [] };
    const r = await compareTables(fake(log, () => ({ cnt: 2, crc: "5" })), fake(log, () => ({ cnt: 2, crc: "5" })), "shop", "log");
    expect(r).toEqual({ db: "shop", table: "log", noPrimaryKey: true, chunks: 1, differing: [], equal: true });
  });

  it("fails clearly when the master lacks the table", async () => {
    await expect(compareTables(fake(undefined, () => ({ cnt: 0, crc: "" })), fake(orders, () => ({ cnt: 0, crc: "" })), "shop", "nope")).rejects.toThrow(
      /shop.nope does not exist on the master/,
    );
  });
});
