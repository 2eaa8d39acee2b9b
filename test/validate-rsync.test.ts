// validate-rsync: the forced command on the master's sync account. The rendered script is run with bash and a
// stub rsync (which records its argv) against a corpus of hostile commands and of legitimate pull commands
// captured from the real rsync client (test/fixtures/rsync/). With a real rsync installed, the captures are
// redone and compared, one real pull (and push) goes through the script, and rrsync -ro is used as a yardstick.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderValidateRsync } from "../infra/render/validate-rsync";
import { checkRsyncOption, checkRsyncOptionList, RSYNC_LONG_FLAGS, RSYNC_LONG_NUMERIC, RSYNC_SHORT_LETTERS } from "../infra/config/checks";

const FIXTURES = path.join(__dirname, "fixtures", "rsync");
const REAL_RSYNC = "/usr/bin/rsync";
const RRSYNC = "/usr/bin/rrsync";
const PYTHON = "/usr/bin/python3";
const haveRsync = fs.existsSync(REAL_RSYNC);
const FIXTURE_TREE_PREFIX = "/srv/mirror/";

// --- temp layout (made at collection time: the corpus below names these paths) ----------------------------
const root = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-vr-"));
const T = path.join(root, "srv/mirror/images"); // configured
const W = path.join(root, "srv/mirror/www-data"); // configured
const T2 = path.join(root, "srv/mirror/images2"); // shares T's prefix; not configured
const S = path.join(root, "srv/mirror/my photos"); // configured; a client sends it as my\ photos
/** A path as a client sends it: a space escaped with a backslash (rsync 3.2.4 and later). */
const esc = (p: string) => p.replace(/ /g, "\\ ");
const OUTSIDE = path.join(root, "outside"); // never to be served
const SECRET = `TOP-SECRET-${path.basename(root)}`;

/** Maps a fixture command (trees under /srv/mirror/) onto the temp trees. */
const mapTrees = (s: string): string => s.split(FIXTURE_TREE_PREFIX).join(path.join(root, "srv/mirror") + "/");

interface Capture {
  readonly client: string; // rsync client arguments as typed
  readonly command: string; // what the client asked the server to run
}

function readCaptures(text: string): { version: string; captures: Capture[] } {
  const lines = text.split("\n").filter((l) => l !== "");
  const version = (lines.find((l) => l.startsWith("# ")) ?? "").slice(2);
  const captures = lines
    .filter((l) => !l.startsWith("#"))
    .map((l) => {
      const tab = l.indexOf("\t");
      return { client: l.slice(0, tab), command: l.slice(tab + 1) };
    });
  return { version, captures };
}

const legitFixture = readCaptures(fs.readFileSync(path.join(FIXTURES, "legit-pulls.txt"), "utf8"));
const refusedFixture = readCaptures(fs.readFileSync(path.join(FIXTURES, "refused-client-commands.txt"), "utf8"));

const CAP = "-logDtpre.iLsfxCIvu";
const pull = (p: string, opts = "", cluster = CAP) => `rsync --server --sender ${cluster}${opts} . ${p}`;

