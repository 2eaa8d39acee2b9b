import { describe, expect, it } from "vitest";
import {
  checkHost,
  checkReplicationGrants,
  dialect,
  engineFromServerVersion,
  features,
  isLiteralHost,
  parseVersion,
  render,
  runAll,
  UnsafeValueError,
  UnsupportedVersionError,
  type Dialect,
  type SqlRunner,
  type Stmt,
} from "../infra/replication/dialect";

const maria = dialect({ flavour: "mariadb", version: "10.11" });
const my80 = dialect({ flavour: "mysql", version: "8.0.36" });
const my84 = dialect({ flavour: "mysql", version: "8.4" });

const show = (s: Stmt | Stmt[]) => (Array.isArray(s) ? s : [s]).map((x) => render(x)).join(";\n");

const account = { user: "repl", host: "10.0.0.2", password: "s3cr3t-'quoted'" };
const source = { host: "10.0.0.1", port: 3306, user: "repl", password: "pw'with\"quotes\\" };

describe("versions", () => {
  it("parses config and server version strings", () => {
    expect(parseVersion("10.11")).toEqual({ major: 10, minor: 11 });
    expect(parseVersion("8.0.36")).toEqual({ major: 8, minor: 0, patch: 36 });
    expect(parseVersion("10.11.19-MariaDB-0+deb12u1-log")).toEqual({ major: 10, minor: 11, patch: 19 });
    expect(() => parseVersion("latest")).toThrow(/database.version "latest"/);
  });

  it("derives the engine from SELECT VERSION()", () => {
    expect(engineFromServerVersion("10.11.19-MariaDB-0+deb12u1-log")).toEqual({ flavour: "mariadb", version: "10.11.19" });
    expect(engineFromServerVersion("5.5.5-10.6.18-MariaDB")).toEqual({ flavour: "mariadb", version: "10.6.18" });
    expect(engineFromServerVersion("8.0.36-0ubuntu0.22.04.1")).toEqual({ flavour: "mysql", version: "8.0.36" });
    expect(engineFromServerVersion("8.4.3")).toEqual({ flavour: "mysql", version: "8.4.3" });
  });

  it("accepts MariaDB 10.5+, MySQL 8.0.23+ and 8.4", () => {
    for (const v of ["10.5", "10.5.1", "10.6", "10.11", "10.11.19", "11.4", "11.8.2"]) expect(() => features({ flavour: "mariadb", version: v })).not.toThrow();
    for (const v of ["8.0", "8.0.23", "8.0.40", "8.4", "8.4.3"]) expect(() => features({ flavour: "mysql", version: v })).not.toThrow();
  });

  it("refuses other versions, naming database.version", () => {
    const bad: [string, string, RegExp][] = [
      ["mariadb", "10.4", /database.version "10.4" is not supported for MariaDB: .*10.5 or later/],
      ["mariadb", "5.5", /database.version "5.5"/],
      ["mysql", "5.7", /database.version "5.7" is not supported: .*8.0 \(8.0.23 or later\) and 8.4/],
      ["mysql", "8.0.22", /database.version "8.0.22" .*CHANGE REPLICATION SOURCE TO needs 8.0.23/],
      ["mysql", "8.0.11", /8.0.11/],
      ["mysql", "8.1", /database.version "8.1"/],
      ["mysql", "8.3.0", /database.version "8.3.0"/],
      ["mysql", "9.1", /database.version "9.1"/],
    ];
    for (const [flavour, version, re] of bad) {
      expect(() => dialect({ flavour: flavour as "mariadb" | "mysql", version }), `${flavour} ${version}`).toThrow(UnsupportedVersionError);
      expect(() => dialect({ flavour: flavour as "mariadb" | "mysql", version })).toThrow(re);
    }
  });

  it("picks spellings per version", () => {
    expect(features({ flavour: "mysql", version: "8.0.23" }).posWaitFunction).toBe("MASTER_POS_WAIT");
    expect(features({ flavour: "mysql", version: "8.0.25" }).posWaitFunction).toBe("MASTER_POS_WAIT");
    expect(features({ flavour: "mysql", version: "8.0.26" }).posWaitFunction).toBe("SOURCE_POS_WAIT");
    expect(features({ flavour: "mysql", version: "8.0" }).posWaitFunction).toBe("SOURCE_POS_WAIT");
    expect(features({ flavour: "mysql", version: "8.0.40" }).sourceStatus).toBe("SHOW MASTER STATUS");
    expect(features({ flavour: "mysql", version: "8.4" }).sourceStatus).toBe("SHOW BINARY LOG STATUS");
    expect(features({ flavour: "mariadb", version: "11.4" }).replicaWord).toBe("SLAVE");
  });
});

