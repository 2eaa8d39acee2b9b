import { describe, expect, it } from "vitest";
import { decidePurge, type MirrorReport } from "../infra/replication/purge";
import { normalizeReplicaStatus, type BinaryLog, type ReplicaStatus } from "../infra/replication/status";
import { mariadbRunning, mysql80Running } from "./fixtures/replication/rows";

const logs = (from: number, to: number, base = "mysql-bin"): BinaryLog[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ name: `${base}.${String(from + i).padStart(6, "0")}`, size: 1000 }));

const base = normalizeReplicaStatus(mariadbRunning);
const at = (execFile: string, over: Partial<ReplicaStatus> = {}): ReplicaStatus => ({ ...base, execFile, ...over });
const mirror = (name: string, status: MirrorReport["status"], detail?: string): MirrorReport => ({ name, status, ...(detail ? { detail } : {}) });

describe("decidePurge", () => {
  it("purges up to the oldest log any mirror still executes from", () => {
    const d = decidePurge({
      binlogs: logs(10, 15),
      mirrors: [mirror("m1", at("mysql-bin.000014")), mirror("m2", at("mysql-bin.000012")), mirror("m3", at("mysql-bin.000015"))],
    });
    expect(d).toEqual({
      ok: true,
      purgeTo: "mysql-bin.000012",
      removes: ["mysql-bin.000010", "mysql-bin.000011"],
      neededBy: ["m2"],
      message: "purge to mysql-bin.000012 (removes 2 logs, mysql-bin.000010 .. mysql-bin.000011); mysql-bin.000012 is still needed by m2",
    });
  });

  it("names every mirror at the minimum", () => {
    const d = decidePurge({ binlogs: logs(1, 3), mirrors: [mirror("a", at("mysql-bin.000002")), mirror("b", at("mysql-bin.000002"))] });
    expect(d.ok && d.neededBy).toEqual(["a", "b"]);
  });

  it("uses the executed file, not the file the IO thread has read", () => {
    const d = decidePurge({ binlogs: logs(10, 12), mirrors: [mirror("m1", at("mysql-bin.000011", { readFile: "mysql-bin.000012" }))] });
    expect(d.ok && d.purgeTo).toBe("mysql-bin.000011");
  });

  it("purges nothing when the oldest log is still needed", () => {
    const d = decidePurge({ binlogs: logs(10, 12), mirrors: [mirror("m1", at("mysql-bin.000010")), mirror("m2", at("mysql-bin.000012"))] });
    expect(d).toMatchObject({ ok: true, purgeTo: null, removes: [], neededBy: ["m1"] });
    expect(d.message).toBe("nothing to purge: mysql-bin.000010 (the oldest log) is still needed by m1");
  });

  it("works with MySQL status rows", () => {
    const d = decidePurge({ binlogs: logs(5, 8, "binlog"), mirrors: [mirror("m1", normalizeReplicaStatus(mysql80Running))] });
    expect(d).toMatchObject({ ok: true, purgeTo: "binlog.000007", removes: ["binlog.000005", "binlog.000006"] });
  });

  describe("refuses", () => {
    const binlogs = logs(10, 12);
    const good = mirror("good", at("mysql-bin.000012"));

    it("when a mirror is unreachable", () => {
      const d = decidePurge({ binlogs, mirrors: [good, mirror("m2", "unreachable", "ssh: connect to host 10.0.0.3 port 22: Connection refused")] });
      expect(d.ok).toBe(false);
      expect(d.message).toBe(
        "refusing to purge binary logs: mirror m2 is unreachable (ssh: connect to host 10.0.0.3 port 22: Connection refused); its position is unknown",
      );
      expect(!d.ok && d.refusals).toEqual([{ mirror: "m2", reason: expect.stringContaining("unreachable") }]);
    });
    it("when replication is not configured on a mirror", () => {
      const d = decidePurge({ binlogs, mirrors: [good, mirror("m3", "not-configured")] });
      expect(d).toMatchObject({ ok: false, message: "refusing to purge binary logs: replication is not configured on mirror m3" });
    });
    it("when a mirror's IO thread is stopped", () => {
      const d = decidePurge({ binlogs, mirrors: [good, mirror("m4", at("mysql-bin.000010", { ioRunning: false, lastIoError: "Access denied" }))] });
      expect(d.message).toBe("refusing to purge binary logs: replication on mirror m4 is stopped: IO thread not running (Access denied)");
    });
    it("when a mirror's SQL thread is stopped", () => {
      const d = decidePurge({ binlogs, mirrors: [good, mirror("m5", at("mysql-bin.000010", { sqlRunning: false }))] });
      expect(d.message).toBe("refusing to purge binary logs: replication on mirror m5 is stopped: SQL thread not running");
    });
    it("when a mirror is connecting (IO thread not running yet)", () => {
      const d = decidePurge({ binlogs, mirrors: [mirror("m6", at("mysql-bin.000011", { ioRunning: false, ioConnecting: true }))] });
      expect(d.ok).toBe(false);
      expect(d.message).toMatch(/mirror m6 is stopped: IO thread not running/);
    });
    it("listing every refused mirror", () => {
      const d = decidePurge({ binlogs, mirrors: [mirror("a", "unreachable"), good, mirror("b", "not-configured"), mirror("c", at("x", { sqlRunning: false, ioRunning: false }))] });
      expect(!d.ok && d.refusals.map((r) => r.mirror)).toEqual(["a", "b", "c"]);
      expect(d.message).toMatch(/IO thread not running; SQL thread not running/);
    });
    it("when a mirror needs a log the master no longer has", () => {
      const d = decidePurge({ binlogs, mirrors: [mirror("old", at("mysql-bin.000007"))] });
      expect(d.message).toBe(
        "refusing to purge binary logs: mirror old still needs mysql-bin.000007, which the master no longer has (oldest is mysql-bin.000010); the mirror must be re-seeded",
      );
    });
    it("when a mirror is ahead of the master or on another log series", () => {
      expect(decidePurge({ binlogs, mirrors: [mirror("ahead", at("mysql-bin.000020"))] }).message).toMatch(/mirror ahead is at mysql-bin.000020, newer than the master's newest log mysql-bin.000012/);
      expect(decidePurge({ binlogs, mirrors: [mirror("other", at("binlog.000011"))] }).message).toMatch(/mirror other is at binlog.000011, which is not one of the master's binary logs/);
    });
    it("when a mirror reports no executed file", () => {
      expect(decidePurge({ binlogs, mirrors: [mirror("blank", at("", { execFile: null }))] }).message).toMatch(/mirror blank reports no executed source log file/);
    });
    it("when a mirror replicates from another source", () => {
      const d = decidePurge({ binlogs, mirrors: [good], expectedSourceHost: "10.0.0.9" });
      expect(d.message).toBe("refusing to purge binary logs: mirror good replicates from 10.0.0.1, not from 10.0.0.9");
    });
    it("without mirrors or binary logs", () => {
      expect(decidePurge({ binlogs, mirrors: [] })).toMatchObject({ ok: false, message: expect.stringMatching(/no mirror status was given/) });
      expect(decidePurge({ binlogs: [], mirrors: [good] })).toMatchObject({ ok: false, message: expect.stringMatching(/lists no binary logs/) });
    });
  });
});
