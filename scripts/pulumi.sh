#!/usr/bin/env bash
# `npm run pulumi -- <args>`: the engine with mirrorstack's offline environment.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/engine-env.sh"
command -v pulumi >/dev/null && command -v pulumi-language-nodejs >/dev/null || bash "$ROOT/scripts/setup.sh"
mkdir -p "$ROOT/.pulumi-state"
cd "$ROOT"
exec pulumi "$@"
