#!/usr/bin/env bash
# Builds everything (tests included) and fails on any compiler warning in the project's own sources:
# the project promises zero warnings. Dependencies' warnings are not ours to fix.
set -euo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift build --build-tests "$@" 2>&1 | tee "$log"
root=$(pwd)
if grep -E "^${root}/(Sources|Tests)/.*: warning:" "$log"; then
  echo "build: the warnings above must be fixed" >&2
  exit 1
fi
