// infra/render/live-settings.ts: which my.cnf changes go live (SET GLOBAL), which restart, which need nothing.
import { describe, expect, it } from "vitest";
import { describeSettingsPlan, LIVE_WITH_REPLICA_PAUSED, mysqldOptions, planSettings } from "../infra/render/live-settings";
import { renderStack } from "../infra/render";
import { parseStackConfig } from "../infra/config";

const base = `# comment
[client]
port = 1
[mysqld]
server_id = 1
log_bin = /var/log/mysql/mysql-bin
binlog_do_db = wiki
binlog_do_db = shop
binlog_expire_logs_seconds = 604800
sync_binlog = 1
`;
const edit = (from: string, to: string) => base.replace(from, to);

describe("live settings", () => {
  it("reads only [mysqld] options, repeated ones in order, with - and _ alike", () => {
    const o = mysqldOptions(`${base}[mysqldump]\nquick\n[mysqld]\nskip-name-resolve\n`);
    expect(o.get("binlog_do_db")).toEqual(["wiki", "shop"]);
    expect(o.get("skip_name_resolve")).toEqual([""]);
    expect(o.has("port")).toBe(false);
    expect(o.has("quick")).toBe(false);
  });

  it("a comment-only change needs nothing", () => {
    expect(planSettings(base, base.replace("# comment", "# another comment"))).toEqual({ kind: "none" });
  });

  it("a changed live option becomes SET GLOBAL, a removed one goes back to its default", () => {
    expect(planSettings(base, edit("604800", "691200"))).toEqual({ kind: "live", statements: ["SET GLOBAL binlog_expire_logs_seconds = 691200"], pauseReplica: false });
    expect(planSettings(base, edit("sync_binlog = 1\n", ""))).toEqual({ kind: "live", statements: ["SET GLOBAL sync_binlog = DEFAULT"], pauseReplica: false });
    expect(describeSettingsPlan(planSettings(base, edit("604800", "691200")))).toBe(
      "applied live, no restart: SET GLOBAL binlog_expire_logs_seconds = 691200",
    );
  });

  it("the parallel applier's options go live with replication paused, and only they pause it", () => {
    const applier = (n: number) => `${base}slave_parallel_threads = ${n}\nslave_parallel_mode = optimistic\n`;
    const p = planSettings(applier(4), applier(8));
    expect(p).toEqual({ kind: "live", statements: ["SET GLOBAL slave_parallel_threads = 8"], pauseReplica: true });
    expect(describeSettingsPlan(p)).toBe("applied live, no restart (replication paused for it): SET GLOBAL slave_parallel_threads = 8");
    // Added to a file that had none (an upgrade): live, paused; beside another live option, still one pause.
    expect(planSettings(base, applier(4))).toEqual({ kind: "live", statements: ["SET GLOBAL slave_parallel_mode = optimistic", "SET GLOBAL slave_parallel_threads = 4"], pauseReplica: true });
    expect(planSettings(applier(4), applier(4).replace("604800", "691200"))).toMatchObject({ kind: "live", pauseReplica: false });
    for (const o of ["replica_parallel_workers", "replica_preserve_commit_order", "slave_parallel_workers", "slave_parallel_type", "slave_preserve_commit_order"]) {
      expect(planSettings(base, `${base}${o} = 2\n`), o).toMatchObject({ kind: "live", pauseReplica: true });
    }
  });

  it("each flavour's rendered applier options (both roles) are ones a change pauses replication for", () => {
    const applier = (flavour: "mariadb" | "mysql", version: string, threads?: number) => {
      const c = parseStackConfig(
        {
          master: { name: "m", address: "10.0.0.10" },
          mirrors: [{ name: "r", address: "10.0.0.11" }],
          database: { flavour, version, databases: ["wiki"], ...(threads === undefined ? {} : { replicaParallelThreads: threads }) },
          replicationPassword: "abcdefghijklmnopqrstu",
          backups: { enabled: false },
        },
        { stack: "t", secretKeys: new Set(["replicationPassword"]) },
      );
      const hosts = renderStack(c, { stack: "t", secrets: { replicationPassword: "x", backupPassphrase: "" } });
      const per = hosts.map((h) => {
        const f = h.files.find((x) => x.path.endsWith("60-mirrorstack.cnf"))!;
        return [...mysqldOptions(f.content)].filter(([k]) => /parallel|preserve_commit/.test(k)).map(([k, v]) => `${k}=${v.join(",")}`);
      });
      expect(per[0]).toEqual(per[1]); // master and mirror alike: a switchover changes none of them
      return per[0];
    };
    expect(applier("mariadb", "10.11")).toEqual(["slave_parallel_threads=4", "slave_parallel_mode=optimistic"]);
    expect(applier("mariadb", "10.11", 0)).toEqual(["slave_parallel_threads=0", "slave_parallel_mode=optimistic"]);
    expect(applier("mysql", "8.0", 2)).toEqual(["slave_parallel_type=LOGICAL_CLOCK", "slave_parallel_workers=2", "slave_preserve_commit_order=ON"]);
    expect(applier("mysql", "8.4")).toEqual(["replica_parallel_workers=4", "replica_preserve_commit_order=ON"]);
    for (const o of [...applier("mariadb", "10.11"), ...applier("mysql", "8.0"), ...applier("mysql", "8.4")]) expect(LIVE_WITH_REPLICA_PAUSED).toContain(o.split("=")[0]);
  });

  it("any option the server cannot change at run time restarts, and says which", () => {
    const p = planSettings(base, edit("604800", "691200").replace("server_id = 1", "server_id = 2").replace("shop", "shop2"));
    expect(p).toEqual({ kind: "restart", because: ["binlog_do_db", "server_id"] });
    expect(describeSettingsPlan(p)).toBe("restart (binlog_do_db, server_id cannot change at run time)");
  });

  it("a value that would need quoting restarts instead of being spliced into SQL", () => {
    expect(planSettings(base, edit("sync_binlog = 1", "sync_binlog = 1; DROP DATABASE wiki"))).toEqual({ kind: "restart", because: ["sync_binlog"] });
  });

  it("the rendered master file: changing binlogRetentionDays goes live, changing the databases restarts", () => {
    const cfg = (days: number, dbs: string[]) =>
      parseStackConfig(
        {
          master: { name: "master", address: "10.0.0.10" },
          mirrors: [{ name: "mirror1", address: "10.0.0.11" }],
          database: { databases: dbs, binlogRetentionDays: days },
          replicationPassword: "abcdefghijklmnopqrstu",
          backups: { enabled: false },
        },
        { stack: "t", secretKeys: new Set(["replicationPassword"]) },
      );
    const cnf = (days: number, dbs: string[]) => {
      const plan = renderStack(cfg(days, dbs), { stack: "t", secrets: { replicationPassword: "x", backupPassphrase: "" } }).find((h) => h.host === "master");
      const f = plan?.files.find((x) => x.path.endsWith("60-mirrorstack.cnf"));
      if (!f) throw new Error("no master my.cnf rendered");
      expect(f.onChange).toEqual([{ service: "mariadb", action: "settings" }]);
      return f.content;
    };
    expect(planSettings(cnf(7, ["wiki"]), cnf(8, ["wiki"]))).toEqual({ kind: "live", statements: ["SET GLOBAL binlog_expire_logs_seconds = 691200"], pauseReplica: false });
    expect(planSettings(cnf(7, ["wiki"]), cnf(7, ["wiki", "shop"]))).toMatchObject({ kind: "restart", because: ["binlog_do_db", "replicate_do_db"] });
  });

  it("a switchover in the config (master and mirror trade roles, server ids kept) restarts neither server", () => {
    const cfg = (master: string, mirror: string) =>
      parseStackConfig(
        {
          master: { name: master, address: master === "a" ? "10.0.0.10" : "10.0.0.11", serverId: master === "a" ? 1 : 101 },
          mirrors: [{ name: mirror, address: mirror === "a" ? "10.0.0.10" : "10.0.0.11", serverId: mirror === "a" ? 1 : 101 }],
          database: { databases: ["wiki"] },
          replicationPassword: "abcdefghijklmnopqrstu",
          backups: { enabled: false },
        },
        { stack: "t", secretKeys: new Set(["replicationPassword"]) },
      );
    const cnf = (c: ReturnType<typeof cfg>, host: string) =>
      renderStack(c, { stack: "t", secrets: { replicationPassword: "x", backupPassphrase: "" } })
        .find((h) => h.host === host)!
        .files.find((x) => x.path.endsWith("60-mirrorstack.cnf"))!.content;
    const before = cfg("a", "b");
    const after = cfg("b", "a");
    // b: mirror -> master; a: master -> mirror. Only options the server takes at run time change.
    const promoted = planSettings(cnf(before, "b"), cnf(after, "b"));
    const demoted = planSettings(cnf(before, "a"), cnf(after, "a"));
    expect(promoted.kind).toBe("live");
    expect(demoted.kind).toBe("live");
    expect(promoted.kind === "live" && promoted.statements).toContain("SET GLOBAL read_only = DEFAULT");
    expect(demoted.kind === "live" && demoted.statements).toContain("SET GLOBAL read_only = ON");
    expect(promoted.kind === "live" && promoted.statements).toContain("SET GLOBAL gtid_strict_mode = ON");
  });
});
