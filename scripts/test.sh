#!/usr/bin/env bash
# `npm test`: setup, type check, then every vitest project. Lab tests need root and say so when they skip; each
# lab test file brings up a lab of its own and takes it down. The kernel tier (virtual machines under software
# emulation, test/kernel/) runs last, on its own, because it needs both cores; MIRRORSTACK_SKIP_KERNEL=1 leaves
# it out (then say so). Arguments go to every vitest run as they are (e.g. a file filter, --sequence.shuffle).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
source scripts/engine-env.sh
echo "[test] type check (tsc --noEmit)"
tsc --noEmit -p .
status=0
reports=() # report file, vitest exit status; in pairs
run() { # name vitest-args...
  local name=$1 out="$ROOT/.vitest-results-$1.json" t0=$SECONDS
  shift
  rm -f "$out"
  echo "[test] vitest: $name"
  local code=0
  vitest run --reporter=default --reporter=json --outputFile.json="$out" "$@" || code=$?
  [ "$code" = 0 ] || status=$code
  echo "[test] $name took $((SECONDS - t0))s"
  reports+=("$out" "$code")
}
# Unit and lab (e2e) tests one after the other, not side by side: the lab files get the 2 cores their timings
# assume, and a failure of one run cannot hide the other's results (twice on 2026-12-07 a unit worker's "Timeout
# calling onTaskUpdate", see test/yield-between-tests.ts, came with no lab file reported at all).
run unit --project unit --passWithNoTests "$@"
run e2e --project e2e --passWithNoTests "$@"
if [ "${MIRRORSTACK_SKIP_KERNEL:-}" = 1 ]; then
  echo "[test] kernel tier skipped (MIRRORSTACK_SKIP_KERNEL=1)"
else
  run kernel --project kernel --passWithNoTests "$@"
fi
# Plain closing lines, whatever the runner printed above them: each failed test with its error's start and end (a
# CI log is often cut to its end, a test's own output may print "FAIL" as product text, and a failed `pulumi up`
# prints its progress first and its error last), a run that failed with no failed test (an unhandled error), then
# the counts. Arguments: report and vitest exit status, in pairs.
node -e 'let p = 0, f = 0, s = 0;
  const clip = (t) => (t.length <= 3000 ? t : `${t.slice(0, 1000)}\n[...]\n${t.slice(-2000)}`);
  const args = process.argv.slice(1);
  for (let i = 0; i < args.length; i += 2) {
    const [file, code] = [args[i], args[i + 1]];
    let r; try { r = JSON.parse(require("fs").readFileSync(file, "utf8")); } catch { f++; console.log(`[test] no report: ${file}`); continue; }
    p += r.numPassedTests; f += r.numFailedTests; s += r.numPendingTests + r.numTodoTests;
    if (code !== "0" && r.numFailedTests === 0) console.log(`[test] vitest exited ${code} with no failed test in ${file}: an unhandled error or a file that did not load; see "Errors" above`);
    for (const t of r.testResults) {
      if (t.status === "failed" && !t.assertionResults.some((a) => a.status === "failed"))
        console.log(`[test] FAILED FILE ${t.name}: ${clip(String(t.message))}`);
      for (const a of t.assertionResults.filter((a) => a.status === "failed"))
        console.log(`[test] FAILED ${t.name} > ${a.fullName}\n${clip(a.failureMessages.join("\n").split("\n").filter((l) => !/^\s+at .*(node_modules|node:internal|<anonymous>)/.test(l)).join("\n").trim())}`);
    }
  }
  console.log(`${p} passed, ${f} failed, ${s} skipped`);' "${reports[@]}"
exit "$status"
