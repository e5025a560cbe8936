#!/usr/bin/env bash
# Parallel throughput: a fan-out of N trivial steps (`true`, no needs between them) run by `sluice run
# --parallelism P` with full recording and cgroup limits, against `make -jP` of the same N targets. Prints
# steps per second for both, their ratio, and the WAL flushes per step (concurrent steps share flushes).
#
#   bench/fanout.sh [N] [P] [REPEATS]     (defaults: 2000 steps, 16 at once, 3 repeats; run via `make bench`)
#
# Each step asks for 0.1 CPU and 64 MiB, so that P of them fit this host's capacity at once.
set -euo pipefail

N=${1:-2000}
P=${2:-16}
REPEATS=${3:-3}
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh" fanout
mkdir -p "$WORK/dags"
echo "cgroup_parent: sluice-bench" > "$WORK/sluice.yaml"
{
  echo "dag: fanout"
  echo "defaults: {resources: {cpus: 0.1, memory: 64Mi}}"
  echo "steps:"
  for ((i = 1; i <= N; i++)); do echo "  s$i: {command: [\"true\"]}"; done
} > "$WORK/dags/fanout.yaml"
{
  echo ".PHONY: all $(seq -f 's%g' -s ' ' 1 "$N")"
  echo "all: $(seq -f 's%g' -s ' ' 1 "$N")"
  for ((i = 1; i <= N; i++)); do echo "s$i:"; printf '\ttrue\n'; done
} > "$WORK/fanout.mk"
"$SLUICE" db migrate --state-dir "$WORK/state" >/dev/null
wal_syncs() { psql -qtA "host=$WORK/state/pg/run dbname=sluice user=sluice" -c "SELECT wal_sync FROM pg_stat_wal"; }
before=$(wal_syncs)
sluice_ns=(); make_ns=()
for ((r = 1; r <= REPEATS; r++)); do
  t0=$(now)
  "$SLUICE" run "$WORK/dags/fanout.yaml" --parallelism "$P" --config "$WORK/sluice.yaml" --state-dir "$WORK/state" >/dev/null
  t1=$(now)
  make -s -j"$P" -f "$WORK/fanout.mk" -C "$WORK" all >/dev/null
  t2=$(now)
  sluice_ns+=($((t1 - t0))); make_ns+=($((t2 - t1)))
done
syncs=$(($(wal_syncs) - before))
s=$(printf '%s\n' "${sluice_ns[@]}" | median)
m=$(printf '%s\n' "${make_ns[@]}" | median)
awk -v n="$N" -v p="$P" -v s="$s" -v m="$m" -v w="$syncs" -v r="$REPEATS" 'BEGIN {
  printf "fan-out of %d steps at parallelism %d, median of %d runs\n", n, p, r
  printf "  sluice run:  %7.3f s  %8.1f steps/s\n", s / 1e9, n / (s / 1e9)
  printf "  make -j%d:   %7.3f s  %8.1f steps/s\n", p, m / 1e9, n / (m / 1e9)
  printf "  make is %.1fx faster; WAL flushes %.2f per step\n", s / m, w / n / r
}'