// Hand-written hostile commands: [label, SSH_ORIGINAL_COMMAND].
const handHostile: ReadonlyArray<readonly [string, string]> = [
  ["empty command", ""],
  ["interactive shell", "bash"],
  ["shell -c", "sh -c id"],
  ["absolute shell", "/bin/sh -i"],
  ["scp download", `scp -f ${T}/file`],
  ["scp upload", `scp -t ${T}/`],
  ["sftp-server subsystem", "/usr/lib/openssh/sftp-server"],
  ["internal-sftp", "internal-sftp"],
  ["rsync daemon with config", "rsync --daemon --config=/tmp/evil.conf"],
  ["rsync server daemon", "rsync --server --daemon ."],
  ["push (no --sender)", `rsync --server ${CAP} . ${T}/`],
  ["push with --sender later", `rsync --server ${CAP} --sender . ${T}/`],
  ["rsync by absolute path", `/usr/bin/rsync --server --sender ${CAP} . ${T}/`],
  ["chaining ;", pull(`${T}/;id`)],
  ["chaining &&", `${pull(`${T}/`)} && id`],
  ["pipe", `${pull(`${T}/`)} | nc`],
  ["background &", `${pull(`${T}/`)} &`],
  ["command substitution $()", pull(`${T}/$(id)`)],
  ["backticks", pull(`${T}/\`id\``)],
  ["redirect >", `${pull(`${T}/`)} >/tmp/x`],
  ["redirect <", `${pull(`${T}/`)} </etc/passwd`],
  ["newline", `${pull(`${T}/`)}\nid`],
  ["carriage return", `${pull(`${T}/`)}\rid`],
  ["tab as separator", `rsync --server --sender ${CAP} .\t${T}/`],
  ["single quotes", pull(`'${T}/'`)],
  ["double quotes", pull(`"${T}/"`)],
  ["dollar variable", pull("$HOME/")],
  ["backslash escape", pull(`${T}\\/`)],
  ["glob *", pull(`${T}/*`)],
  ["glob ?", pull(`${T}?`)],
  ["glob []", pull(`${T}[0-9]`)],
  ["brace expansion", pull(`{${T},/etc}/`)],
  ["tilde", pull("~/")],
  ["path outside the trees", pull("/etc/")],
  ["root directory", pull("/")],
  ["sibling sharing the prefix", pull(`${T2}/`)],
  ["sibling sharing the prefix, no slash", pull(T2)],
  ["parent of a tree", pull(`${path.dirname(T)}/`)],
  [".. after the tree", pull(`${T}/..`)],
  [".. escaping upwards", pull(`${T}/../../../../etc/`)],
  [".. into the sibling", pull(`${T}/sub/../../images2/`)],
  ["percent-encoded ..", pull(`${T}/%2e%2e/`)],
  ["dot component", pull(`${T}/./`)],
  ["double slash", pull(`${T}//`)],
  ["subdirectory of a tree", pull(`${T}/sub/`)],
  ["relative path", pull("images/")],
  ["dot as the path", pull(".")],
  ["missing path", `rsync --server --sender ${CAP} .`],
  ["missing dot", `rsync --server --sender ${CAP} ${T}/`],
  ["missing short-option cluster", `rsync --server --sender . ${T}/`],
  ["bare dash as cluster", `rsync --server --sender - . ${T}/`],
  ["extra path", `${pull(`${T}/`)} /etc/`],
  ["two configured trees", `${pull(`${T}/`)} ${W}/`],
  ["option after the path", `${pull(`${T}/`)} --log-file=/tmp/x`],
  ["short option after the path", `${pull(`${T}/`)} -L`],
  ["-L follows symlinks", pull(`${T}/`, "", "-lLogDtpre.iLsfxCIvu")],
  ["-k follows dir symlinks", pull(`${T}/`, "", "-lkogDtpre.iLsfxCIvu")],
  ["-K keep-dirlinks", pull(`${T}/`, "", "-lKogDtpre.iLsfxCIvu")],
  ["-s secluded args", pull(`${T}/`, "", "-slogDtpre.iLsfxCIvu")],
  ["-s without visible paths", "rsync --server --sender -slogDtpre.iLsfxCIvu"],
  ["-R relative", pull(`${T}/`, "", "-logDtprRe.iLsfxCIvu")],
  ["-f in the cluster", pull(`${T}/`, "", "-flogDtpre.iLsfxCIvu")],
  ["-e with a command word", `rsync --server --sender -e /bin/sh . ${T}/`],
  ["-e inside the cluster", pull(`${T}/`, "", "-logDtpressh")],
  ["malformed capability suffix", pull(`${T}/`, "", "-logDtpre.iL.x")],
  ["--protect-args", pull(`${T}/`, " --protect-args")],
  ["--secluded-args", pull(`${T}/`, " --secluded-args")],
  ["--copy-links", pull(`${T}/`, " --copy-links")],
  ["--copy-unsafe-links", pull(`${T}/`, " --copy-unsafe-links")],
  ["--copy-dirlinks", pull(`${T}/`, " --copy-dirlinks")],
  ["--copy-devices", pull(`${T}/`, " --copy-devices")],
  ["--write-devices", pull(`${T}/`, " --write-devices")],
  ["--log-file=", pull(`${T}/`, " --log-file=/tmp/x")],
  ["--log-file two words", pull(`${T}/`, " --log-file /tmp/x")],
  ["--log-file-format", pull(`${T}/`, " --log-file-format=%f")],
  ["--files-from=", pull(`${T}/`, " --files-from=/etc/passwd")],
  ["--files-from two words", pull(`${T}/`, " --files-from /etc/passwd")],
  ["--exclude-from", pull(`${T}/`, " --exclude-from=/etc/passwd")],
  ["--include-from", pull(`${T}/`, " --include-from=/etc/shadow")],
  ["--filter merge", pull(`${T}/`, " --filter=merge_/etc/passwd")],
  ["-f merge as a word", pull(`${T}/`, " -f merge_/etc/passwd")],
  ["--remove-source-files", pull(`${T}/`, " --remove-source-files")],
  ["--remove-sent-files", pull(`${T}/`, " --remove-sent-files")],
  ["--debug", pull(`${T}/`, " --debug=ALL4")],
  ["--max-alloc", pull(`${T}/`, " --max-alloc=0")],
  ["--compress-threads", pull(`${T}/`, " --compress-threads=99999")],
  ["--rsh", pull(`${T}/`, " --rsh=/bin/sh")],
  ["--daemon after --sender", pull(`${T}/`, " --daemon")],
  ["--config", pull(`${T}/`, " --config=/tmp/evil.conf")],
  ["--timeout not numeric", pull(`${T}/`, " --timeout=abc")],
  ["--timeout negative", pull(`${T}/`, " --timeout=-1")],
  ["--timeout empty", pull(`${T}/`, " --timeout=")],
  ["--timeout two words", pull(`${T}/`, " --timeout 30")],
  ["--bwlimit with suffix", pull(`${T}/`, " --bwlimit=1m")],
  ["--compress-level too big", pull(`${T}/`, " --compress-level=999")],
  ["--compress-level negative", pull(`${T}/`, " --compress-level=-1")],
  ["--compress-choice not allowed", pull(`${T}/`, " --compress-choice=zlib")],
  ["flag with a value", pull(`${T}/`, " --numeric-ids=1")],
  ["--iconv", pull(`${T}/`, " --iconv=utf8")],
  ["--partial-dir", pull(`${T}/`, " --partial-dir=/tmp")],
  ["--temp-dir", pull(`${T}/`, " --temp-dir=/tmp")],
  ["--inplace (not on the allowlist)", pull(`${T}/`, " --inplace")],
  ["-B block size", pull(`${T}/`, " -B1024")],
  ["-- before the dot", pull(`${T}/`, " --")],
  ["--server twice", pull(`${T}/`, " --server")],
  ["--sender twice", pull(`${T}/`, " --sender")],
  ["leading space", ` ${pull(`${T}/`)}`],
  ["double space", `rsync  --server --sender ${CAP} . ${T}/`],
  ["trailing space", `${pull(`${T}/`)} `],
  ["non-ASCII", pull(`${T}/\u00e9`)],
  ["very long", pull(`${T}/${"a".repeat(2000)}`)],
  // The one escape taken is "\ " inside a configured tree's path.
  ["space in a tree's path, not escaped", pull(`${S}/`)],
  ["escaped space below a tree", pull(`${esc(T)}/my\\ photos/`)],
  ["escaped space in a subdirectory of a spaced tree", pull(`${esc(S)}/sub\\ dir/`)],
  ["backslash before another character", pull(`${S.replace(" ", "\\x")}/`)],
  ["escaped backslash before the space", pull(`${S.replace(" ", "\\\\ ")}/`)],
  ["two escaped spaces", pull(`${S.replace(" ", "\\ \\ ")}/`)],
  ["escaped space, then a space", pull(`${S.replace(" ", "\\  ")}/`)],
  ["escaped space at the end of the path", pull(`${T}\\ /`)],
  ["trailing backslash", pull(`${esc(S)}/\\`)],
  ["escaped space in an option value", pull(`${esc(S)}/`, " --timeout=3\\ 0")],
  ["escaped space joining option and dot", `rsync --server --sender ${CAP} --numeric-ids\\ . ${esc(S)}/`],
  ["escaped space in the cluster", pull(`${esc(S)}/`, "", "-logDtpr\\ e.iLsfxCIvu")],
  ["escaped space in the command word", `rsync\\ --server --sender ${CAP} . ${esc(S)}/`],
  ["escaped tab", pull(`${S.replace(" ", "\\\t")}/`)],
  ["escaped space and a second path", `${pull(`${esc(S)}/`)} /etc/`],
];

