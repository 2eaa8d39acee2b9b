// docs/config.md is generated from the schema; this fails when it is stale or a key lacks a description.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_DOC_PATH, configDocRows, generateConfigDoc } from "../infra/config/doc";

describe("docs/config.md", () => {
  it("is up to date (regenerate: node --import tsx infra/config/doc.ts)", () => {
    expect(readFileSync(CONFIG_DOC_PATH, "utf8")).toBe(generateConfigDoc());
  });

  it("describes every key in one line", () => {
    const rows = configDocRows();
    expect(rows.length).toBeGreaterThan(60);
    for (const r of rows) {
      expect(r.description, r.key).not.toBe("");
      expect(r.description, r.key).not.toMatch(/\n/);
      expect(r.type, r.key).not.toBe("");
    }
  });

  it("lists the keys the lab writes", () => {
    const keys = configDocRows().map((r) => r.key);
    for (const k of ["master.name", "master.address", "mirrors[].name", "mirrors[].address", "ssh.user", "ssh.port", "ssh.privateKeyPath", "ssh.knownHostsPath"]) {
      expect(keys).toContain(`mirrorstack:${k}`);
    }
  });
});
