import { mirrorNames } from "./lib/lab";
import { initStack, up, stackName } from "./lib/stack";
import { DATABASE } from "./lib/dataset";
void (async () => {
  const n = Number(process.argv[2]);
  const stack = stackName(`x${n}`);
  await initStack(stack, { mirrors: mirrorNames().slice(0, n), database: { databases: [DATABASE], binlogRetentionDays: 7 } });
  const r = await up(stack);
  console.log(stack, r.seconds, r.code);
})();
