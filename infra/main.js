// Pulumi.yaml's `main`: runs the program (infra/index.ts) as compiled to dist/, compiling first when a source
// changed (scripts/build-program.js). Plain JavaScript so the engine's Node.js host runs it without a TypeScript
// compiler, which saved about 2 s of every `up` and `preview`.
"use strict";
const path = require("node:path");
const root = path.resolve(__dirname, "..");

// What the SDK does per resource that no mirrorstack run uses (infra/sdk-trim.js).
require("./sdk-trim").trimSdk(process.env);

// Have the engine start the dynamic providers' process now, not at the first resource: that one waits for the
// program's modules, validation and rendering, and the process takes about 1 s to start, which now overlaps them.
// Any call for the `pulumi-nodejs` package starts it; this one names no function, so it fails, and the failure is
// dropped. (runtime/invoke alone: the package's index takes half a second to load.)
require("@pulumi/pulumi/runtime/invoke")
  .invoke("pulumi-nodejs:index:startProvider", {})
  .catch(() => undefined);

require("../scripts/build-program").ensureBuilt(root);

// The program's modules load synchronously, and the call above only leaves once the event loop turns: give it
// that moment first. Pulumi awaits an exported async function and takes its result as the stack outputs.
module.exports = async () => {
  await new Promise((resolve) => setTimeout(resolve, 30));
  return require(path.join(root, "dist", "infra", "index.js"));
};
