#!/usr/bin/env bash
# Per-step overhead as a chain grows: bench/chain.sh at 100, 1,000 and 10,000 steps (one run each), and
# the peak resident memory of `sluice run` for each. Flat overhead means no step costs O(steps) work.
#
#   bench/scale.sh [SIZES...]     (default: 100 1000 10000; run via `make bench`)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100 1000 10000)
printf '%8s  %18s  %18s  %14s\n' steps "overhead ms/step" "cgroups ms/step" "peak RSS MB"
for n in "${SIZES[@]}"; do
  out=$(bash "$ROOT/bench/chain.sh" "$n" 1)
  overhead=$(awk '/sluice overhead/ { print $(NF-1) }' <<< "$out")
  total=$(awk '/limits in/ { gsub(/[()]/, ""); print $(NF-1) }' <<< "$out")
  rss=$(awk '/peak RSS/ { print $(NF-1) }' <<< "$out")
  printf '%8d  %18s  %18s  %14s\n' "$n" "$overhead" "$total" "$rss"
done
