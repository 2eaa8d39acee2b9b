import { describe, expect, it } from "vitest";
import {
  health,
  normalizeBinaryLogs,
  normalizeReplicaStatus,
  normalizeSourceStatus,
  ReplicationNotConfiguredError,
  type ReplicaStatus,
} from "../infra/replication/status";
import { mariadbIoError, mariadbRunning, mariadbSqlError, mysql80Running, mysql84AuthError, mysql84Delayed } from "./fixtures/replication/rows";

describe("normalizeReplicaStatus", () => {
  it("MariaDB SHOW SLAVE STATUS", () => {
    expect(normalizeReplicaStatus([mariadbRunning])).toEqual({
      flavour: "mariadb",
      ioRunning: true,
      ioConnecting: false,
      sqlRunning: true,
      secondsBehind: 3,
      sqlDelay: 0,
      lastIoErrno: 0,
      lastIoError: null,
      lastSqlErrno: 0,
      lastSqlError: null,
      sourceHost: "10.0.0.1",
      sourcePort: 3306,
      sourceUser: "repl",
      readFile: "mysql-bin.000012",
      readPos: 1234567,
      execFile: "mysql-bin.000011",
      execPos: 998877,
      usingGtid: false,
      gtidReceived: null,
      gtidExecuted: null,
      gtid: null,
      sqlState: "Slave has read all relay log; waiting for more updates",
      ioState: "Waiting for master to send event",
    });
  });

  it("MySQL 8.0/8.4 SHOW REPLICA STATUS (numbers as strings, GTID sets)", () => {
    const s = normalizeReplicaStatus([mysql80Running]);
    expect(s).toMatchObject({
      flavour: "mysql",
      ioRunning: true,
      sqlRunning: true,
      secondsBehind: 0,
      sourceHost: "10.0.0.1",
      sourcePort: 3306,
      readFile: "binlog.000007",
      readPos: 157000,
      execFile: "binlog.000007",
      execPos: 156900,
      usingGtid: true,
      gtidReceived: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-120",
      gtidExecuted: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-118",
      gtid: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-118",
      sqlState: "Replica has read all relay log; waiting for more updates",
    });
  });

  it("errors, connecting state and GTID on MariaDB", () => {
    const io = normalizeReplicaStatus(mariadbIoError);
    expect(io).toMatchObject({ ioRunning: false, ioConnecting: true, sqlRunning: true, secondsBehind: null, lastIoErrno: 1045, usingGtid: true, gtid: "0-1-4711" });
    expect(io.lastIoError).toMatch(/Access denied/);
    const sql = normalizeReplicaStatus(mariadbSqlError);
    expect(sql).toMatchObject({ ioRunning: true, sqlRunning: false, lastSqlErrno: 1062 });
    expect(sql.lastSqlError).toMatch(/Duplicate entry/);
    const auth = normalizeReplicaStatus(mysql84AuthError);
    expect(auth).toMatchObject({ ioRunning: false, ioConnecting: false, lastIoErrno: 2061 });
  });

  it("accepts BigInt, Buffer and lower-cased column names", () => {
    const s = normalizeReplicaStatus({
      master_host: Buffer.from("db1"),
      slave_io_running: "Yes",
      slave_sql_running: "Yes",
      exec_master_log_pos: BigInt(42),
      relay_master_log_file: "bin.000001",
      seconds_behind_master: "7",
    });
    expect(s).toMatchObject({ sourceHost: "db1", ioRunning: true, execPos: 42, execFile: "bin.000001", secondsBehind: 7 });
  });

  it("throws ReplicationNotConfiguredError for no row or no source host", () => {
    expect(() => normalizeReplicaStatus([])).toThrow(ReplicationNotConfiguredError);
    expect(() => normalizeReplicaStatus(undefined, "mirror1")).toThrow(/\[mirror1\] replication is not configured/);
    expect(() => normalizeReplicaStatus({ ...mariadbRunning, Master_Host: "" })).toThrow(ReplicationNotConfiguredError);
  });
});

