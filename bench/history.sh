#!/usr/bin/env bash
# Reading commands and starting a run over a big history: `sluice status`, `sluice runs`, `sluice runs show`
# and `sluice run` of a one-step DAG, with ATTEMPTS attempts (default 1,000,000: 100,000 runs of 10 steps
# over the last year, bench/history.sql) already in the database.
#
#   bench/history.sh [ATTEMPTS] [REPEATS]     (defaults: 1000000 attempts, 7 repeats; run via `make bench`)
#
# Prints the median wall time of each whole command (process start, connection, queries, rendering; for
# `run`, also the step `true` itself and every write of the run). Target: each at most 100 ms.
set -euo pipefail

ATTEMPTS=${1:-1000000}
REPEATS=${2:-7}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE:-$ROOT/.build/release/sluice}
[ -x "$SLUICE" ] || { echo "bench: $SLUICE not found; run: swift build -c release --static-swift-stdlib (or make bench)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/sluice-bench-history-XXXXXX)
chmod 755 "$WORK"
cleanup() { "$SLUICE" db stop --state-dir "$WORK/state" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
now() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
export SLUICE_RUN_AS=${SLUICE_RUN_AS:-$(id -un)}

"$SLUICE" db migrate --state-dir "$WORK/state" >/dev/null
PSQL=(psql -qtA "host=$WORK/state/pg/run dbname=sluice user=sluice" -v ON_ERROR_STOP=1)
S=(--state-dir "$WORK/state")
t0=$(now)
"${PSQL[@]}" -v runs="$(( (ATTEMPTS + 9) / 10 ))" -v attempts="$ATTEMPTS" -f "$ROOT/bench/history.sql" >/dev/null
"${PSQL[@]}" -c "VACUUM ANALYZE" >/dev/null
t1=$(now)
echo "generated $ATTEMPTS attempts in $(( (t1 - t0) / 1000000000 )) s"
mkdir -p "$WORK/dags"
printf 'dag: fresh\nsteps:\n  a: {command: ["true"]}\n' > "$WORK/dags/fresh.yaml"
echo "cgroups: off" > "$WORK/sluice.yaml"
"$SLUICE" run "$WORK/dags/fresh.yaml" --config "$WORK/sluice.yaml" "${S[@]}" >/dev/null  # the DAG's first version
middle=$("${PSQL[@]}" -c "SELECT id FROM run ORDER BY id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM run)")

time_command() {
  local label=$1; shift
  local times=()
  for ((i = 0; i < REPEATS; i++)); do
    local a b
    a=$(now); "$SLUICE" "$@" "${S[@]}" > "$WORK/out.txt"; b=$(now)
    times+=($(((b - a) / 1000)))
  done
  local m; m=$(printf '%s\n' "${times[@]}" | median)
  awk -v l="$label" -v m="$m" -v n="$ATTEMPTS" 'BEGIN { printf "  %-36s median %7.1f ms with %d attempts recorded\n", l, m / 1000, n }'
}
echo "commands (median of $REPEATS, whole command):"
time_command "sluice status" status
time_command "sluice runs" runs
time_command "sluice runs show RUN (a year-old run)" runs show "$middle"
time_command "sluice runs show latest" runs show latest
time_command "sluice run (one step, true)" run "$WORK/dags/fresh.yaml" --config "$WORK/sluice.yaml"
