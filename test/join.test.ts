import { describe, expect, it } from "vitest";
import { joinPlan, type ServerState } from "../infra/replication/join";
import { parseGtidList } from "../infra/replication/gtid";
import { rolesBefore } from "../infra/ops/promote";
import { parseStackConfig } from "../infra/config";

// How `up` makes a mirror follow a master without a copy (MirrorReplication, after a switchover in the config).

const server = (name: string, over: Partial<Omit<ServerState, "binlogState" | "binlogPos" | "slavePos">> & { state?: string; pos?: string; slave?: string } = {}): ServerState => ({
  name,
  serverId: over.serverId ?? 101,
  readOnly: over.readOnly ?? true,
  logBin: over.logBin ?? true,
  logSlaveUpdates: true,
  strict: false,
  binlogState: parseGtidList(over.state ?? ""),
  binlogPos: parseGtidList(over.pos ?? over.state ?? ""),
  slavePos: parseGtidList(over.slave ?? ""),
  replica: over.replica ?? null,
});
const replicaOf = (host: string) => ({ sourceHost: host, ioRunning: true, sqlRunning: true }) as unknown as ServerState["replica"];

describe("joinPlan", () => {
  const master = server("b", { serverId: 101, readOnly: false, state: "0-1-40,0-101-3" });

  it("a mirror already replicating from the master is left as it is", () => {
    expect(joinPlan(server("c", { serverId: 102, replica: replicaOf("10.0.0.11"), state: "0-1-40" }), master, "10.0.0.11", { formerMasterOnly: true }).kind).toBe("already");
  });

  it("a mirror of the old master holding nothing the new one lacks joins by GTID from the later of its positions", () => {
    const p = joinPlan(server("c", { serverId: 102, replica: replicaOf("10.0.0.10"), state: "0-1-38", slave: "0-1-40" }), master, "10.0.0.11", { formerMasterOnly: true });
    expect(p).toMatchObject({ kind: "gtid", gtid: "0-1-40" });
  });

  it("an old master replicating from nobody joins when all it wrote reached the new master", () => {
    const p = joinPlan(server("a", { serverId: 1, readOnly: false, state: "0-1-40" }), master, "10.0.0.11", { formerMasterOnly: true });
    expect(p).toMatchObject({ kind: "gtid", gtid: "0-1-40" });
    expect(p.why).toMatch(/replicated from nobody \(an old master\)/);
  });

  it("what the master applied as a replica counts as held (its gtid_slave_pos), whichever list has the higher seq", () => {
    const m = server("b", { serverId: 101, readOnly: false, state: "0-1-30,0-101-3", slave: "0-1-42" });
    expect(joinPlan(server("a", { serverId: 1, readOnly: false, state: "0-1-42" }), m, "10.0.0.11", { formerMasterOnly: true }).kind).toBe("gtid");
    const m2 = server("b", { serverId: 101, readOnly: false, state: "0-1-42,0-101-3", slave: "0-1-30" });
    expect(joinPlan(server("a", { serverId: 1, readOnly: false, state: "0-1-42" }), m2, "10.0.0.11", { formerMasterOnly: true }).kind).toBe("gtid");
  });

  it("errant transactions are named and mean a copy", () => {
    const p = joinPlan(server("a", { serverId: 1, readOnly: false, state: "0-1-42" }), master, "10.0.0.11", { formerMasterOnly: true });
    expect(p.kind).toBe("copy");
    expect(p.why).toMatch(/holds transactions b lacks: 0-1-42/);
  });

  it("a host reset on purpose (replicates from nobody, never wrote anything of its own) is copied", () => {
    const p = joinPlan(server("c", { serverId: 102, state: "0-1-30" }), master, "10.0.0.11", { formerMasterOnly: true });
    expect(p.kind).toBe("copy");
    expect(p.why).toMatch(/never was a master/);
  });

  it("a new, empty host or one without a binary log is copied", () => {
    expect(joinPlan(server("d"), master, "10.0.0.11", { formerMasterOnly: true })).toMatchObject({ kind: "copy", why: expect.stringMatching(/no GTID position/) });
    expect(joinPlan(server("d", { logBin: false, state: "0-1-3" }), master, "10.0.0.11", { formerMasterOnly: true })).toMatchObject({ kind: "copy", why: expect.stringMatching(/no binary log/) });
  });
});

