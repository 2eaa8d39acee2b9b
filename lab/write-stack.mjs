// Writes the lab's hosts into a Pulumi stack file, keeping every other key, comment and the
// layout of the rest of the file. Called by lab/lab.sh up:
//
//   node lab/write-stack.mjs <stack-file> '<json>'
//
// where json = {"master": {...}, "mirrors": [...], "ssh": {...}}; each becomes the config key
// mirrorstack:<name> under the top-level `config:` map. The file is created when missing and
// only rewritten when something changed.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { isMap, parseDocument } from "yaml";

const [file, json] = process.argv.slice(2);
if (!file || !json) {
  console.error("usage: node lab/write-stack.mjs <stack-file> '<json>'");
  process.exit(2);
}
const values = JSON.parse(json);

const before = existsSync(file) ? readFileSync(file, "utf8") : "";
const doc = parseDocument(before);
if (doc.errors.length > 0) {
  console.error(`lab: ${file} is not valid YAML, not touching it:\n${doc.errors.join("\n")}`);
  process.exit(1);
}
if (doc.contents === null || doc.contents === undefined) {
  doc.contents = doc.createNode({});
} else if (!isMap(doc.contents)) {
  console.error(`lab: ${file} does not hold a YAML map at the top, not touching it`);
  process.exit(1);
}
if (!isMap(doc.get("config", true))) {
  doc.set("config", doc.createNode({}));
}

// A host entry keeps the keys the lab does not set (web, serverId, ...) from the entry that named the same host,
// master or mirror (after a switchover the roles differ from the lab's): the lab's values win for the ones it gives
// (name, address), and mirror-only keys do not follow a host to the master.
const current = doc.toJS()?.config ?? {};
const previousHosts = [current["mirrorstack:master"], ...(Array.isArray(current["mirrorstack:mirrors"]) ? current["mirrorstack:mirrors"] : [])].filter(
  (h) => h && typeof h === "object",
);
const keepKeys = (host, role) => {
  const old = previousHosts.find((h) => h.name === host.name);
  if (!old) return host;
  const { reseed, changingAddress, ...common } = old;
  return role === "master" ? { ...common, ...host } : { ...old, ...host };
};
for (const [key, value] of Object.entries(values)) {
  const merged = key === "master" ? keepKeys(value, "master") : key === "mirrors" && Array.isArray(value) ? value.map((m) => keepKeys(m, "mirror")) : value;
  doc.setIn(["config", `mirrorstack:${key}`], doc.createNode(merged));
}

const after = doc.toString();
if (after !== before) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, after);
  renameSync(tmp, file);
  console.log(`${before === "" ? "created" : "updated"} ${file}`);
}
