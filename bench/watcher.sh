#!/usr/bin/env bash
# The cost of the watcher alone (bench/watcher.c): `true` started directly, and under sluice-shim.
#
#   bench/watcher.sh [N]        (default 1000; run via `make bench`)
set -euo pipefail
N=${1:-1000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHIM=${SHIM:-$ROOT/.build/release/sluice-shim}
[ -x "$SHIM" ] || { echo "bench: $SHIM not found; run: swift build -c release --static-swift-stdlib (or make bench)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/sluice-watcher-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cc -O2 -I "$ROOT/Sources/CSpawn/include" -o "$WORK/watcher" "$ROOT/bench/watcher.c" "$ROOT/Sources/CSpawn/fd_passing.c"
"$WORK/watcher" "$SHIM" "$WORK/logs" "$N"
