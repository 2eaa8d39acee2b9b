// infra/providers/mirrorReplication.ts read (`pulumi refresh`): a mirror whose replication is gone drops out of the
// state only on the typed ReplicationNotConfiguredError, never because some other error's text says "not configured".
// (That the serialized provider keeps one class for instanceof is checked in dynamic-provider.test.ts.)
import { describe, expect, it, vi } from "vitest";
import { replicationProvider } from "../infra/providers/mirrorReplication";
import { ReplicationNotConfiguredError } from "../infra/replication/status";

// vi.mock is hoisted above the imports; the error it throws is set per test.
const failure = vi.hoisted(() => ({}) as { error?: Error });
vi.mock("../infra/replication/seed", () => ({
  mirrorStatus: async () => {
    throw failure.error;
  },
  rotatePassword: async () => undefined,
  seedMirror: async () => undefined,
  unseedMirror: async () => undefined,
}));

const props = { mirror: { host: "m1", address: "192.0.2.11", user: "root", port: 22 }, engine: { flavour: "mariadb", version: "10.11" } };

describe("MirrorReplication read", () => {
  it("drops the mirror from the state when its replication is not configured", async () => {
    failure.error = new ReplicationNotConfiguredError("m1");
    await expect(replicationProvider.read!("m1:replication", props)).resolves.toEqual({});
  });

  it("throws any other failure, even one whose message says 'not configured'", async () => {
    failure.error = new Error("[m1] cannot open a database session through ssh: sudo: unix_socket plugin not configured");
    await expect(replicationProvider.read!("m1:replication", props)).rejects.toThrow(/plugin not configured/);
    failure.error = Object.assign(new Error("[m1] Lost connection to server during query"), { code: "PROTOCOL_CONNECTION_LOST" });
    await expect(replicationProvider.read!("m1:replication", props)).rejects.toThrow(/Lost connection/);
  });
});
