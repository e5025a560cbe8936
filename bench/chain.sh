#!/usr/bin/env bash
# Sluice's per-step overhead on an N-step chain of trivial steps (`true`), against make on the same chain.
#
#   bench/chain.sh [N] [REPEATS]        (defaults: 1000 steps, 3 repeats; run via `make bench`)
#
# Sluice runs twice per repeat: with limits enforced through a cgroup per attempt (cgroups: auto, the
# default; v2 or v1, whichever the host has) and with cgroups off (rlimits only). The difference is the
# per-step cost of cgroup setup, join and teardown.
# Both run the same chain strictly in sequence: step k needs step k-1. Sluice runs with full recording
# (every run, step and attempt state change committed to its embedded PostgreSQL, logs per attempt);
# make runs the recipes directly. The embedded server is started before timing, as it stays up
# between commands. Prints the median wall time of each and Sluice's overhead per step.
# Run it on a quiet file system: just after many files were deleted (a test run), ext4 file creation
# is several times slower for a while, and every attempt creates its status file (and its logs, when it prints).
set -euo pipefail

N=${1:-1000}
REPEATS=${2:-3}
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh" chain
mkdir -p "$WORK/dags"
echo "cgroups: off" > "$WORK/no-cgroups.yaml"
echo "cgroup_parent: sluice-bench" > "$WORK/cgroups.yaml"

{
  echo "dag: chain"
  echo "steps:"
  echo "  s1: {command: [\"true\"]}"
  for ((i = 2; i <= N; i++)); do echo "  s$i: {command: [\"true\"], needs: [s$((i - 1))]}"; done
} > "$WORK/dags/chain.yaml"
{
  echo ".PHONY: $(seq -f 's%g' -s ' ' 1 "$N")"
  echo "s1:"
  printf '\ttrue\n'
  for ((i = 2; i <= N; i++)); do echo "s$i: s$((i - 1))"; printf '\ttrue\n'; done
} > "$WORK/chain.mk"


"$SLUICE" db migrate --state-dir "$WORK/state" >/dev/null   # start the embedded server outside the timing
wal_syncs() {
  psql -qtA "host=$WORK/state/pg/run dbname=sluice user=sluice" -c "SELECT wal_sync FROM pg_stat_wal" 2>/dev/null || echo 0
}
syncs_before=$(wal_syncs)

sluice_ns=()
make_ns=()
plain_ns=()
for ((r = 1; r <= REPEATS; r++)); do
  t0=$(now)
  measure=()
  [ -x /usr/bin/time ] && measure=(/usr/bin/time -f %M -o "$WORK/rss.$r")  # GNU time: peak RSS in KiB
  "${measure[@]}" "$SLUICE" run "$WORK/dags/chain.yaml" --state-dir "$WORK/state" --parallelism 1 --config "$WORK/cgroups.yaml" >/dev/null
  t1=$(now)
  make -s -f "$WORK/chain.mk" -C "$WORK" "s$N" >/dev/null
  t2=$(now)
  sluice_ns+=($((t1 - t0)))
  make_ns+=($((t2 - t1)))
done
syncs=$(($(wal_syncs) - syncs_before))
enforcement=$("$SLUICE" runs show latest --json --state-dir "$WORK/state" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["attempts"][0].get("enforcement") or "?")')
for ((r = 1; r <= REPEATS; r++)); do
  t0=$(now)
  "$SLUICE" run "$WORK/dags/chain.yaml" --state-dir "$WORK/state" --parallelism 1 --config "$WORK/no-cgroups.yaml" >/dev/null
  t1=$(now)
  plain_ns+=($((t1 - t0)))
done

s=$(printf '%s\n' "${sluice_ns[@]}" | median)
m=$(printf '%s\n' "${make_ns[@]}" | median)
p=$(printf '%s\n' "${plain_ns[@]}" | median)
steps=$("$SLUICE" runs show latest --json --state-dir "$WORK/state" |
  python3 -c 'import json, sys; print(sum(s["state"] == "succeeded" for s in json.load(sys.stdin)["steps"]))')
rss=$(cat "$WORK"/rss.* 2>/dev/null | sort -n | tail -1); rss=${rss:-0}
awk -v n="$N" -v s="$s" -v m="$m" -v p="$p" -v r="$REPEATS" -v ok="$steps" -v w="$syncs" -v e="$enforcement" -v rss="$rss" 'BEGIN {
  printf "chain of %d steps, median of %d runs (last run: %d steps recorded as succeeded)\n", n, r, ok
  printf "  sluice run, limits in %s: %8.3f s  (%.3f ms/step)\n", e, s / 1e9, s / 1e6 / n
  printf "  sluice run, rlimits only:    %8.3f s  (%.3f ms/step)\n", p / 1e9, p / 1e6 / n
  printf "  make:                        %8.3f s  (%.3f ms/step)\n", m / 1e9, m / 1e6 / n
  printf "  sluice overhead (cgroups):   %8.3f ms/step\n", (s - m) / 1e6 / n
  printf "  cgroup setup + teardown:     %8.3f ms/step\n", (s - p) / 1e6 / n
  printf "  WAL flushes (fsync):         %8.2f per step\n", w / n / r
  printf "  peak RSS of sluice run:      %8.1f MB\n", rss / 1024
}'
