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

for (const [key, value] of Object.entries(values)) {
  doc.setIn(["config", `mirrorstack:${key}`], doc.createNode(value));
}

const after = doc.toString();
if (after !== before) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, after);
  renameSync(tmp, file);
  console.log(`${before === "" ? "created" : "updated"} ${file}`);
}
