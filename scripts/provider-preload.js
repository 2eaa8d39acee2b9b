// Preloaded into the dynamic-provider process by scripts/pulumi-resource-pulumi-nodejs (setup.sh installs both
// beside the CLI). The SDK's provider host reads one value of @pulumi/pulumi/runtime (grpcChannelOptions), but that
// module's index also loads the closure serializer, TypeScript and npm's arborist with it: 0.85 s of CPU at every
// start of the process, in every `up` and `preview` (bench/RESULTS.md, issue 15). Here the index loads only when
// something other than that value is read from it; the providers themselves (dist/providers/) use Node's
// built-ins and mysql2 only.
"use strict";
const Module = require("node:module");
const from = { paths: [process.argv[1] ?? process.cwd()] };
const file = require.resolve("@pulumi/pulumi/runtime/index.js", from);
const settingsFile = require.resolve("@pulumi/pulumi/runtime/settings.js", from);
let real;
function load() {
  if (!real) {
    delete require.cache[file];
    real = require(file);
  }
  return real;
}
const lazy = new Proxy(
  {},
  {
    get: (_, key) => (key === "grpcChannelOptions" && !real ? require(settingsFile).grpcChannelOptions : load()[key]),
    has: (_, key) => key in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_, key) => {
      const d = Reflect.getOwnPropertyDescriptor(load(), key);
      return d && { ...d, configurable: true };
    },
  },
);
const m = new Module(file);
m.filename = file;
m.loaded = true;
m.exports = lazy;
require.cache[file] = m;
