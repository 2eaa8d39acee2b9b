// Live: a logical seed's receiving script (templates/steps/seed-receive.sh.hbs) on real MariaDB servers. A dump
// made by the seed's own mariadb-dump command is loaded through the script's splitter and parallel loaders into a
// second server, and the copy must be what a single-session load gives: every row, view, routine, trigger and
// event, with no trigger fired by the load. A failing statement or a cut dump fails the script, naming it, and
// leaves no chunk behind; killed midway, it puts the server setting back, leaves no process or chunk, and the next
// load succeeds. Small chunks (2 KB) so that many loaders share each table. Skipped without root.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedScripts } from "../infra/render/scripts";
import { bashInImage, liveSkipReason, spawnBashInImage, startMariadb, type TestServer } from "./fixtures/replication/mariadb";

const skip = liveSkipReason();
if (skip) console.log(`[seed load live] skipped: ${skip}`);

const DATABASES = ["app", "other"];
const seed = seedScripts({ kind: "logical", flavour: "mariadb", databases: DATABASES, compression: "none", loadChunkBytes: 2048 });
/** The same with 64 KB chunks: the small tables (up to 64 KB of rows) share packs of 4 KB. */
const packed = seedScripts({ kind: "logical", flavour: "mariadb", databases: DATABASES, compression: "none", loadChunkBytes: 65536 });
/** Many small tables, as a CMS has: each would cost a session of its own. */
const TINY = Array.from({ length: 40 }, (_, i) => `tiny${String(i + 1).padStart(2, "0")}`);
/** The master's dump command exactly as the seed renders it. */
const DUMP = /^(mariadb-dump [\s\S]*?) 2>/m.exec(seed.send)![1].replace(/\\\n\s*/g, "");

