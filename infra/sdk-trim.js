// Work the Pulumi SDK does in the program for every resource, which nothing in a mirrorstack run reads, turned
// off before the program loads (infra/main.js). Each part was measured in a no-op `up` of 1 + 16 hosts
// (bench/RESULTS.md, issue 15). Plain JavaScript: main.js runs before the program is compiled.
"use strict";

/** Turns the SDK's per-resource extras off; MIRRORSTACK_SDK_DEBUG=1 in `env` keeps its debug messages and promise stacks. */
function trimSdk(env) {
  // Pulumi's run harness installs source-map-support, whose stack formatting then runs for every promise the SDK
  // makes (it records each one's stack) and every resource: 0.5 s of CPU. The compiled program has no source
  // maps, so V8's own formatting gives the same stacks.
  Error.prepareStackTrace = undefined;

  // Debug messages for every resource ("Registering resource", "RPC prepared", "RPC finished"), each a gRPC call
  // that the engine handles and stores, though it shows them only under `pulumi up --debug`.
  // And the stack of every promise the SDK makes, kept for its report of promises still pending when the program
  // exits; the report keeps each one's label. MIRRORSTACK_SDK_DEBUG=1 keeps both.
  if (env.MIRRORSTACK_SDK_DEBUG !== "1") {
    require("@pulumi/pulumi/log").debug = () => Promise.resolve();
    const debuggable = require("@pulumi/pulumi/runtime/debuggable");
    const tracked = debuggable.debuggablePromise;
    debuggable.debuggablePromise = (p, ctx) => {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      try {
        return tracked(p, ctx);
      } finally {
        Error.stackTraceLimit = limit;
      }
    };
  }

  // The whole stack of every resource (taken with Error.stackTraceLimit = Infinity, then parsed), sent with it as
  // its source position, which only Pulumi Cloud shows.
  require("@pulumi/pulumi/resource").Resource.callsites = () => [];
}

module.exports = { trimSdk };
