# Sourced by the benchmarks: the release build they time, a work folder of their own that is removed (with
# the embedded server in $WORK/state) on exit unless KEEP=1, steps run as the caller, and timing helpers.
#
#   source "$(dirname "$0")/common.sh" NAME      (then $ROOT, $SLUICE and $WORK are set)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SLUICE=${SLUICE:-$ROOT/.build/release/sluice}
[ -x "$SLUICE" ] || { echo "bench: $SLUICE not found; run: swift build -c release --static-swift-stdlib (or make bench)" >&2; exit 1; }
WORK=$(mktemp -d "/tmp/sluice-bench-${1:-run}-XXXXXX")
chmod 755 "$WORK"
bench_cleanup() {
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK (its server is still running)"; return; fi
  "$SLUICE" db stop --state-dir "$WORK/state" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap bench_cleanup EXIT
# The benchmarks run trivial steps as whoever runs them (as root, Sluice needs to be told so).
export SLUICE_RUN_AS=${SLUICE_RUN_AS:-$(id -un)}
now() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
p95() { sort -n | awk '{ a[NR] = $1 } END { i = int(NR * 0.95 + 0.999); if (i < 1) i = 1; print a[i] }'; }
# time_command LABEL WHAT ARGS...: the median wall time of `sluice ARGS --state-dir $WORK/state` over $REPEATS
# runs, printed as "  LABEL  median N ms WHAT".
time_command() {
  local label=$1 what=$2; shift 2
  local times=() a b
  for ((i = 0; i < REPEATS; i++)); do
    a=$(now); "$SLUICE" "$@" --state-dir "$WORK/state" > "$WORK/out.txt"; b=$(now)
    times+=($(((b - a) / 1000)))
  done
  awk -v l="$label" -v m="$(printf '%s\n' "${times[@]}" | median)" -v w="$what" \
    'BEGIN { printf "  %-44s median %7.1f ms %s\n", l, m / 1000, w }'
}
