set -euo pipefail
# `phase <name> <seconds>` lines on stdout say where the time went (the seed's output and the benchmark show them).
t=$EPOCHREALTIME
phase() { local now=$EPOCHREALTIME; printf 'phase %s %s\n' "$1" "$(awk -v a="$t" -v b="$now" 'BEGIN { printf "%.3f", b - a }')"; t=$now; }
# The benchmarks' raw copy (npm run bench -- seed): the bytes are read and dropped.
cat >/dev/null