// Corpora as run: hand-written plus real-client commands that must be refused; real-client legitimate pulls.
const hostile: ReadonlyArray<readonly [string, string]> = [
  ...handHostile,
  ...refusedFixture.captures.map((c) => [`client: rsync ${c.client}`, mapTrees(c.command)] as const),
];
const legit: ReadonlyArray<readonly [string, string]> = legitFixture.captures.map(
  (c) => [`client: rsync ${c.client}`, mapTrees(c.command)] as const,
);

// --- running the script -----------------------------------------------------------------------------------
const bin = path.join(root, "bin");
const stubRsync = path.join(bin, "rsync-stub");
const stubLogger = path.join(bin, "logger-stub");
const scripts: Record<string, string> = {};
let seq = 0;

interface Run {
  readonly status: number | null;
  readonly stderr: string;
  readonly argv: string[] | null; // what the stub rsync received; null: never run
  readonly logs: string[][]; // one argv per logger call
}

function writeExec(p: string, text: string): void {
  fs.writeFileSync(p, text, { mode: 0o755 });
}

function render(name: string, opts: Partial<Parameters<typeof renderValidateRsync>[0]> = {}): string {
  const p = path.join(root, `validate-rsync.${name}`);
  writeExec(
    p,
    renderValidateRsync({ trees: [T, W, S], rsyncPath: stubRsync, loggerPath: stubLogger, stack: "test", ...opts }),
  );
  return p;
}

function runScript(script: string, cmd: string | undefined, env: Record<string, string> = {}, direct = false): Run {
  const n = ++seq;
  const record = path.join(root, `argv.${n}`);
  const log = path.join(root, `log.${n}`);
  const e: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    SSH_CLIENT: "198.51.100.7 40022 22",
    STUB_RECORD: record,
    STUB_LOG: log,
    ...env,
  };
  if (cmd !== undefined) e.SSH_ORIGINAL_COMMAND = cmd;
  const r = direct
    ? spawnSync(script, [], { env: e, encoding: "utf8", input: "" })
    : spawnSync("bash", [script], { env: e, encoding: "utf8", input: "" });
  const argv = fs.existsSync(record) ? fs.readFileSync(record, "utf8").split("\0").slice(0, -1) : null;
  const logs = fs.existsSync(log)
    ? fs
        .readFileSync(log, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\x1f"))
    : [];
  return { status: r.status, stderr: r.stderr, argv, logs };
}

/** The argv validate-rsync must hand to rsync for an accepted command (words split on unescaped spaces). */
function expectedArgv(cmd: string, confine: boolean): string[] {
  const w = cmd.split(/(?<!\\) /).map((x) => x.replace(/\\ /g, " "));
  const dot = w.indexOf(".");
  const p = w[dot + 1];
  const tree = p.replace(/\/$/, "");
  return ["--server", "--sender", ...w.slice(3, dot), ...(confine ? [`--confine-root=${tree}`] : []), "--", ".", p];
}

