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
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh" history

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

echo "commands (median of $REPEATS, whole command):"
time_command "sluice status" "with $ATTEMPTS attempts recorded" status
time_command "sluice runs" "with $ATTEMPTS attempts recorded" runs
time_command "sluice runs show RUN (a year-old run)" "with $ATTEMPTS attempts recorded" runs show "$middle"
time_command "sluice runs show latest" "with $ATTEMPTS attempts recorded" runs show latest
time_command "sluice run (one step, true)" "with $ATTEMPTS attempts recorded" run "$WORK/dags/fresh.yaml" --config "$WORK/sluice.yaml"