describe("replication user", () => {
  it("mariadb 10.11", () => {
    expect(show(maria.createReplicationUser(account))).toMatchInlineSnapshot(`
      "SET SESSION sql_log_bin = 0;
      CREATE USER IF NOT EXISTS 'repl'@'10.0.0.2' IDENTIFIED BY 's3cr3t-\\'quoted\\'';
      ALTER USER 'repl'@'10.0.0.2' IDENTIFIED BY 's3cr3t-\\'quoted\\'' REQUIRE NONE;
      GRANT REPLICATION SLAVE ON *.* TO 'repl'@'10.0.0.2';
      SET SESSION sql_log_bin = 1"
    `);
  });
  it("mysql 8.0 and 8.4 (same statements)", () => {
    expect(show(my80.createReplicationUser(account))).toMatchInlineSnapshot(`
      "SET SESSION sql_log_bin = 0;
      CREATE USER IF NOT EXISTS 'repl'@'10.0.0.2' IDENTIFIED BY 's3cr3t-\\'quoted\\'';
      ALTER USER 'repl'@'10.0.0.2' IDENTIFIED BY 's3cr3t-\\'quoted\\'' REQUIRE NONE;
      GRANT REPLICATION SLAVE ON *.* TO 'repl'@'10.0.0.2';
      SET SESSION sql_log_bin = 1"
    `);
    expect(show(my84.createReplicationUser(account))).toBe(show(my80.createReplicationUser(account)));
  });
  it("can be binlogged on request, dropped, and its grants read", () => {
    expect(show(maria.createReplicationUser({ ...account, replicate: true }))).not.toMatch(/sql_log_bin/);
    expect(show(maria.dropReplicationUser(account))).toMatchInlineSnapshot(`
      "SET SESSION sql_log_bin = 0;
      DROP USER IF EXISTS 'repl'@'10.0.0.2';
      SET SESSION sql_log_bin = 1"
    `);
    expect(show(my84.showGrants(account))).toMatchInlineSnapshot(`"SHOW GRANTS FOR 'repl'@'10.0.0.2'"`);
  });
  it("grants REPLICATION SLAVE ON *.* and nothing else", () => {
    for (const d of [maria, my80, my84]) {
      const grants = d.createReplicationUser(account).filter((s) => /^GRANT/.test(s.sql));
      expect(grants).toHaveLength(1);
      expect(grants[0].sql).toBe("GRANT REPLICATION SLAVE ON *.* TO ?@?");
    }
  });
  it("keeps the password out of redacted renderings", () => {
    for (const s of maria.createReplicationUser(account)) expect(render(s, { redact: true })).not.toContain("s3cr3t");
    expect(render(maria.createReplicationUser(account)[1], { redact: true })).toBe("CREATE USER IF NOT EXISTS 'repl'@'10.0.0.2' IDENTIFIED BY '<redacted>'");
  });
  it("rejects unsafe user names", () => {
    for (const user of ["", "re'pl", 're"pl', "re`pl", "re\\pl", "re\npl", "re pl", "re%pl", "x".repeat(33)]) {
      expect(() => my80.createReplicationUser({ ...account, user }), JSON.stringify(user)).toThrow(UnsafeValueError);
    }
    expect(() => maria.createReplicationUser({ ...account, user: "x".repeat(80) })).not.toThrow();
    expect(() => maria.createReplicationUser({ ...account, user: "repl_user" })).not.toThrow();
  });
  it("rejects host patterns and anything that is not a literal address or host name", () => {
    for (const host of ["%", "10.0.0.%", "10.0.0._", "db_1.example.org", "", "10.0.0.0/255.255.255.0", "a'b", "a\\b", "a b", "host\n", "*.example.org", "300.1.1.1", "1.2.3", "-bad.example"]) {
      expect(() => maria.createReplicationUser({ ...account, host }), JSON.stringify(host)).toThrow(UnsafeValueError);
    }
    for (const host of ["10.0.0.2", "127.0.0.1", "db2.example.org", "localhost", "mirror-1", "::1", "fe80::1", "2001:db8::8a2e:370:7334", "::ffff:10.0.0.2"]) {
      expect(isLiteralHost(host), host).toBe(true);
      expect(() => checkHost(host)).not.toThrow();
    }
    expect(isLiteralHost("1::2::3")).toBe(false);
    // The hand-written IPv6 parser took these; node's isIP does not.
    for (const host of [":::", "1:::2", ":1::2", "1::2:", "fe80::1%eth0"]) expect(isLiteralHost(host), host).toBe(false);
  });
  it("rejects unusable passwords", () => {
    expect(() => my80.createReplicationUser({ ...account, password: "" })).toThrow(/empty/);
    expect(() => my80.createReplicationUser({ ...account, password: "a\nb" })).toThrow(/control characters/);
    expect(() => my80.createReplicationUser({ ...account, password: "x".repeat(33) })).toThrow(/at most 32/);
    expect(() => maria.createReplicationUser({ ...account, password: "x".repeat(96) })).not.toThrow();
    expect(() => maria.createReplicationUser({ ...account, password: "x".repeat(97) })).toThrow(/at most 96/);
  });
});

