#!/usr/bin/env bash
# `make bench`: every benchmark in one run, each one's own output as it goes, then one table of the figures
# against their reference tools (make, a process started directly) or the product's targets.
#
#   bench/all.sh            (needs a release build: swift build -c release --static-swift-stdlib)
#   KEEP_LOGS=DIR bench/all.sh      keeps each benchmark's output in DIR; SUMMARY_FROM=DIR only prints the
#                                   table from such a folder
#
# Takes about 25 minutes on a 2-core machine (the 1,000,000-attempt histories are most of it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${SUMMARY_FROM:-}" ]; then
  LOGS=$SUMMARY_FROM
else
  LOGS=${KEEP_LOGS:-$(mktemp -d /tmp/sluice-bench-all-XXXXXX)}
  mkdir -p "$LOGS"
  [ -n "${KEEP_LOGS:-}" ] || trap 'rm -rf "$LOGS"' EXIT
  run() {  # NAME SCRIPT ARGS...
    local name=$1 script=$2; shift 2
    echo "== bench/$script $*"
    bash "$ROOT/bench/$script" "$@" 2>&1 | tee "$LOGS/$name.txt"
    echo
  }
  run chain chain.sh 1000
  run scale scale.sh
  run fanout fanout.sh 2000 16
  run watcher watcher.sh 1000
  run service service.sh 100 1000 100
  run validate validate.sh 10000
  run lineage lineage.sh
  run cost cost.sh
  run history history.sh
  if command -v perf >/dev/null && command -v strace >/dev/null; then
    run profile profile.sh 1000
  else
    echo "== bench/profile.sh skipped: it needs perf and strace (apt-get install linux-perf strace)"
    echo
  fi
fi

# The figures, read back from each benchmark's output.
get() { { awk "$2" "$LOGS/$1.txt" 2>/dev/null || true; } | head -1; }
chain=$(get chain '/limits in/ { gsub(/[()]/, ""); print $(NF-1) }')
chain_make=$(get chain '/^  make:/ { gsub(/[()]/, ""); print $(NF-1) }')
chain_plain=$(get chain '/rlimits only/ { gsub(/[()]/, ""); print $(NF-1) }')
chain_wal=$(get chain '/WAL flushes/ { print $(NF-2) }')
scale_rows=$(get scale '$1 ~ /^[0-9]+$/ { s = s $2 " " } END { print s }')
scale_rss=$(get scale '$1 ~ /^[0-9]+$/ { r = $4 } END { print r }')
fan=$(get fanout '/sluice run:/ { print $(NF-1) }')
fan_make=$(get fanout '/make -j/ { print $(NF-1) }')
fan_wal=$(get fanout '/WAL flushes/ { print $(NF-2) }')
direct=$(get watcher '/directly/ { for (i = 1; i <= NF; i++) if ($i == "directly") print $(i+1) }')
watched=$(get watcher '/directly/ { for (i = 1; i <= NF; i++) if ($i == "watcher") { print $(i+1); exit } }')
trig=$(get service '/trigger to first step/ { for (i = 1; i <= NF; i++) if ($i == "median") m = $(i+1); else if ($i == "p99") p = $(i+1); print m " / " p }')
drain=$(get service '/drain of/ { for (i = 1; i <= NF; i++) if ($i == "runs/s") print $(i-1) }')
idle=$(get service '/idle with/ { for (i = 1; i <= NF; i++) if ($i == "RSS") print $(i+1) }')
validate=$(get validate '/best of 5/ { print $(NF-1) }')
lin_up=$(get lineage '/lineage up/ { for (i = 1; i <= NF; i++) if ($i == "median") print $(i+1) }')
lin_down=$(get lineage '/lineage down/ { for (i = 1; i <= NF; i++) if ($i == "median") print $(i+1) }')
cost_team=$(get cost '/sluice cost --by team --since 365d / { for (i = 1; i <= NF; i++) if ($i == "median") print $(i+1) }')
cost_eff=$(get cost '/sluice efficiency --since 365d/ { for (i = 1; i <= NF; i++) if ($i == "median") print $(i+1) }')
hist() { get history "/$1/ { for (i = 1; i <= NF; i++) if (\$i == \"median\") print \$(i+1) }"; }

echo "== summary, $(date -u +%F), $(nproc) CPUs ($(uname -r)); times are medians unless marked"
row() { printf '  %-44s %14s  %-26s %s\n' "$1" "$2" "$3" "$4"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.1fx", a / b; else print "?" }'; }
over() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "") printf "%.2f ms over make", a - b; else print "?" }'; }
row "figure" "sluice" "reference or target" "ratio"
row "chain of 1000, cgroups on (ms/step)" "$chain" "make $chain_make ms/step" "$(ratio "$chain" "$chain_make"), $(over "$chain" "$chain_make") (target 1.0)"
row "chain of 1000, rlimits only (ms/step)" "$chain_plain" "make $chain_make ms/step" "$(ratio "$chain_plain" "$chain_make"), $(over "$chain_plain" "$chain_make")"
row "chain: WAL flushes per step" "$chain_wal" "floor 1 (a durable start)" ""
row "chain overhead ms/step at 100 1000 10000" "$scale_rows" "flat" ""
row "peak RSS of a 10,000-step run (MB)" "$scale_rss" "" ""
row "fan-out of 2000 at -j16 (steps/s)" "$fan" "make -j16 $fan_make" "make $(ratio "$fan_make" "$fan") faster"
row "fan-out: WAL flushes per step" "$fan_wal" "" ""
row "start and end of true (ms)" "$watched" "directly $direct" "$(ratio "$watched" "$direct")"
row "serve: trigger to start, median / p99 (ms)" "$trig" "target 50" ""
row "serve: drain of a queue (runs/s)" "$drain" "" ""
row "serve: idle RSS with 100 DAGs (MB)" "$idle" "target 30" ""
row "validate 10,000 steps (s, best of 5)" "$validate" "target 1" ""
row "lineage up / down, 4.9 M edges (ms)" "$lin_up / $lin_down" "" ""
row "cost --by team, 1 M attempts (ms)" "$cost_team" "target 1000" ""
row "efficiency, 1 M attempts (ms)" "$cost_eff" "target 1000" ""
row "status, 1 M attempts (ms)" "$(hist "sluice status")" "target 100" ""
row "runs, 1 M attempts (ms)" "$(hist "sluice runs  ")" "target 100" ""
row "runs show latest, 1 M attempts (ms)" "$(hist "runs show latest")" "target 100" ""
row "run of one step, 1 M attempts (ms)" "$(hist "sluice run \\(one")" "target 100" ""
