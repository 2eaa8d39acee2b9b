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
exec vitest run "$@"
