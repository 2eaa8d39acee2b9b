// mirrorctl's backup listing and restore pick backups by the same rule as the backup and receive scripts
// (templates/partials/backup-names.sh.hbs): real UTC times, at most a day ahead, newest first by that time.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listBackupsScript, parseBackupList, restoreScript } from "../infra/ops/backup";

describe("mirrorctl backups: which backups count, newest first", () => {
  const dir = mkdtempSync(join(tmpdir(), "ms-backups-"));
  const genuine = ["mirrorstack-20261201T000000Z", "mirrorstack-20261202T030405Z"];
  // A far-future name (it would sort first by name), a date that does not exist, a name of another shape.
  for (const n of [...genuine, "mirrorstack-99991231T235959Z", "mirrorstack-20260230T000000Z", "mirrorstack-x"]) mkdirSync(join(dir, n));

  it("lists only real backups, newest first by their time", () => {
    const r = spawnSync("bash", ["-c", listBackupsScript(dir)], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(parseBackupList(r.stdout).map((b) => b.name)).toEqual([...genuine].reverse());
  });

  it("restores the newest real backup by default, not a far-future name", () => {
    const script = restoreScript({ dest: dir, db: "wiki", to: "wiki_restore", client: "mariadb", passphraseFile: "/nonexistent" });
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain("backup mirrorstack-20261202T030405Z has no dump of database wiki");
  });
});
