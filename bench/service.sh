#!/usr/bin/env bash
# The scheduler service, measured: trigger-to-start latency, draining a queue, and idle memory.
#
#   bench/service.sh [TRIGGERS] [RUNS] [DAGS]     (defaults: 100 triggers, 1000 runs, 100 idle DAGs; `make bench`)
#
# 1. Latency: `sluice trigger` of a one-step DAG, TRIGGERS times, each waiting for the run to end, with
#    `sluice serve` idle in between. Measured in the database, on its clock: from the run's queued_at (the
#    trigger's insert) to its attempt's started_at (recorded once the step's process exists).
# 2. Drain: RUNS runs of a 10-step DAG (a root, eight steps after it, a join; each `true`, 0.05 CPU)
#    queued first (one backfill), then one `sluice serve` started: runs per second from the first start to the
#    last end, and the CPU seconds of the service process itself and of the whole host meanwhile.
# 3. Idle: the service's resident memory with DAGS scheduled DAGs loaded and nothing to do, after a few
#    rescans of the folder, and its CPU use over 10 s of idling.
# Release build, embedded PostgreSQL started before timing, cgroups as the host allows.
set -euo pipefail

TRIGGERS=${1:-100}
RUNS=${2:-1000}
DAGS=${3:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE:-$ROOT/.build/release/sluice}
[ -x "$SLUICE" ] || { echo "bench: $SLUICE not found; run: swift build -c release --static-swift-stdlib (or make bench)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/sluice-service-bench-XXXXXX)
chmod 755 "$WORK"
SERVICE_PID=
cleanup() {
  [ -n "$SERVICE_PID" ] && kill "$SERVICE_PID" 2>/dev/null && wait "$SERVICE_PID" 2>/dev/null || true
  "$SLUICE" db stop --state-dir "$WORK/.sluice" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export SLUICE_RUN_AS=${SLUICE_RUN_AS:-$(id -un)}
export SLUICE_STATE_DIR="$WORK/.sluice"
cd "$WORK"
mkdir -p dags idle/dags
cat > sluice.yaml <<'EOF'
cgroup_parent: sluice-bench
default_resources: {cpus: 0.05, memory: 64Mi}
EOF
cat > dags/latency.yaml <<'EOF'
dag: latency
steps:
  one: {command: ["true"]}
EOF
{
  echo "dag: ten"
  echo 'schedule: "* * * * *"'
  echo "max_active_runs: 64"
  echo "steps:"
  echo '  root: {command: ["true"]}'
  for i in 1 2 3 4 5 6 7 8; do echo "  mid$i: {command: [\"true\"], needs: [root]}"; done
  echo '  join: {command: ["true"], needs: [mid1, mid2, mid3, mid4, mid5, mid6, mid7, mid8]}'
} > dags/ten.yaml

psql_q() { psql -qtA "host=$WORK/.sluice/pg/run dbname=sluice user=sluice" -c "$1"; }
ticks=$(getconf CLK_TCK)
cpu_of() { awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
host_cpu() { awk -v t="$ticks" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / t }' /proc/stat; }
start_service() {  # folder
  "$SLUICE" serve "$1" 2>"$WORK/serve.log" &
  SERVICE_PID=$!
  for _ in $(seq 600); do grep -q "loaded" "$WORK/serve.log" 2>/dev/null && return; sleep 0.05; done
  echo "bench: the service did not start" >&2; cat "$WORK/serve.log" >&2; exit 1
}
stop_service() { kill "$SERVICE_PID"; wait "$SERVICE_PID" || true; SERVICE_PID=; }

"$SLUICE" db migrate >/dev/null   # the embedded server, outside the timing

# 1. Latency.
start_service dags
"$SLUICE" dags pause ten >/dev/null   # only what is triggered runs
for ((i = 1; i <= TRIGGERS; i++)); do "$SLUICE" trigger latency --wait >/dev/null; done
read -r median p99 max < <(psql_q "
  SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 1),
         round((percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))::numeric, 1), round(max(ms)::numeric, 1)
  FROM (SELECT extract(epoch FROM a.started_at - r.queued_at) * 1000 AS ms
        FROM run r JOIN dag d ON d.id = r.dag_id JOIN step_instance s ON s.run_id = r.id
        JOIN attempt a ON a.step_instance_id = s.id WHERE d.name = 'latency') x" | tr '|' ' ')
stop_service

# 2. Drain.
minutes=$((RUNS - 1))
"$SLUICE" backfill ten --from 2026-01-01T00:00:00Z --to "$(date -u -d "2026-01-01 00:00:00 UTC + $minutes minutes" +%Y-%m-%dT%H:%M:%SZ)" >/dev/null
queued=$(psql_q "SELECT count(*) FROM run WHERE state = 'queued'")
start_service dags
self0=$(cpu_of "$SERVICE_PID")
host0=$(host_cpu)
while [ "$(psql_q "SELECT count(*) FROM run WHERE state IN ('queued', 'running')")" != 0 ]; do sleep 0.2; done
self1=$(cpu_of "$SERVICE_PID")
host1=$(host_cpu)
stop_service
read -r span ok steps < <(psql_q "
  SELECT extract(epoch FROM max(r.ended_at) - min(r.started_at)), count(*) FILTER (WHERE r.state = 'succeeded'),
         (SELECT count(*) FROM step_instance s JOIN run x ON x.id = s.run_id JOIN dag e ON e.id = x.dag_id
          WHERE e.name = 'ten' AND s.state = 'succeeded')
  FROM run r JOIN dag d ON d.id = r.dag_id WHERE d.name = 'ten'" | tr '|' ' ')

# 3. Idle.
for ((i = 1; i <= DAGS; i++)); do
  cat > "idle/dags/idle_$i.yaml" <<EOF
dag: idle_$i
schedule: "$((i % 60)) 3 * * *"
timezone: Europe/Amsterdam
steps:
  extract: {command: [./extract.sh, "$i"]}
  transform: {command: [./transform.sh], needs: [extract]}
  load: {command: [./load.sh], needs: [transform]}
EOF
done
start_service idle/dags
for _ in $(seq 600); do [ "$(grep -c "loaded idle_" "$WORK/serve.log")" -ge "$DAGS" ] && break; sleep 0.05; done
sleep 10   # five rescans of the folder, one recovery pass, two heartbeats: the steady state
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$SERVICE_PID/status")
idle0=$(cpu_of "$SERVICE_PID")
sleep 10
idle1=$(cpu_of "$SERVICE_PID")
stop_service

awk -v n="$TRIGGERS" -v med="$median" -v p99="$p99" -v max="$max" -v runs="$queued" -v ok="$ok" -v steps="$steps" \
  -v span="$span" -v s0="$self0" -v s1="$self1" -v c0="$host0" -v c1="$host1" -v dags="$DAGS" -v rss="$rss" \
  -v i0="$idle0" -v i1="$idle1" 'BEGIN {
  printf "trigger to first step started, %d triggers: median %.1f ms, p99 %.1f ms, max %.1f ms\n", n, med, p99, max
  printf "drain of %d queued runs of a 10-step DAG: %d succeeded (%d steps) in %.1f s = %.1f runs/s (%.0f steps/s)\n", runs, ok, steps, span, ok / span, steps / span
  printf "  CPU: the service %.1f s (%.2f ms/step); the whole host (service, watchers, steps, PostgreSQL) %.1f s (%.2f ms/step)\n", s1 - s0, (s1 - s0) * 1000 / steps, c1 - c0, (c1 - c0) * 1000 / steps
  printf "idle with %d DAGs loaded: RSS %.1f MB, CPU %.2f s over 10 s\n", dags, rss / 1024, i1 - i0
}'
