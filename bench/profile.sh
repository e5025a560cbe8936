#!/usr/bin/env bash
# Where a step's time goes: an N-step chain of trivial steps (as bench/chain.sh, cgroups on) run
#   - with SLUICE_PROFILE=1: the engine's own wall time per phase (the critical path of a sequential chain),
#   - under `perf record -a` (CPU time per step of each process kind, and of the idle CPUs: what waits),
#   - PostgreSQL's `pg_stat_statements` and `pg_stat_user_functions` (server time per statement and trigger),
#   - `pg_stat_wal` (WAL flushes per step),
#   - `strace -c` on the engine alone, in a separate run (its system calls per step).
#
#   bench/profile.sh [N]        (default 1000 steps; needs perf and strace: apt-get install linux-perf strace)
#
# perf samples every CPU at 999 Hz; a run's CPU time is wall time x CPUs, and each process kind's share of
# the samples is its share of that. The profiled runs are slower than bench/chain.sh's (perf, statistics).
set -euo pipefail

N=${1:-1000}
for tool in perf strace psql; do
  command -v "$tool" >/dev/null || { echo "bench/profile.sh needs $tool (apt-get install linux-perf strace)" >&2; exit 1; }
done
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh" profile
mkdir -p "$WORK/dags"
echo "cgroup_parent: sluice-bench" > "$WORK/sluice.yaml"
{
  echo "dag: chain"
  echo "steps:"
  echo "  s1: {command: [\"true\"]}"
  for ((i = 2; i <= N; i++)); do echo "  s$i: {command: [\"true\"], needs: [s$((i - 1))]}"; done
} > "$WORK/dags/chain.yaml"
run_chain() { "$@" "$SLUICE" run "$WORK/dags/chain.yaml" --state-dir "$WORK/state" --config "$WORK/sluice.yaml" >/dev/null; }

# The embedded server, with statement statistics loaded (a restart).
"$SLUICE" db migrate --state-dir "$WORK/state" >/dev/null
PG="host=$WORK/state/pg/run dbname=sluice user=sluice"
psql -qtA "$PG" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" \
  -c "ALTER SYSTEM SET track_functions = 'all'" >/dev/null
"$SLUICE" db stop --state-dir "$WORK/state" >/dev/null
"$SLUICE" db migrate --state-dir "$WORK/state" >/dev/null
psql -qtA "$PG" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
run_chain   # warm: the file system, the tables' statistics
psql -qtA "$PG" -c "SELECT pg_stat_statements_reset(), pg_stat_reset(), pg_stat_reset_shared('wal')" >/dev/null

SLUICE_PROFILE=1 "$SLUICE" run "$WORK/dags/chain.yaml" --state-dir "$WORK/state" --config "$WORK/sluice.yaml" \
  2>&1 >/dev/null | sed 's/^/  /'
echo
psql -qtA "$PG" -c "SELECT pg_stat_statements_reset(), pg_stat_reset(), pg_stat_reset_shared('wal')" >/dev/null

t0=$(now)
run_chain perf record -a -F 999 -q -o "$WORK/perf.data" --
t1=$(now)
cpus=$(nproc)
echo "chain of $N steps under perf, cgroups on, $(date -u +%F), $cpus CPUs"
awk -v n="$N" -v w="$((t1 - t0))" 'BEGIN { printf "  wall: %.3f ms per step\n\n", w / 1e6 / n }'

echo "CPU per step by process (ms; all CPUs together, so they can add up to more than the wall time):"
perf report -i "$WORK/perf.data" --sort comm --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' |
  awk -v n="$N" -v w="$((t1 - t0))" -v c="$cpus" '
    { sub("%", "", $1); kind = $2
      if (kind == "swapper") kind = "idle (a CPU waiting)"
      else if (kind == "sluice") kind = "sluice run (the engine)"
      else if (kind == "sluice-watcher") kind = "watcher (forked per attempt)"
      else if (kind == "sluice-shim") kind = "spawner (sluice-shim --spawner)"
      else if (kind == "postgres") kind = "PostgreSQL (server processes)"
      else if (kind == "true") kind = "the step (exec of true)"
      else if (kind ~ /^kworker|^ksoftirqd|^rcu/) kind = "kernel threads (cgroup release, RCU)"
      else kind = "other"
      share[kind] += $1 }
    END { for (k in share) printf "  %6.3f  %s\n", share[k] / 100 * w / 1e6 * c / n, k }' | sort -rn

echo
echo "PostgreSQL server time per step (ms; pg_stat_statements, executor time of each statement):"
psql -qtA -F '|' "$PG" -c "
  SELECT round((calls::numeric / $N), 2), round((total_exec_time / $N)::numeric, 3),
         regexp_replace(left(regexp_replace(query, '\s+', ' ', 'g'), 70), '\|', '/', 'g')
  FROM pg_stat_statements WHERE calls >= $N ORDER BY total_exec_time DESC" |
  awk -F'|' '{ printf "  %5s calls %6.3f ms  %s\n", $1, $2, $3 }'
psql -qtA -F '|' "$PG" -c "
  SELECT funcname, round((total_time / $N)::numeric, 3) FROM pg_stat_user_functions
  WHERE calls >= $N ORDER BY total_time DESC" | awk -F'|' '{ printf "  inside them, %-24s %6.3f ms\n", $1, $2 }'
psql -qtA "$PG" -c "SELECT round(wal_sync::numeric / $N, 2) FROM pg_stat_wal" |
  awk '{ printf "  WAL flushes: %s per step\n", $1 }'

echo
echo "System calls of the engine per step (strace -c, a separate run; the most frequent):"
run_chain strace -c -o "$WORK/strace.txt"
awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print $4, $NF }' "$WORK/strace.txt" | sort -rn |
  awk -v n="$N" '{ total += $1; if (NR <= 12) list = list sprintf(" %s %.1f,", $2, $1 / n) }
    END { printf "  %.1f in all:%s\n", total / n, substr(list, 1, length(list) - 1) }'