describe("change source", () => {
  const file = { kind: "file" as const, file: "mysql-bin.000042", pos: 1234 };
  it("mariadb 10.11: coordinates", () => {
    expect(show(maria.changeSource({ ...source, position: file }))).toMatchInlineSnapshot(`"CHANGE MASTER TO MASTER_HOST = '10.0.0.1', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'pw\\'with\\"quotes\\\\', MASTER_LOG_FILE = 'mysql-bin.000042', MASTER_LOG_POS = 1234, MASTER_USE_GTID = no"`);
  });
  it("mariadb 10.11: GTID with a start position, TLS and retry", () => {
    expect(show(maria.changeSource({ ...source, position: { kind: "gtid", gtid: "0-1-42" }, ssl: true, connectRetrySeconds: 10 }))).toMatchInlineSnapshot(`
      "SET GLOBAL gtid_slave_pos = '0-1-42';
      CHANGE MASTER TO MASTER_HOST = '10.0.0.1', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'pw\\'with\\"quotes\\\\', MASTER_USE_GTID = slave_pos, MASTER_SSL = 1, MASTER_CONNECT_RETRY = 10"
    `);
  });
  it("mariadb 10.11: GTID from the replica's own gtid_slave_pos", () => {
    expect(show(maria.changeSource({ ...source, position: { kind: "gtid" } }))).toMatchInlineSnapshot(`"CHANGE MASTER TO MASTER_HOST = '10.0.0.1', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'pw\\'with\\"quotes\\\\', MASTER_USE_GTID = slave_pos"`);
  });
  it("mysql 8.0: coordinates, RSA public key for caching_sha2_password", () => {
    expect(show(my80.changeSource({ ...source, position: file }))).toMatchInlineSnapshot(`"CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.0.0.1', SOURCE_PORT = 3306, SOURCE_USER = 'repl', SOURCE_PASSWORD = 'pw\\'with\\"quotes\\\\', SOURCE_LOG_FILE = 'mysql-bin.000042', SOURCE_LOG_POS = 1234, SOURCE_AUTO_POSITION = 0, GET_SOURCE_PUBLIC_KEY = 1"`);
  });
  it("mysql 8.4: GTID auto-positioning", () => {
    expect(show(my84.changeSource({ ...source, position: { kind: "gtid" } }))).toMatchInlineSnapshot(`"CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.0.0.1', SOURCE_PORT = 3306, SOURCE_USER = 'repl', SOURCE_PASSWORD = 'pw\\'with\\"quotes\\\\', SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1"`);
  });
  it("mysql 8.4: GTID with gtid_purged, over TLS (no public key request)", () => {
    expect(show(my84.changeSource({ ...source, position: { kind: "gtid", gtid: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5" }, ssl: true }))).toMatchInlineSnapshot(`
      "SET GLOBAL gtid_purged = '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5';
      CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.0.0.1', SOURCE_PORT = 3306, SOURCE_USER = 'repl', SOURCE_PASSWORD = 'pw\\'with\\"quotes\\\\', SOURCE_AUTO_POSITION = 1, SOURCE_SSL = 1"
    `);
  });
  it("puts host, port, user, password and position in one statement, password redactable", () => {
    for (const d of [maria, my80, my84]) {
      const stmts = d.changeSource({ ...source, position: file });
      expect(stmts).toHaveLength(1);
      expect(render(stmts[0], { redact: true })).not.toContain("pw'");
      expect(render(stmts[0], { redact: true })).toContain("PASSWORD = '<redacted>'");
    }
  });
  it("changes only the password (the rotation seed.ts runs), the statement seed.ts used to write inline", () => {
    // The raw SQL and value are pinned, not just the rendering: seed.ts sent exactly `CHANGE ... <PREFIX>PASSWORD = ?`.
    expect(maria.changeSourcePassword("new'pw")).toEqual({ sql: "CHANGE MASTER TO MASTER_PASSWORD = ?", values: ["new'pw"], secret: [0] });
    expect(my80.changeSourcePassword("new'pw")).toEqual({ sql: "CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = ?", values: ["new'pw"], secret: [0] });
    expect(show(my84.changeSourcePassword(source.password))).toMatchInlineSnapshot(`"CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = 'pw\\'with\\"quotes\\\\'"`);
    expect(render(maria.changeSourcePassword("new'pw"), { redact: true })).toBe("CHANGE MASTER TO MASTER_PASSWORD = '<redacted>'");
    expect(() => my80.changeSourcePassword("x".repeat(33))).toThrow(/at most 32/);
    expect(() => maria.changeSourcePassword("a\nb")).toThrow(/control characters/);
  });
  it("never uses MASTER/SLAVE spellings on MySQL 8.4", () => {
    const all: Stmt[] = [
      ...my84.changeSource({ ...source, position: file }),
      ...my84.changeSource({ ...source, position: { kind: "gtid" } }),
      my84.changeSourcePassword(source.password),
      my84.startReplica(),
      my84.stopReplica(),
      ...my84.fullReset(),
      my84.showReplicaStatus(),
      my84.showSourceStatus(),
      my84.waitForPosition({ file: "binlog.000001", pos: 4 }, 10),
      my84.showBinaryLogs(),
      my84.purgeBinaryLogsTo("binlog.000003"),
    ];
    for (const s of all) expect(s.sql).not.toMatch(/MASTER|SLAVE/);
  });
  it("validates every value", () => {
    expect(() => maria.changeSource({ ...source, host: "%", position: file })).toThrow(/source host/);
    expect(() => maria.changeSource({ ...source, port: 0, position: file })).toThrow(/port 0/);
    expect(() => maria.changeSource({ ...source, port: 3306.5, position: file })).toThrow(/port/);
    expect(() => maria.changeSource({ ...source, position: { kind: "file", file: "../etc/passwd", pos: 4 } })).toThrow(/binary log file name/);
    expect(() => maria.changeSource({ ...source, position: { kind: "file", file: "bin.000001", pos: 3 } })).toThrow(/position 3/);
    expect(() => maria.changeSource({ ...source, position: { kind: "gtid", gtid: "0-1-2'; DROP" } })).toThrow(/GTID/);
    expect(() => my84.changeSource({ ...source, position: { kind: "gtid", gtid: "0-1-2" } })).toThrow(/MySQL GTID set/);
    expect(() => maria.changeSource({ ...source, connectRetrySeconds: 0, position: file })).toThrow(/connect retry/);
  });
});

describe("replica control and positions", () => {
  const all = (d: Dialect) =>
    show([
      d.startReplica(),
      d.stopReplica(),
      d.resetReplicaAll(),
      d.showReplicaStatus(),
      d.showSourceStatus(),
      d.gtidPosition(),
      d.waitForPosition({ file: "bin.000002", pos: 500 }, 30),
      d.showBinaryLogs(),
      d.purgeBinaryLogsTo("bin.000002"),
    ]);
  it("mariadb 10.11", () => {
    expect(all(maria)).toMatchInlineSnapshot(`
      "START SLAVE;
      STOP SLAVE;
      RESET SLAVE ALL;
      SHOW SLAVE STATUS;
      SHOW MASTER STATUS;
      SELECT @@GLOBAL.gtid_binlog_pos AS gtid_binlog_pos, @@GLOBAL.gtid_current_pos AS gtid_current_pos;
      SELECT MASTER_POS_WAIT('bin.000002', 500, 30) AS result;
      SHOW BINARY LOGS;
      PURGE BINARY LOGS TO 'bin.000002'"
    `);
    expect(show(maria.waitForPosition({ gtid: "0-1-42" }, 30))).toMatchInlineSnapshot(`"SELECT MASTER_GTID_WAIT('0-1-42', 30) AS result"`);
    expect(show(maria.gtidForCoordinates("bin.000002", 500))).toMatchInlineSnapshot(`"SELECT BINLOG_GTID_POS('bin.000002', 500) AS gtid"`);
    expect(show(maria.fullReset())).toMatchInlineSnapshot(`
      "STOP SLAVE;
      RESET SLAVE ALL"
    `);
  });
  it("mysql 8.0.36", () => {
    expect(all(my80)).toMatchInlineSnapshot(`
      "START REPLICA;
      STOP REPLICA;
      RESET REPLICA ALL;
      SHOW REPLICA STATUS;
      SHOW MASTER STATUS;
      SELECT @@GLOBAL.gtid_executed AS gtid_executed;
      SELECT SOURCE_POS_WAIT('bin.000002', 500, 30) AS result;
      SHOW BINARY LOGS;
      PURGE BINARY LOGS TO 'bin.000002'"
    `);
    expect(show(my80.waitForPosition({ gtid: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5" }, 30))).toMatchInlineSnapshot(`"SELECT WAIT_FOR_EXECUTED_GTID_SET('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5', 30) AS result"`);
    expect(() => my80.gtidForCoordinates("bin.000002", 500)).toThrow(/only on MariaDB/);
  });
  it("mysql 8.0.23 uses MASTER_POS_WAIT", () => {
    expect(show(dialect({ flavour: "mysql", version: "8.0.23" }).waitForPosition({ file: "bin.000002", pos: 500 }, 5))).toMatchInlineSnapshot(`"SELECT MASTER_POS_WAIT('bin.000002', 500, 5) AS result"`);
  });
  it("mysql 8.4", () => {
    expect(all(my84)).toMatchInlineSnapshot(`
      "START REPLICA;
      STOP REPLICA;
      RESET REPLICA ALL;
      SHOW REPLICA STATUS;
      SHOW BINARY LOG STATUS;
      SELECT @@GLOBAL.gtid_executed AS gtid_executed;
      SELECT SOURCE_POS_WAIT('bin.000002', 500, 30) AS result;
      SHOW BINARY LOGS;
      PURGE BINARY LOGS TO 'bin.000002'"
    `);
    expect(show(my84.fullReset())).toMatchInlineSnapshot(`
      "STOP REPLICA;
      RESET REPLICA ALL"
    `);
  });
  it("interprets wait results", () => {
    const coords = maria.waitForPosition({ file: "bin.000002", pos: 500 }, 1);
    expect([coords.interpret(0), coords.interpret(3), coords.interpret(-1), coords.interpret(null)]).toEqual(["reached", "reached", "timeout", "not-running"]);
    const mg = maria.waitForPosition({ gtid: "0-1-1" }, 1);
    expect([mg.interpret(0), mg.interpret(-1)]).toEqual(["reached", "timeout"]);
    const yg = my84.waitForPosition({ gtid: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1" }, 1);
    expect([yg.interpret(0), yg.interpret(1), yg.interpret("0")]).toEqual(["reached", "timeout", "reached"]);
    expect(() => maria.waitForPosition({ file: "bin.000002", pos: 500 }, -1)).toThrow(/timeout/);
  });
  it("rejects unsafe binlog names in PURGE", () => {
    expect(() => maria.purgeBinaryLogsTo("bin.000001'; DROP DATABASE x; --")).toThrow(UnsafeValueError);
    expect(() => maria.purgeBinaryLogsTo("/var/lib/mysql/bin.000001")).toThrow(UnsafeValueError);
  });
});

describe("grants check", () => {
  it("accepts exactly REPLICATION SLAVE (MariaDB and MySQL spellings)", () => {
    expect(checkReplicationGrants(["GRANT REPLICATION SLAVE ON *.* TO `repl`@`10.0.0.2` IDENTIFIED BY PASSWORD '*43595EDD8DF5BDE647D582B861734F691FB48285'"])).toEqual({
      hasReplicationSlave: true,
      extra: [],
      ok: true,
    });
    expect(checkReplicationGrants([{ "Grants for repl@10.0.0.2": "GRANT REPLICATION SLAVE ON *.* TO `repl`@`10.0.0.2`" }]).ok).toBe(true);
  });
  it("flags anything more, and a missing grant", () => {
    const c = checkReplicationGrants([
      "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `repl`@`10.0.0.2`",
      "GRANT SELECT, INSERT ON `shop`.* TO `repl`@`10.0.0.2` WITH GRANT OPTION",
    ]);
    expect(c.ok).toBe(false);
    expect(c.extra).toEqual(["REPLICATION CLIENT ON *.*", "SELECT ON `shop`.*", "INSERT ON `shop`.*", "GRANT OPTION ON `shop`.*"]);
    expect(checkReplicationGrants(["GRANT USAGE ON *.* TO `repl`@`10.0.0.2`"])).toEqual({ hasReplicationSlave: false, extra: [], ok: false });
  });
});

describe("runAll", () => {
  it("runs in order and restores sql_log_bin when a statement fails", async () => {
    const ran: string[] = [];
    const runner: SqlRunner = {
      async query(s) {
        ran.push(s.sql);
        if (s.sql.startsWith("ALTER USER")) throw new Error("boom");
        return [];
      },
    };
    await expect(runAll(runner, maria.createReplicationUser(account))).rejects.toThrow("boom");
    expect(ran).toEqual([
      "SET SESSION sql_log_bin = 0",
      "CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?",
      "ALTER USER ?@? IDENTIFIED BY ? REQUIRE NONE",
      "SET SESSION sql_log_bin = 1",
    ]);
  });
});