function expectRefused(r: Run): void {
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^validate-rsync: refused: \S.*$/m);
  expect(r.argv).toBeNull();
  expect(r.logs).toHaveLength(1);
  expect(r.logs[0].slice(0, 5)).toEqual(["-t", "mirrorstack-validate-rsync", "-p", "auth.warning", "--"]);
  expect(r.logs[0][5]).toMatch(/^refused command from 198\.51\.100\.7: /);
}

beforeAll(() => {
  for (const d of [T, W, T2, S, OUTSIDE, bin, path.join(T, "sub"), path.join(S, "sub dir")]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(OUTSIDE, "secret.txt"), `${SECRET}\n`);
  writeExec(
    stubRsync,
    [
      "#!/bin/bash -p",
      "# Stand-in for rsync: answers --help (listing --confine-root when STUB_CONFINE is set), records argv.",
      'if [ "$#" -eq 1 ] && [ "$1" = --help ]; then',
      '  echo "rsync stub"; [ -n "${STUB_CONFINE-}" ] && echo "--confine-root=DIR  refuse operator paths outside DIR"',
      "  exit 0",
      "fi",
      `printf '%s\\0' "$@" >"$STUB_RECORD"`,
      "",
    ].join("\n"),
  );
  writeExec(
    stubLogger,
    ["#!/bin/bash -p", `(IFS=$'\\x1f'; printf '%s\\n' "$*") >>"$STUB_LOG"`, ""].join("\n"),
  );
  scripts.always = render("always", { confineRoot: true });
  scripts.never = render("never", { confineRoot: false });
  scripts.auto = render("auto");
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

// --- rendering --------------------------------------------------------------------------------------------
describe("renderValidateRsync", () => {
  it("renders a bash script with the mirrorstack header, the trees and the rsync path baked in", () => {
    const s = renderValidateRsync({ trees: ["/srv/images", "/var/www/site"], stack: "prod" });
    const lines = s.split("\n");
    expect(lines[0]).toBe("#!/bin/bash -p");
    expect(lines[1]).toMatch(/^# This file is managed by mirrorstack \(stack: prod\)\./);
    expect(s).toContain("readonly -a TREES=('/srv/images' '/var/www/site')");
    expect(s).toContain("readonly RSYNC='/usr/bin/rsync'");
    expect(s).toContain("readonly LOGGER='/usr/bin/logger'");
    expect(s).toContain("readonly CONFINE_ROOT='auto'");
    expect(s).not.toMatch(/\{\{|\}\}/);
    expect(renderValidateRsync({ trees: ["/srv/images", "/var/www/site"], stack: "prod" })).toBe(s);
    expect(renderValidateRsync({ trees: ["/srv/a"], stack: "s", confineRoot: true })).toContain(
      "readonly CONFINE_ROOT='always'",
    );
    expect(renderValidateRsync({ trees: ["/srv/a"], stack: "s", confineRoot: false })).toContain(
      "readonly CONFINE_ROOT='never'",
    );
  });

  it.each([
    ["no trees", []],
    ["relative", ["srv/images"]],
    ["root", ["/"]],
    ["trailing slash", ["/srv/images/"]],
    ["double slash", ["/srv//images"]],
    ["dot dot", ["/srv/../etc"]],
    ["dot", ["/srv/./images"]],
    ["a space at the start of a component", ["/srv/ images"]],
    ["a space at the end of a component", ["/srv/images /x"]],
    ["two spaces in a row", ["/srv/my  images"]],
    ["a tab", ["/srv/my\timages"]],
    ["single quote", ["/srv/it's"]],
    ["double quote", ['/srv/"x"']],
    ["newline", ["/srv/a\nb"]],
    ["dollar", ["/srv/$HOME"]],
    ["glob", ["/srv/*"]],
    ["tilde", ["~/srv"]],
    ["duplicate", ["/srv/a", "/srv/a"]],
  ])("refuses trees with %s", (_label, trees) => {
    expect(() => renderValidateRsync({ trees, stack: "dev" })).toThrow(/^\[files\.trees\] /);
  });

  it("refuses a bad rsync path, logger path, confineRoot or stack name", () => {
    expect(() => renderValidateRsync({ trees: ["/srv/a"], stack: "dev", rsyncPath: "rsync" })).toThrow(
      /^\[files\.rsyncPath\] /,
    );
    expect(() => renderValidateRsync({ trees: ["/srv/a"], stack: "dev", rsyncPath: "/usr/bin/rsync;id" })).toThrow(
      /^\[files\.rsyncPath\] /,
    );
    expect(() => renderValidateRsync({ trees: ["/srv/a"], stack: "dev", loggerPath: "/x/../logger" })).toThrow(
      /^\[files\.loggerPath\] /,
    );
    expect(() =>
      renderValidateRsync({ trees: ["/srv/a"], stack: "dev", confineRoot: "yes" as unknown as boolean }),
    ).toThrow(/^\[files\.confineRoot\] /);
    expect(() => renderValidateRsync({ trees: ["/srv/a"], stack: "dev\nid" })).toThrow(/^\[stack\] /);
  });

  it("passes bash -n (and shellcheck, when installed)", () => {
    for (const s of Object.values(scripts)) {
      const r = spawnSync("bash", ["-n", s], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    }
    const sc = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
    if (sc.status !== 0) {
      console.log("shellcheck not installed: skipped the shellcheck part");
      return;
    }
    const r = spawnSync("shellcheck", ["-S", "warning", scripts.auto], { encoding: "utf8" });
    expect(r.stdout).toBe("");
    expect(r.status).toBe(0);
  });
});

// --- the corpus against a stub rsync ----------------------------------------------------------------------
describe("validate-rsync against the corpus", () => {
  it("has at least 40 hostile and 10 legitimate commands", () => {
    expect(hostile.length).toBeGreaterThanOrEqual(40);
    expect(legit.length).toBeGreaterThanOrEqual(10);
    expect(new Set(hostile.map(([l]) => l)).size).toBe(hostile.length);
    console.log(`corpus: ${hostile.length} hostile (${handHostile.length} hand-written, ` +
      `${refusedFixture.captures.length} from the real client), ${legit.length} legitimate (real client)`);
  });

  it("refuses a missing SSH_ORIGINAL_COMMAND (interactive login)", () => {
    const r = runScript(scripts.always, undefined);
    expectRefused(r);
    expect(r.stderr).toContain("interactive logins are not allowed");
  });

  it.each(hostile)("refuses %s", (_label, cmd) => {
    expectRefused(runScript(scripts.always, cmd));
  });

  it.each(legit)("accepts %s and execs rsync with the rebuilt argv", (_label, cmd) => {
    const r = runScript(scripts.always, cmd);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.argv).toEqual(expectedArgv(cmd, true));
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0].slice(0, 5)).toEqual(["-t", "mirrorstack-validate-rsync", "-p", "auth.info", "--"]);
  });

  it("rebuilds a typical pull exactly, with the canonical tree after --", () => {
    const r = runScript(scripts.always, `rsync --server --sender -logDtprze.iLsfxCIvu --numeric-ids . ${T}/`);
    expect(r.argv).toEqual([
      "--server",
      "--sender",
      "-logDtprze.iLsfxCIvu",
      "--numeric-ids",
      `--confine-root=${T}`,
      "--",
      ".",
      `${T}/`,
    ]);
    const r2 = runScript(scripts.always, `rsync --server --sender -logDtpre.iLsfxCIvu --timeout=30 . ${W}`);
    expect(r2.argv).toEqual(["--server", "--sender", "-logDtpre.iLsfxCIvu", "--timeout=30", `--confine-root=${W}`, "--", ".", W]);
  });

  it("adds --confine-root always, never, or (auto) when rsync --help lists it", () => {
    const cmd = `rsync --server --sender -logDtprze.iLsfxCIvu . ${T}/`;
    expect(runScript(scripts.never, cmd, { STUB_CONFINE: "1" }).argv).toEqual(expectedArgv(cmd, false));
    expect(runScript(scripts.always, cmd).argv).toEqual(expectedArgv(cmd, true));
    expect(runScript(scripts.auto, cmd, { STUB_CONFINE: "1" }).argv).toEqual(expectedArgv(cmd, true));
    expect(runScript(scripts.auto, cmd).argv).toEqual(expectedArgv(cmd, false));
  });

  it("still refuses and accepts when logging fails (no logger, no syslog)", () => {
    const missing = render("nologger", { loggerPath: path.join(root, "no-such-logger"), confineRoot: false });
    const bad = runScript(missing, `rsync --server ${CAP} . ${T}/`);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe("validate-rsync: refused: only read-only pulls are allowed (no --sender: push)\n");
    const good = runScript(missing, pull(`${T}/`));
    expect(good.status).toBe(0);
    expect(good.argv).toEqual(expectedArgv(pull(`${T}/`), false));
    if (fs.existsSync("/usr/bin/logger")) {
      // The real logger, whatever syslog this machine has (often none in containers).
      const real = render("reallogger", { loggerPath: "/usr/bin/logger", confineRoot: false });
      const r = runScript(real, "sh -c id");
      expect(r.status).toBe(1);
      expect(r.stderr).toBe("validate-rsync: refused: not an rsync command\n");
    }
  });

  it("runs as an executable via its #!/bin/bash -p line and ignores BASH_ENV", () => {
    const marker = path.join(root, "bash-env-ran");
    const bashEnv = path.join(root, "bash-env");
    fs.writeFileSync(bashEnv, `touch '${marker}'\n`);
    const ok = runScript(scripts.always, pull(`${T}/`), { BASH_ENV: bashEnv }, true);
    expect(ok.status).toBe(0);
    expect(ok.argv).toEqual(expectedArgv(pull(`${T}/`), true));
    expectRefused(runScript(scripts.always, pull("/etc/"), { BASH_ENV: bashEnv }, true));
    expect(fs.existsSync(marker)).toBe(false);
  });
});

// --- the real rsync client: captures ----------------------------------------------------------------------
describe.skipIf(!haveRsync)("captures from the installed rsync client", () => {
  const recapture = (mode: string) => {
    const r = spawnSync("bash", [path.join(FIXTURES, "capture.sh"), mode], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    return readCaptures(r.stdout);
  };

  it("re-captures the fixtures: identical for the same rsync version, and judged the same way", () => {
    const fresh = { legit: recapture("legit"), refused: recapture("refused") };
    if (fresh.legit.version === legitFixture.version) {
      expect(fresh.legit.captures).toEqual(legitFixture.captures);
      expect(fresh.refused.captures).toEqual(refusedFixture.captures);
    } else {
      console.log(
        `fixtures were captured with "${legitFixture.version}", this machine has "${fresh.legit.version}": ` +
          "checking the fresh captures only",
      );
    }
    for (const c of fresh.legit.captures) {
      const cmd = mapTrees(c.command);
      expect(runScript(scripts.never, cmd).argv, c.client).toEqual(expectedArgv(cmd, false));
    }
    for (const c of fresh.refused.captures) {
      expect(runScript(scripts.never, mapTrees(c.command)).argv, c.client).toBeNull();
    }
  });
});

// --- the config's allowlist against the script: every option an operator may configure must still pull ------
describe.skipIf(!haveRsync)("files.rsyncOptions: every allowed option gives a pull validate-rsync accepts", () => {
  const printer = path.join(root, "bin", "ssh-printer");
  const allowed = [
    ...[...RSYNC_SHORT_LETTERS].map((l) => `-${l}`),
    ...RSYNC_LONG_FLAGS,
    ...RSYNC_LONG_NUMERIC.map((o) => `${o}=5`),
  ];

  beforeAll(() => writeExec(printer, ["#!/bin/bash", 'shift; printf "%s" "$*" > "$CAPTURE"', "exit 1", ""].join("\n")));

  it.each(allowed)("%s (with -a --partial and --chown, as the sync job runs it)", (opt) => {
    expect(checkRsyncOption(opt)).toBeUndefined();
    expect(checkRsyncOptionList(["-a", "--partial", opt])).toBeUndefined();
    const capture = path.join(root, `capture.${++seq}`);
    const args = ["-a", "--partial", opt, "--chown=www-data:www-data", "-e", printer, `fakehost:${T}/`, path.join(root, "dst") + "/"];
    spawnSync(REAL_RSYNC, args, { env: { ...process.env, CAPTURE: capture }, encoding: "utf8" });
    // No capture: the client refused the options before it asked the server for anything.
    const cmd = fs.existsSync(capture) ? fs.readFileSync(capture, "utf8") : "";
    expect(cmd).toMatch(/^rsync --server --sender /);
    expect(runScript(scripts.never, cmd).argv, cmd).toEqual(expectedArgv(cmd, false));
  });

  it("the list checks refuse what the rsync client itself refuses (no recursion with --delete, two --delete-WHEN)", () => {
    for (const opts of [["-z", "--delete"], ["-a", "--delete-delay", "--delete-after"]]) {
      expect(checkRsyncOptionList(opts), opts.join(" ")).toBeDefined();
      const r = spawnSync(REAL_RSYNC, [...opts, "-e", "/bin/false", `fakehost:${T}/`, path.join(root, "dst") + "/"], { encoding: "utf8" });
      expect(r.status, opts.join(" ")).not.toBe(0);
      expect(r.stderr).toMatch(/--delete does not work without --recursive|may not combine multiple --delete-WHEN/);
    }
  });
});

// --- the real rsync client: one pull through the script, as sshd would run it ------------------------------
describe.skipIf(!haveRsync)("end to end with the real rsync (no ssh)", () => {
  let real = "";
  let wrapper = "";
  const rsync = (...args: string[]) =>
    spawnSync(REAL_RSYNC, ["-e", wrapper, ...args], { encoding: "utf8", input: "", env: { ...process.env, STUB_LOG: path.join(root, "e2e.log") } });

  beforeAll(() => {
    fs.mkdirSync(path.join(T, "a/b/c"), { recursive: true });
    fs.writeFileSync(path.join(T, "a/b/c/deep.txt"), "deep\n");
    fs.mkdirSync(path.join(T, "dir with space"), { recursive: true });
    fs.writeFileSync(path.join(T, "dir with space/file name.txt"), "spaced\n");
    fs.writeFileSync(path.join(T, "top.txt"), "top\n");
    fs.symlinkSync(path.join(OUTSIDE, "secret.txt"), path.join(T, "escape-file"));
    fs.symlinkSync(OUTSIDE, path.join(T, "escape-dir"));
    fs.writeFileSync(path.join(T2, "sibling.txt"), "sibling\n");
    real = render("real", { rsyncPath: REAL_RSYNC, confineRoot: "auto" });
    // Stands in for ssh + sshd: drops rsync's [-l user] host arguments, puts the rest in SSH_ORIGINAL_COMMAND
    // joined by spaces (as ssh does), and runs the forced command through a shell (as sshd does).
    wrapper = path.join(bin, "fake-ssh");
    writeExec(
      wrapper,
      ["#!/bin/sh", '[ "$1" = -l ] && shift 2', "shift", 'SSH_ORIGINAL_COMMAND="$*"', "export SSH_ORIGINAL_COMMAND", `exec /bin/sh -c '${real}'`, ""].join("\n"),
    );
  });

  /** Every regular file under dir (symlinks are not followed) with its content. */
  function files(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) out[path.relative(dir, p)] = fs.readFileSync(p, "utf8");
      }
    };
    walk(dir);
    return out;
  }

  it("pulls a tree: nested dirs and spaces arrive, symlinks out of the tree stay symlinks", () => {
    const dest = path.join(root, "dest1");
    const r = rsync("-a", `fakehost:${T}/`, `${dest}/`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(files(dest)).toEqual({
      "a/b/c/deep.txt": "deep\n",
      "dir with space/file name.txt": "spaced\n",
      "top.txt": "top\n",
    });
    expect(fs.lstatSync(path.join(dest, "escape-file")).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(path.join(dest, "escape-dir")).isSymbolicLink()).toBe(true);
    expect(JSON.stringify(files(dest))).not.toContain(SECRET);
  });

  it("pulls a tree whose path has a space, as the client escapes it and as mirrorstack-sync sends it", () => {
    fs.writeFileSync(path.join(S, "sub dir", "holiday.txt"), "sunny\n");
    const dest = path.join(root, "dest-spaced");
    const r = rsync("-a", `fakehost:${S}/`, `${dest}/`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(files(dest)).toEqual({ "sub dir/holiday.txt": "sunny\n" });
    // mirrorstack-sync: RSYNC_OLD_ARGS=1 and the path escaped by the script (what an rsync before 3.2.4 sends too).
    const dest2 = path.join(root, "dest-spaced-old-args");
    const r2 = spawnSync(REAL_RSYNC, ["-e", wrapper, "-a", "--", `fakehost:${esc(S)}/`, `${dest2}/`], {
      encoding: "utf8",
      input: "",
      env: { ...process.env, RSYNC_OLD_ARGS: "1", STUB_LOG: path.join(root, "e2e.log") },
    });
    expect(r2.stderr).toBe("");
    expect(r2.status).toBe(0);
    expect(files(dest2)).toEqual({ "sub dir/holiday.txt": "sunny\n" });
  });

  it("pulls with the mirror's options and without the trailing slash", () => {
    const dest = path.join(root, "dest2");
    const r = rsync("-az", "--delete-delay", "--partial", "--numeric-ids", "--timeout=30", "--exclude=*.tmp", "--", `fakehost:${T}`, `${dest}/`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(files(dest)["images/dir with space/file name.txt"]).toBe("spaced\n");
    expect(JSON.stringify(files(dest))).not.toContain(SECRET);
  });

  it("lists a tree with --list-only", () => {
    const r = rsync("--list-only", `fakehost:${T}/`);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("dir with space");
    expect(r.stdout).toContain("escape-file");
  });

  it.each([
    ["-L", ["-aL"], "short option -L not allowed"],
    ["--copy-unsafe-links", ["-a", "--copy-unsafe-links"], "option --copy-unsafe-links not allowed"],
    ["-k", ["-ak"], "short option -k not allowed"],
  ])("refuses a pull with %s, and nothing outside the tree arrives", (_l, opts, reason) => {
    const dest = path.join(root, `dest-${_l.replace(/\W/g, "")}`);
    const r = rsync(...opts, `fakehost:${T}/`, `${dest}/`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`validate-rsync: refused: ${reason}`);
    expect(fs.existsSync(dest) ? JSON.stringify(files(dest)) : "").not.toContain(SECRET);
  });

  it("refuses pulling the sibling that shares the tree's prefix", () => {
    const r = rsync("-a", `fakehost:${T2}/`, `${path.join(root, "dest-sibling")}/`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("validate-rsync: refused: path is not a configured tree");
  });

  it("refuses a push", () => {
    const src = path.join(root, "push-src");
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, "pushed.txt"), "pushed\n");
    const before = files(T);
    const r = rsync("-a", `${src}/`, `fakehost:${T}/`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("validate-rsync: refused: only read-only pulls are allowed");
    expect(files(T)).toEqual(before);
    expect(fs.existsSync(path.join(T, "pushed.txt"))).toBe(false);
  });

  it("reports whether the installed rsync supports --confine-root", () => {
    const version = spawnSync(REAL_RSYNC, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0];
    const help = spawnSync(REAL_RSYNC, ["--help"], { encoding: "utf8" }).stdout;
    console.log(`${version.replace(/\s+/g, " ")}: --confine-root ${help.includes("--confine-root=") ? "supported" : "not supported"}`);
  });
});

// --- yardstick: rrsync -ro --------------------------------------------------------------------------------
describe("compared with rrsync -ro", () => {
  // rrsync hard-codes its rsync path; run its own source with that one constant pointed at the stub. One Python
  // process reads and compiles it once, then forks per command and tree: a Python start costs 0.4 s on a slow
  // machine, and several hundred of them in one test outran the test's timeout. stdin: JSON [[command or null,
  // tree, record file], ...]; stdout: JSON [[exit status, stderr], ...], or exit 99 when the constant is not there.
  const driver = [
    "import json, os, sys, traceback",
    // What rrsync imports, once here rather than in every forked child.
    "import argparse, errno, fcntl, glob, re, socket, stat, subprocess, time",
    "stub = sys.argv[1]",
    `src = open(${JSON.stringify(RRSYNC)}).read()`,
    "old = \"RSYNC = '/usr/bin/rsync'\"",
    "if old not in src: sys.exit(99)",
    `code = compile(src.replace(old, 'RSYNC = ' + repr(stub), 1), ${JSON.stringify(RRSYNC)}, 'exec')`,
    "out = []",
    "for cmd, tree, record in json.load(sys.stdin):",
    "    err = record + '.err'",
    "    pid = os.fork()",
    "    if pid == 0:",
    "        null = os.open(os.devnull, os.O_RDWR)",
    "        os.dup2(null, 0); os.dup2(null, 1); os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)",
    "        os.environ['STUB_RECORD'] = record",
    "        if cmd is None: os.environ.pop('SSH_ORIGINAL_COMMAND', None)",
    "        else: os.environ['SSH_ORIGINAL_COMMAND'] = cmd",
    "        sys.argv = ['rrsync', '-ro', '-absolute', tree]",
    "        status = 0",
    "        try:",
    `            exec(code, {'__name__': '__main__', '__file__': ${JSON.stringify(RRSYNC)}})`,
    "        except SystemExit as e:",
    "            if isinstance(e.code, int): status = e.code",
    "            elif e.code is not None: sys.stderr.write(str(e.code) + '\\n'); status = 1",
    "        except BaseException:",
    "            traceback.print_exc(); status = 1",
    "        sys.stderr.flush(); os._exit(status)",
    "    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])",
    "    out.append([status, open(err).read()])",
    "print(json.dumps(out))",
  ].join("\n");

  /** For each command: whether rrsync -ro lets it through for one of the trees (the stub rsync ran). */
  async function rrsyncVerdicts(cmds: (string | undefined)[]): Promise<boolean[] | "unusable"> {
    const jobs = cmds.flatMap((cmd) => [T, W, S].map((tree) => [cmd ?? null, tree, path.join(root, `rr.${++seq}`)] as const));
    // Not spawnSync: the test worker stays responsive while the driver runs.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const c = spawn(PYTHON, ["-c", driver, stubRsync], { env: { PATH: "/usr/bin:/bin" } });
      let stdout = "";
      let stderr = "";
      c.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
      c.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      c.on("error", reject);
      c.on("close", (status) => resolve({ status, stdout, stderr }));
      c.stdin.end(JSON.stringify(jobs));
    });
    if (r.status === 99) return "unusable";
    if (r.status !== 0) throw new Error(`the rrsync driver failed: ${r.stderr}`);
    const results = JSON.parse(r.stdout) as [number, string][];
    return cmds.map((cmd, i) =>
      [0, 1, 2].some((k) => {
        const [status, stderr] = results[3 * i + k]!;
        if (stderr.includes("Traceback")) throw new Error(`rrsync crashed on ${JSON.stringify(cmd)}: ${stderr}`);
        return status === 0 && fs.existsSync(jobs[3 * i + k]![2]);
      }),
    );
  }

  const why = !fs.existsSync(RRSYNC) ? `${RRSYNC} not installed` : !fs.existsSync(PYTHON) ? `${PYTHON} not installed` : "";

  // A heavy comparison (600 rrsync runs): its own time limit, above the unit tests' 60 s.
  it("refuses everything rrsync -ro refuses (at least as strict)", { timeout: 300_000 }, async (ctx) => {
    if (why !== "") {
      console.log(`rrsync comparison skipped: ${why}`);
      ctx.skip();
    }
    const corpus: Array<readonly [string, string | undefined, boolean]> = [
      ["unset SSH_ORIGINAL_COMMAND", undefined, false],
      ...hostile.map(([l, c]) => [l, c, false] as const),
      ...legit.map(([l, c]) => [l, c, true] as const),
    ];
    const counts = { rrAccVrAcc: 0, rrAccVrRef: 0, rrRefVrAcc: 0, rrRefVrRef: 0 };
    const rrOnly: string[] = [];
    const weaker: string[] = [];
    const verdicts = await rrsyncVerdicts(corpus.map(([, cmd]) => cmd));
    if (verdicts === "unusable") {
      console.log(`rrsync comparison skipped: ${RRSYNC} does not define RSYNC = '/usr/bin/rsync'`);
      ctx.skip();
      return;
    }
    for (const [i, [label, cmd]] of corpus.entries()) {
      const rr = verdicts[i]!;
      const vr = runScript(scripts.never, cmd).argv !== null;
      if (rr && vr) counts.rrAccVrAcc++;
      else if (rr && !vr) (counts.rrAccVrRef++, rrOnly.push(label));
      else if (!rr && vr) (counts.rrRefVrAcc++, weaker.push(label));
      else counts.rrRefVrRef++;
    }
    console.log(
      [
        `rrsync -ro vs validate-rsync over ${corpus.length} commands:`,
        `  both accept:                    ${counts.rrAccVrAcc}`,
        `  both refuse:                    ${counts.rrRefVrRef}`,
        `  rrsync accepts, we refuse:      ${counts.rrAccVrRef}`,
        `  rrsync refuses, we accept:      ${counts.rrRefVrAcc}`,
        `  (only rrsync accepts: ${rrOnly.join("; ")})`,
      ].join("\n"),
    );
    expect(weaker).toEqual([]);
    // The legitimate pulls must pass rrsync as well: they are what a real client sends.
    expect(counts.rrAccVrAcc).toBe(legit.length);
  });
});
