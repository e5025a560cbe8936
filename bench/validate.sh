#!/usr/bin/env bash
# Times `sluice validate` on a generated DAG of N steps (default 10,000): every step has a templated
# command, needs, env, resources, retries and outputs, so all of the validator's checks run.
# Usage: bench/validate.sh [N]   (after `swift build -c release --static-swift-stdlib`, or `make bench`)
set -euo pipefail
N=${1:-10000}
SLUICE=${SLUICE:-.build/release/sluice}
OUT=bench/out
mkdir -p "$OUT"
python3 - "$N" > "$OUT/big.yaml" <<'PY'
import sys
n = int(sys.argv[1])
print("dag: big\nparams:\n  brand: {type: string, default: ah, enum: [ah, albert, delhaize]}\n  days: {type: int, default: 90, min: 1}")
print("defaults:\n  retries: {attempts: 3, backoff: 30s, max_backoff: 10m}\n  resources: {cpus: 1, memory: 2Gi}\nsteps:")
for i in range(n):
    needs = sorted({i - 1, i // 2, i - 7} - {i} if i else set())
    needs = [f"s{j}" for j in needs if j >= 0]
    print(f"  s{i}:")
    if needs:
        print(f"    needs: [{', '.join(needs)}]")
    print(f"    command: python step.py --brand ${{{{ params.brand }}}} --days ${{{{ params.days }}}} --part {i}")
    print(f"    env: {{PART: \"{i}\"}}")
    print(f"    outputs: [data/part_{i}.csv]")
    print(f"    resources: {{memory: {1 + i % 4}Gi}}")
PY
bytes=$(wc -c < "$OUT/big.yaml")
best=""
for run in 1 2 3 4 5; do
  start=$(date +%s.%N)
  "$SLUICE" validate "$OUT/big.yaml" > /dev/null
  end=$(date +%s.%N)
  t=$(echo "$end - $start" | bc -l)
  if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
done
printf 'validate: %d steps (%d KiB): best of 5 = %.3f s\n' "$N" $((bytes / 1024)) "$best"