describe("source status and binary logs", () => {
  it("normalizes SHOW MASTER STATUS / SHOW BINARY LOG STATUS", () => {
    expect(normalizeSourceStatus([{ File: "bin.000001", Position: 322, Binlog_Do_DB: "", Binlog_Ignore_DB: "" }])).toEqual({ file: "bin.000001", pos: 322, gtidExecuted: null });
    expect(
      normalizeSourceStatus([{ File: "binlog.000003", Position: "157", Binlog_Do_DB: "", Binlog_Ignore_DB: "", Executed_Gtid_Set: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5" }]),
    ).toEqual({ file: "binlog.000003", pos: 157, gtidExecuted: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5" });
    expect(() => normalizeSourceStatus([], "db1")).toThrow(/\[db1\] binary logging is off/);
  });
  it("normalizes SHOW BINARY LOGS", () => {
    expect(normalizeBinaryLogs([{ Log_name: "bin.000001", File_size: 322 }, { Log_name: "bin.000002", File_size: "1048576", Encrypted: "No" }])).toEqual([
      { name: "bin.000001", size: 322 },
      { name: "bin.000002", size: 1048576 },
    ]);
  });
});

describe("health", () => {
  const ok = normalizeReplicaStatus(mariadbRunning);
  const with_ = (over: Partial<ReplicaStatus>): ReplicaStatus => ({ ...ok, ...over });

  it("OK when both threads run and lag is small", () => {
    expect(health(ok)).toEqual({ level: "OK", reasons: [] });
    expect(health(normalizeReplicaStatus(mysql80Running))).toEqual({ level: "OK", reasons: [] });
  });
  it("WARNING and CRITICAL by lag thresholds", () => {
    expect(health(with_({ secondsBehind: 60 }))).toEqual({ level: "WARNING", reasons: ["60 s behind the source (warning from 60 s)"] });
    expect(health(with_({ secondsBehind: 600 })).level).toBe("CRITICAL");
    expect(health(with_({ secondsBehind: 20 }), { warnSecondsBehind: 10, critSecondsBehind: 30 }).level).toBe("WARNING");
    expect(health(with_({ secondsBehind: 30 }), { warnSecondsBehind: 10, critSecondsBehind: 30 }).level).toBe("CRITICAL");
  });
  it("subtracts a configured SQL_Delay", () => {
    expect(health(normalizeReplicaStatus(mysql84Delayed))).toEqual({ level: "WARNING", reasons: ["100 s behind the source (warning from 60 s)"] });
  });
  it("unknown lag while running is a WARNING", () => {
    expect(health(with_({ secondsBehind: null }))).toEqual({ level: "WARNING", reasons: ["lag is unknown (Seconds_Behind is NULL)"] });
  });
  it("stopped threads and errors are CRITICAL, with the error text", () => {
    const io = health(normalizeReplicaStatus(mariadbIoError));
    expect(io.level).toBe("CRITICAL");
    expect(io.reasons[0]).toMatch(/^IO thread is connecting to 10.0.0.1: error 1045: .*Access denied/);
    const sql = health(normalizeReplicaStatus(mariadbSqlError));
    expect(sql.level).toBe("CRITICAL");
    expect(sql.reasons).toEqual([expect.stringMatching(/^SQL thread is not running: error 1062: .*Duplicate entry/)]);
    expect(health(normalizeReplicaStatus(mysql84AuthError)).reasons[0]).toMatch(/^IO thread is not running: error 2061/);
    expect(health(with_({ ioRunning: false, sqlRunning: false })).reasons).toEqual(["IO thread is not running", "SQL thread is not running"]);
  });
  it("connecting without an error yet is a WARNING", () => {
    expect(health(with_({ ioRunning: false, ioConnecting: true, secondsBehind: null }))).toEqual({ level: "WARNING", reasons: ["IO thread is connecting to 10.0.0.1"] });
  });
  it("a replica of another host is CRITICAL when the source is given", () => {
    expect(health(ok, { expectedSourceHost: "10.0.0.9" })).toEqual({ level: "CRITICAL", reasons: ["replicates from 10.0.0.1, expected 10.0.0.9"] });
  });
});
