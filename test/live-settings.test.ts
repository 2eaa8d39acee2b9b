// infra/render/live-settings.ts: which my.cnf changes go live (SET GLOBAL), which restart, which need nothing.
import { describe, expect, it } from "vitest";
import { describeSettingsPlan, mysqldOptions, planSettings } from "../infra/render/live-settings";
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
    expect(planSettings(base, edit("604800", "691200"))).toEqual({ kind: "live", statements: ["SET GLOBAL binlog_expire_logs_seconds = 691200"] });
    expect(planSettings(base, edit("sync_binlog = 1\n", ""))).toEqual({ kind: "live", statements: ["SET GLOBAL sync_binlog = DEFAULT"] });
    expect(describeSettingsPlan(planSettings(base, edit("604800", "691200")))).toBe(
      "applied live, no restart: SET GLOBAL binlog_expire_logs_seconds = 691200",
    );
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
    expect(planSettings(cnf(7, ["wiki"]), cnf(8, ["wiki"]))).toEqual({ kind: "live", statements: ["SET GLOBAL binlog_expire_logs_seconds = 691200"] });
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
