#!/usr/bin/env bash
# `npm test`: setup, type check, then every vitest project. Lab (end-to-end) tests need root and say so
# when they skip; they bring the lab up themselves and take it down at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
source scripts/engine-env.sh
echo "[test] type check (tsc --noEmit)"
tsc --noEmit -p .
echo "[test] vitest"
results="$ROOT/.vitest-results.json"
rm -f "$results"
status=0
vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
# One plain closing line with the counts, whatever the runner printed above it.
if [ -s "$results" ]; then
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);' "$results"
fi
exit "$status"