const SCHEMA = `
CREATE DATABASE app; CREATE DATABASE other;
USE app;
CREATE TABLE big (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, s VARCHAR(200) NOT NULL, b VARBINARY(32), KEY (k)) ENGINE=InnoDB;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, big_id INT NOT NULL) ENGINE=InnoDB;
CREATE TABLE child (id INT PRIMARY KEY, big_id INT NOT NULL, FOREIGN KEY (big_id) REFERENCES big (id)) ENGINE=InnoDB;
CREATE TABLE empty_one (id INT PRIMARY KEY) ENGINE=InnoDB;
CREATE TABLE legacy (id INT PRIMARY KEY, v VARCHAR(20), KEY (v)) ENGINE=MyISAM;
-- Rows whose text looks like the dump's own lines: a splitter that reads values as statements breaks here.
INSERT INTO big (k, s, b)
  SELECT seq % 97, CONCAT('row ', seq, ' ;\n-- Table structure for table \`big\`\nINSERT INTO big VALUES (1);\n', CHAR(39), ' é;'), UNHEX(SHA2(seq, 256))
  FROM seq_1_to_3000;
CREATE TRIGGER big_audit AFTER INSERT ON big FOR EACH ROW INSERT INTO audit (big_id) VALUES (NEW.id);
INSERT INTO big (k, s) VALUES (1, 'after the trigger'), (2, 'after the trigger');
INSERT INTO child SELECT seq, seq * 2 FROM seq_1_to_1000;
INSERT INTO legacy SELECT seq, CONCAT('v', seq) FROM seq_1_to_800;
CREATE VIEW big_even AS SELECT id, s FROM big WHERE id % 2 = 0;
CREATE PROCEDURE count_big(OUT n INT) SELECT COUNT(*) INTO n FROM big;
CREATE EVENT tidy ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit WHERE id < 0;
-- A view that sorts last: the dump's events and routines of app come right after its placeholder.
CREATE VIEW zz_last AS SELECT COUNT(*) AS n FROM child;
USE other;
CREATE TABLE notes (id INT PRIMARY KEY, t TEXT) ENGINE=InnoDB;
-- app's last table and other's first, by name, each with one short INSERT and keys that do not collide: other's
-- rows must not land in app's table.
CREATE TABLE m_shared (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB;
INSERT INTO m_shared VALUES (4, 'other'), (5, 'other');
CREATE TABLE app.m_shared (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB;
INSERT INTO app.m_shared VALUES (1, 'app'), (2, 'app');
INSERT INTO notes SELECT seq, REPEAT('n', seq % 300) FROM seq_1_to_500;
CREATE VIEW app_audit AS SELECT COUNT(*) AS n FROM app.audit;
${TINY.map((t) => `CREATE TABLE ${t} (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB; INSERT INTO ${t} VALUES (1, '${t}'), (2, 'two');`).join("\n")}
-- A view over the last small table (in the last pack) that calls a routine: views are made once both are there.
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
CREATE VIEW tiny_last AS SELECT twice(id) AS d, v FROM ${TINY.at(-1)};
`;

const TABLES = ["app.big", "app.audit", "app.child", "app.empty_one", "app.legacy", "app.m_shared", "other.m_shared", "other.notes", ...TINY.map((t) => `other.${t}`)];
/** What a copy must match: each table's checksum and row count, the views' rows, and the objects that are not tables. */
const FINGERPRINT = `
CHECKSUM TABLE ${TABLES.join(", ")} EXTENDED;
SELECT '${TABLES.map((t) => t).join(",")}' AS t, ${TABLES.map((t) => `(SELECT COUNT(*) FROM ${t})`).join(", ")};
SELECT COUNT(*), SUM(id) FROM app.big_even; SELECT n FROM other.app_audit; SELECT SUM(d), MIN(v) FROM other.tiny_last; SELECT n FROM app.zz_last;
SELECT trigger_schema, trigger_name, action_statement FROM information_schema.triggers WHERE trigger_schema IN ('app', 'other');
SELECT routine_schema, routine_name FROM information_schema.routines WHERE routine_schema IN ('app', 'other');
SELECT event_schema, event_name, status FROM information_schema.events WHERE event_schema IN ('app', 'other');
SELECT table_schema, table_name, engine FROM information_schema.tables WHERE table_schema IN ('app', 'other') ORDER BY 1, 2;
`;

describe.skipIf(!!skip)("a logical seed's parallel load (live MariaDB 10.11)", { shuffle: false }, () => {
  let source: TestServer;
  let target: TestServer;
  let dump = "";
  const cnf = (s: TestServer) => `[client]\nsocket=${s.socket}\nuser=root`;
  const sql = (s: TestServer, text: string) => {
    const r = bashInImage(s.dir, "mariadb -N -B", { input: text, myCnf: cnf(s) });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };
  /**
   * Runs the rendered receiving script against the target with `input` as the master's stream; `env`: assignments
   * for the script alone (a shim's PATH, the SSH command).
   */
  const receive = (input: string, script = seed.receive, env = "") => {
    fs.writeFileSync(path.join(target.dir, "receive"), script);
    const after = `echo "flush=$(mariadb -N -B -e 'SELECT @@innodb_flush_log_at_trx_commit')"; echo "left=$(ls /var/tmp)"`;
    return bashInImage(target.dir, `${env} bash ${target.dir}/receive; rc=$?; ${after}; exit $rc`, { input, myCnf: cnf(target) });
  };

  beforeAll(async () => {
    [source, target] = await Promise.all([startMariadb({ serverId: 11, name: "seed-source" }), startMariadb({ serverId: 12, name: "seed-target" })]);
    sql(source, SCHEMA);
    // Statements of at most 4 KB (the default is 1 MB), so that these small tables split into many chunks.
    const d = bashInImage(source.dir, DUMP.replace(/^mariadb-dump /, "mariadb-dump --net-buffer-length=4096 "), { myCnf: cnf(source) });
    expect(d.code, d.stderr).toBe(0);
    dump = d.stdout;
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled([source?.stop(), target?.stop()]);
  }, 120_000);

  it("the dump is the seed's own (coordinates, routines, triggers, events) and has rows that look like statements", () => {
    expect(DUMP).toMatch(/--master-data=2 .*--routines --triggers --events/);
    expect(dump).toMatch(/^-- CHANGE MASTER TO MASTER_LOG_FILE=/m);
    expect(dump).toMatch(/^-- Dumping data for table `big`$/m);
    expect(dump).toContain("\\n-- Table structure for table `big`\\nINSERT INTO big VALUES (1);\\n");
  });

  it("loads it in many chunks at once into the copy a single session would make, and fires no trigger", () => {
    const r = receive(dump);
    expect(r.code, r.stderr).toBe(0);
    const m = /^loaded (\d+) chunks with (\d+) loaders$/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(50);
    expect(Number(m![2])).toBeGreaterThanOrEqual(2);
    expect(r.stdout).toMatch(/^phase load [0-9.]+$/m);
    expect(r.stdout).toMatch(/^flush=1$/m);
    expect(r.stdout).toMatch(/^left=$/m);
    const want = sql(source, FINGERPRINT);
    expect(want).toMatch(/app\.big\t[1-9]/);
    expect(sql(target, FINGERPRINT)).toBe(want);
    // The trigger came over and works: a new row on the copy is audited (and was not for the loaded rows).
    expect(sql(target, "SELECT COUNT(*) FROM app.audit").trim()).toBe("2");
    expect(sql(target, "INSERT INTO app.big (k, s) VALUES (3, 'x'); SELECT COUNT(*) FROM app.audit").trim()).toBe("3");
    expect(sql(target, "CALL app.count_big(@n); SELECT @n").trim()).toBe("3003");
  });

  it("a statement that fails stops the load, says so with the server's error, and leaves no chunk", () => {
    const lines = dump.split("\n");
    const at = lines.findIndex((l) => l === "-- Dumping data for table `child`");
    const end = lines.findIndex((l, i) => i > at && l.endsWith(";") && !l.startsWith("LOCK") && !l.startsWith("/*"));
    lines.splice(end + 1, 0, "INSERT INTO `no_such_table` VALUES (1);");
    const r = receive(lines.join("\n"));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/seed-receive: loading the dump failed/);
    expect(r.stderr).toMatch(/no_such_table/);
    expect(r.stderr).not.toMatch(/loaded again/);
    expect(r.stdout).toMatch(/^flush=1$/m);
    expect(r.stdout).toMatch(/^left=$/m);
  });

  /**
   * A client in front of the real one that makes each chunk of `table` (in `db`) fail with a deadlock (error 1213,
   * raised by SIGNAL) after all of its rows went in, as InnoDB does to one of two loaders that race for an empty
   * table; `times` is how many of a chunk's attempts fail. Everything else goes to the real client untouched.
   */
  const deadlocking = (times: number, db = "other", table = "notes") => {
    const bin = path.join(target.dir, "deadlock-bin");
    fs.rmSync(bin, { recursive: true, force: true });
    fs.mkdirSync(bin);
    const signal = "BEGIN NOT ATOMIC SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'Deadlock found (injected)'; END//";
    fs.writeFileSync(
      path.join(bin, "mariadb"),
      `#!/bin/bash
for a; do [ "$a" = -e ] && exec /usr/bin/mariadb "$@"; done
in=$(mktemp); trap 'rm -f "$in"' EXIT; cat >"$in"
{ grep -q '^USE \`${db}\`;' "$in" && grep -q '^INSERT INTO \`${table}\`' "$in"; } || { /usr/bin/mariadb "$@" <"$in"; exit; }
tries=${bin}/tries-$(md5sum <"$in" | cut -c1-32); echo x >>"$tries"
[ "$(wc -l <"$tries")" -le ${times} ] || { /usr/bin/mariadb "$@" <"$in"; exit; }
{ grep -v '^COMMIT;$' "$in"; printf '%s\\n' 'DELIMITER //' "${signal}"; } | /usr/bin/mariadb "$@"
`,
      { mode: 0o755 },
    );
    return bin;
  };

  it("a chunk that deadlocks after its rows went in is rolled back whole and loaded again: the copy is exact", () => {
    const r = receive(dump, seed.receive, `PATH=${deadlocking(1)}:$PATH`);
    expect(r.code, r.stderr).toBe(0);
    // Genuine deadlocks show up here too: the rollback empties the table, and its chunks start on it again at once.
    const again = r.stderr.match(/^seed-receive: \d+\.sql loaded again after: ERROR 1213 \(40001\) at line \d+: Deadlock found .*$/gm) ?? ([] as string[]);
    expect(again.filter((l) => l.endsWith("(injected)")).length, r.stderr).toBeGreaterThanOrEqual(2);
    expect(r.stderr.split("\n").filter((l) => l && !again.includes(l))).toEqual([]);
    expect(sql(target, FINGERPRINT)).toBe(sql(source, FINGERPRINT));
  });

  it("a chunk that deadlocks five times fails the load, with the server's error", () => {
    const r = receive(dump, seed.receive, `PATH=${deadlocking(5)}:$PATH`);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/seed-receive: loading the dump failed/);
    expect(r.stderr).toMatch(/^ERROR 1213 \(40001\) at line \d+: Deadlock found \(injected\)$/m);
    expect(r.stdout).toMatch(/^left=$/m);
    // Tried five times: four tries again for the chunk that failed the load, and never more for any chunk.
    const tries = new Map<string, number>();
    for (const m of r.stderr.matchAll(/^seed-receive: (\d+\.sql) loaded again after: /gm)) tries.set(m[1]!, (tries.get(m[1]!) ?? 0) + 1);
    expect([...tries.values()].sort().at(-1), r.stderr).toBe(4);
  });

  it("a chunk of a non-transactional (MyISAM) table is not tried again: what it wrote would be written twice", () => {
    const r = receive(dump, seed.receive, `PATH=${deadlocking(1, "app", "legacy")}:$PATH`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^ERROR 1213 \(40001\) at line \d+: Deadlock found \(injected\)$/m);
    expect(r.stderr).not.toMatch(/loaded again/);
  });

  /** The number in the script's `loaded <n> chunks with <m> loaders` line. */
  const chunks = (stdout: string) => Number(/^loaded (\d+) chunks with \d+ loaders$/m.exec(stdout)?.[1] ?? NaN);

  it("small tables share packs, each with its own structure: far fewer sessions than tables, and the copy is exact", () => {
    // Into an empty server: a view made before the tables it reads, or the routine it calls, fails only there.
    sql(target, "DROP DATABASE IF EXISTS app; DROP DATABASE IF EXISTS other");
    const r = receive(dump, packed.receive);
    expect(r.code, r.stderr).toBe(0);
    // big (about 450 KB) and notes (about 75 KB) in 64 KB chunks, the 46 other tables in packs of 4 KB.
    expect(chunks(r.stdout), r.stdout).toBeGreaterThan(8);
    expect(chunks(r.stdout), r.stdout).toBeLessThan(TABLES.length / 2);
    expect(r.stdout).toMatch(/^left=$/m);
    expect(sql(target, FINGERPRINT)).toBe(sql(source, FINGERPRINT));
    expect(sql(target, "SELECT COUNT(*) FROM app.audit").trim()).toBe("2");
  });

  // The injected deadlock comes at the pack's end, after the commits of the tables before the one named (the next
  // table's CREATE commits): a retry that did not make them again would write their rows twice.
  it.each([
    ["a pack that deadlocks is loaded again whole: the tables it had committed are made again first, none twice", "other", "tiny07"],
    ["a pack with a MyISAM table is tried again too: the table is made again, so its rows are not written twice", "app", "legacy"],
  ])("%s", (_title, db, table) => {
    const r = receive(dump, packed.receive, `PATH=${deadlocking(1, db, table)}:$PATH`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^seed-receive: \d+\.sql loaded again after: ERROR 1213 \(40001\) at line \d+: Deadlock found \(injected\)$/m);
    expect(sql(target, FINGERPRINT)).toBe(sql(source, FINGERPRINT));
  });

  it("told the copy's size by the master, it refuses a copy with no room before dropping anything, and any other command", () => {
    const before = sql(target, FINGERPRINT);
    const run = (command: string) => receive(dump, seed.receive, `SSH_ORIGINAL_COMMAND='${command}'`);
    const full = run("seed-info bytes=999999999999999999");
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/^seed-receive: the copy needs about \d+ MiB on the datadir's file system \(\/\S+\), which has \d+ MiB free$/m);
    for (const [command, said] of [
      ["seed-info bytes=12x", "bad seed-info (bytes)"],
      ["seed-info bytes=09", "bad seed-info (bytes)"],
      ["seed-info rows=1", "bad seed-info (rows)"],
      ["rm -rf /", "unexpected command"],
    ]) {
      const r = run(command);
      expect(r.code, command).toBe(2);
      expect(r.stderr).toContain(`seed-receive: ${said}`);
    }
    expect(sql(target, FINGERPRINT)).toBe(before);
    // With room (the size as the master reports it), it loads.
    const size = sql(source, "SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema IN ('app', 'other')").trim();
    expect(size).toMatch(/^[1-9]\d*$/);
    const ok = run(`seed-info bytes=${size}`);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^left=$/m);
    expect(sql(target, FINGERPRINT)).toBe(sql(source, FINGERPRINT));
  });

  it("counts what its own copy of the databases takes as free: it loads when only that makes room, and refuses with less", () => {
    const own = Number(sql(target, "SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema IN ('app', 'other')").trim());
    expect(own).toBeGreaterThan(1 << 18);
    // The file system's free space as df tells it: just what a copy of `need` bytes wants (a tenth more and 64 MiB;
    // 2 KB chunks add nothing), less what this server's own copy takes, give or take half of that.
    const bin = path.join(target.dir, "df-bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, "df"), '#!/bin/sh\necho "Filesystem 1-blocks Used Available Capacity Mounted on"\necho "fake 0 0 $AVAIL 0% /"\n', { mode: 0o755 });
    const need = 10 * 2 ** 30;
    const wants = need + Math.floor(need / 10) + 64 * 2 ** 20;
    const run = (avail: number) => receive(dump, seed.receive, `PATH=${bin}:$PATH AVAIL=${avail} SSH_ORIGINAL_COMMAND='seed-info bytes=${need}'`);
    const short = run(wants - own - Math.floor(own / 2));
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/^seed-receive: the copy needs about \d+ MiB on the datadir's file system/m);
    const ok = run(wants - Math.floor(own / 2));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^left=$/m);
    expect(sql(target, FINGERPRINT)).toBe(sql(source, FINGERPRINT));
  });

  it("a dump cut off inside an INSERT statement fails, naming it", () => {
    const lines = dump.split("\n");
    const at = lines.findIndex((l) => l.startsWith("INSERT INTO `notes`"));
    const r = receive(lines.slice(0, at + 3).join("\n") + "\n");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/the dump ended inside an INSERT statement/);
    expect(r.stdout).toMatch(/^left=$/m);
  });

  it("killed midway (SIGTERM), it puts the server's setting back and leaves no chunk nor process; the next load succeeds", async () => {
    fs.writeFileSync(path.join(target.dir, "receive"), seed.receive);
    const tmp = path.join(target.dir, "tmp");
    fs.mkdirSync(tmp, { recursive: true });
    const run = spawnBashInImage(target.dir, `export TMPDIR=${tmp}; exec bash ${target.dir}/receive`, cnf(target));
    const exited = new Promise<number | null>((resolve) => run.once("exit", (code, signal) => resolve(code ?? (signal === "SIGTERM" ? 143 : -1))));
    run.stdin!.on("error", () => undefined); // what was still buffered when it died: EPIPE, expected
    // Part of the stream, and the stream kept open: the script is loading and waiting for more.
    const lines = dump.split("\n");
    run.stdin!.write(lines.slice(0, Math.floor(lines.length * 0.6)).join("\n") + "\n");
    const work = () => fs.readdirSync(tmp).filter((n) => n.startsWith("mirrorstack-load.")).map((n) => path.join(tmp, n));
    const loading = () => work().length === 1 && fs.existsSync(path.join(work()[0], "c")) && fs.readdirSync(path.join(work()[0], "c")).length > 0;
    for (let i = 0; i < 200 && !loading(); i++) await new Promise((r) => setTimeout(r, 50));
    const dir = work()[0];
    expect(dir, "the load never started").toBeDefined();
    expect(sql(target, "SELECT @@innodb_flush_log_at_trx_commit").trim()).toBe("2");
    process.kill(run.pid!, "SIGTERM");
    expect(await exited).toBe(143);
    run.stdin!.destroy();
    // The splitter and the loaders name the directory in their arguments: none may stay.
    const holders = () =>
      fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir);
        } catch {
          return false;
        }
      });
    for (let i = 0; i < 300 && holders().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(holders()).toEqual([]);
    expect(work()).toEqual([]);
    expect(sql(target, "SELECT @@innodb_flush_log_at_trx_commit").trim()).toBe("1");
    const again = receive(dump);
    expect(again.code, again.stderr).toBe(0);
    expect(sql(target, FINGERPRINT)).toBe(sql(source, FINGERPRINT));
  }, 120_000);
});