describe("rolesBefore", () => {
  it("gives the old master its role back and puts the new one in its place among the mirrors", () => {
    const cfg = parseStackConfig(
      {
        master: { name: "b", address: "10.0.0.11", serverId: 100 },
        mirrors: [{ name: "a", address: "10.0.0.10", serverId: 1 }, { name: "c", address: "10.0.0.12" }],
        database: { databases: ["wiki"] },
        replicationPassword: "abcdefghijklmnopqrstu",
        backups: { enabled: false },
      },
      { stack: "t", secretKeys: new Set(["replicationPassword"]) },
    );
    const before = rolesBefore(cfg, "a");
    expect(before.master).toMatchObject({ name: "a", role: "master", serverId: 1, address: "10.0.0.10" });
    expect(before.mirrors.map((m) => [m.name, m.role, m.serverId])).toEqual([["b", "mirror", 100], ["c", "mirror", 101]]);
    expect(before.hosts.map((h) => h.name)).toEqual(["a", "b", "c"]);
    expect(() => rolesBefore(cfg, "x")).toThrow(/\[mirrors\] the old master x is not among the mirrors/);
  });
});

describe("MirrorReplication diff", () => {
  it("another master is an update (the mirror joins it), another seed token or mirror address a replace (a copy)", async () => {
    const { replicationProvider } = await import("../infra/providers/mirrorReplication");
    const t = (host: string, address: string) => ({ host, address, user: "root", port: 22 });
    const olds = {
      master: t("a", "10.0.0.10"), mirror: t("c", "10.0.0.12"), sourceHost: "10.0.0.10", sourcePort: 3306, mirrorAddress: "10.0.0.12",
      engine: { flavour: "mariadb", version: "10.11" }, user: "repl", password: "p", databases: ["wiki"], method: "logical", catchUpTimeoutSeconds: 60, seedToken: "", scripts: {},
    } as never as Parameters<NonNullable<typeof replicationProvider.diff>>[1];
    const diff = (news: object) => replicationProvider.diff!("id", olds, { ...(olds as object), ...news } as typeof olds);
    expect(await diff({})).toMatchObject({ changes: false, replaces: [] });
    expect(await diff({ master: t("b", "10.0.0.11"), sourceHost: "10.0.0.11" })).toMatchObject({ changes: true, replaces: [] });
    expect(await diff({ seedToken: "2026-12-06" })).toMatchObject({ changes: true, replaces: ["seedToken"] });
    expect(await diff({ mirrorAddress: "10.0.0.13" })).toMatchObject({ changes: true, replaces: ["mirrorAddress"] });
  });
});

describe("MasterRole provider", () => {
  const cfgOf = (master: string, mirrors: string[], tls: boolean) =>
    parseStackConfig(
      {
        master: { name: master, address: "10.0.0.10" },
        mirrors: mirrors.map((m, i) => ({ name: m, address: `10.0.0.${11 + i}` })),
        database: { databases: ["wiki"] },
        tls: { enabled: tls },
        replicationPassword: "abcdefghijklmnopqrstu",
        backups: { enabled: false },
      },
      { stack: "t", secretKeys: new Set(["replicationPassword"]) },
    );
  const state = (master: string, mirrors: string[], tls = false) => ({ master, stack: "t", cfg: cfgOf(master, mirrors, tls), targets: {}, password: "p" });

  it("diff: only another master is a change; check lets it through with or without TLS, refuses it on MySQL", async () => {
    const { masterRoleProvider: p } = await import("../infra/providers/masterRole");
    expect(await p.diff!("id", state("a", ["b"]), state("a", ["b", "c"]))).toEqual({ changes: false });
    expect(await p.diff!("id", state("a", ["b"]), state("b", ["a"]))).toEqual({ changes: true });
    expect((await p.check!(state("a", ["b"]), state("b", ["a"]))).failures).toEqual([]);
    expect((await p.check!(state("a", ["b"], true), state("b", ["a"], true))).failures).toEqual([]);
    const mysql = (m: string, ms: string[]) => ({ ...state(m, ms), cfg: { ...state(m, ms).cfg, database: { ...state(m, ms).cfg.database, flavour: "mysql" as const } } });
    expect((await p.check!(mysql("a", ["b"]), mysql("b", ["a"]))).failures).toEqual([
      { property: "database.flavour", reason: expect.stringMatching(/a switchover \(master a -> b\) is implemented for MariaDB only/) },
    ]);
    // A first run (no old master) is never refused.
    expect((await p.check!({}, mysql("a", ["b"]))).failures).toEqual([]);
  });

});

describe("changeSourceTls(null)", () => {
  it("turns TLS off on the replica explicitly (CHANGE keeps what it does not name)", async () => {
    const { dialect, render } = await import("../infra/replication/dialect");
    expect(render(dialect({ flavour: "mariadb", version: "10.11" }).changeSourceTls(null))).toBe("CHANGE MASTER TO MASTER_SSL = 0, MASTER_SSL_VERIFY_SERVER_CERT = 0");
    expect(render(dialect({ flavour: "mysql", version: "8.0" }).changeSourceTls(null))).toBe("CHANGE REPLICATION SOURCE TO SOURCE_SSL = 0, SOURCE_SSL_VERIFY_SERVER_CERT = 0");
  });
});
