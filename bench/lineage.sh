#!/usr/bin/env bash
# Lineage benchmarks:
#   1. hashing throughput: `sluice lineage version` against `sha256sum` on the same files (1 GiB by default);
#   2. a re-run over an unchanged input directory of 10,000 files: time, and bytes read to hash;
#   3. `lineage up` and `lineage down` over a generated history of about 1,000,000 data versions and
#      5,000,000 edges: median and p95 over 20 random starting points, each a whole `sluice` command.
#
#   bench/lineage.sh [MiB] [FILES] [RUNS]     (defaults: 1024 MiB, 10000 files, 24000 runs of 10 steps)
set -euo pipefail
MIB=${1:-1024}
FILES=${2:-10000}
RUNS=${3:-24000}
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh" lineage

# 1. Hashing throughput, page cache warm for both.
mkdir -p "$WORK/hash"
per=$((MIB / 16)); [ "$per" -ge 1 ] || per=1
for i in $(seq 1 16); do head -c $((per * 1048576)) /dev/urandom > "$WORK/hash/part$i.bin"; done
bytes=$(du -sb "$WORK/hash" | cut -f1)
cat "$WORK/hash"/* > /dev/null
sha=(); ours=()
for r in 1 2 3; do
  t0=$(now); sha256sum "$WORK/hash"/* > /dev/null; t1=$(now)
  "$SLUICE" lineage version "$WORK/hash" > /dev/null; t2=$(now)
  sha+=($((t1 - t0))); ours+=($((t2 - t1)))
done
s=$(printf '%s\n' "${sha[@]}" | median); o=$(printf '%s\n' "${ours[@]}" | median)
awk -v b="$bytes" -v s="$s" -v o="$o" 'BEGIN {
  printf "hashing %.0f MiB (16 files), median of 3, page cache warm:\n", b / 1048576
  printf "  sha256sum:              %7.3f s  %7.0f MiB/s\n", s / 1e9, b / 1048576 / (s / 1e9)
  printf "  sluice lineage version: %7.3f s  %7.0f MiB/s  (one directory version: every file plus the manifest)\n", o / 1e9, b / 1048576 / (o / 1e9)
}'
rm -rf "$WORK/hash"

# 2. A re-run over an unchanged input directory.
mkdir -p "$WORK/dags" "$WORK/in"
python3 - "$WORK/in" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i % 100:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.csv"), "wb") as f:
        f.write(os.urandom(4096))
PY
cat > "$WORK/dags/wide.yaml" <<YAML
dag: wide
steps:
  summarise:
    command: "ls -R ../in | wc -l > ../summary.txt"
    inputs: [../in]
    outputs: [../summary.txt]
YAML
"$SLUICE" db migrate --state-dir "$WORK/state" >/dev/null
run_once() {
  local t0 t1
  t0=$(now)
  "$SLUICE" run "$WORK/dags/wide.yaml" --state-dir "$WORK/state" >/dev/null
  t1=$(now)
  echo $(((t1 - t0) / 1000000)) "$("$SLUICE" runs show latest --json --state-dir "$WORK/state" |
    python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["bytes_hashed"], d["run"]["cached"])')"
}
read -r first_ms first_bytes first_cached <<< "$(run_once)"
read -r second_ms second_bytes second_cached <<< "$(run_once)"
echo "re-run over an unchanged directory of $FILES files ($(du -sb "$WORK/in" | cut -f1) bytes):"
echo "  first run:  ${first_ms} ms, ${first_bytes} bytes hashed"
echo "  second run: ${second_ms} ms, ${second_bytes} bytes hashed, ${second_cached} step cached (stats only)"

# 3. Lineage queries over a generated history (the database's own tables, filled by SQL).
PSQL=(psql -qtA "host=$WORK/state/pg/run dbname=sluice user=sluice" -v ON_ERROR_STOP=1)
t0=$(now)
"${PSQL[@]}" <<SQL
BEGIN;
INSERT INTO dag (name) VALUES ('history');
INSERT INTO dag_version (dag_id, spec_hash, source, source_path)
  SELECT id, 'h', 'dag: history', '/dev/null' FROM dag WHERE name = 'history';
INSERT INTO run (dag_id, dag_version_id, state)
  SELECT d.id, v.id, 'succeeded' FROM dag d JOIN dag_version v ON v.dag_id = d.id, generate_series(1, $RUNS)
  WHERE d.name = 'history';
CREATE TEMP TABLE hr AS SELECT id AS run_id, row_number() OVER (ORDER BY id) AS r FROM run
  WHERE dag_id = (SELECT id FROM dag WHERE name = 'history');
INSERT INTO step_instance (run_id, step_key, position, state, command)
  SELECT hr.run_id, 's' || k, k, 'succeeded', '["true"]' FROM hr, generate_series(1, 10) k;
INSERT INTO attempt (step_instance_id, number, state, host, stdout_path, stderr_path, exit_code, lineage)
  SELECT s.id, 1, 'exited', 'bench', '', '', 0, 'complete' FROM step_instance s JOIN hr ON hr.run_id = s.run_id;
CREATE TEMP TABLE ha AS
  SELECT a.id AS attempt_id, hr.r, s.position AS k FROM attempt a JOIN step_instance s ON s.id = a.step_instance_id
  JOIN hr ON hr.run_id = s.run_id;
-- Each attempt writes 5 versions; step 1 of each run reads 5 sources no step wrote.
INSERT INTO data_version (kind, name, version, method, size_bytes)
  SELECT 'dataset', 'd' || ha.r || '_' || ha.k || '_' || o, 'sha256:' || md5(ha.r || '/' || ha.k || '/' || o), 'content', 1000
  FROM ha, generate_series(1, 5) o;
INSERT INTO data_version (kind, name, version, method, size_bytes)
  SELECT 'path', '/srv/raw/' || hr.r || '_' || o, 'sha256:' || md5('raw' || hr.r || '/' || o), 'content', 1000
  FROM hr, generate_series(1, 5) o;
CREATE TEMP TABLE hv AS
  SELECT id, split_part(substr(name, 2), '_', 1)::bigint AS r, split_part(name, '_', 2)::int AS k
  FROM data_version WHERE kind = 'dataset';
CREATE TEMP TABLE hs AS
  SELECT id, split_part(substr(name, 10), '_', 1)::bigint AS r FROM data_version WHERE kind = 'path' AND name LIKE '/srv/raw/%';
INSERT INTO attempt_data (attempt_id, role, data_version_id)
  SELECT ha.attempt_id, 'output', hv.id FROM ha JOIN hv USING (r, k);
-- Step k reads every output of steps k-4 … k-1 of its run (up to 20 inputs); step 1 reads the run's sources.
INSERT INTO attempt_data (attempt_id, role, data_version_id)
  SELECT ha.attempt_id, 'input', hv.id FROM ha JOIN hv ON hv.r = ha.r AND hv.k BETWEEN ha.k - 4 AND ha.k - 1;
INSERT INTO attempt_data (attempt_id, role, data_version_id)
  SELECT ha.attempt_id, 'input', hs.id FROM ha JOIN hs ON hs.r = ha.r WHERE ha.k = 1;
COMMIT;
ANALYZE;
SQL
t1=$(now)
counts=$("${PSQL[@]}" -c "SELECT (SELECT count(*) FROM data_version) || ' ' || (SELECT count(*) FROM attempt_data)")
read -r versions edges <<< "$counts"
echo "generated history: $versions data versions, $edges edges in $(( (t1 - t0) / 1000000000 )) s"
starts=$("${PSQL[@]}" -c "SELECT name || '@' || version FROM data_version WHERE kind = 'dataset' ORDER BY random() LIMIT 20")
for direction in up down; do
  times=()
  for start in $starts; do
    a=$(now)
    "$SLUICE" lineage "$direction" "$start" --json --state-dir "$WORK/state" > "$WORK/out.json"
    b=$(now)
    times+=($(((b - a) / 1000)))
  done
  m=$(printf '%s\n' "${times[@]}" | median); p=$(printf '%s\n' "${times[@]}" | p95)
  awk -v d="$direction" -v m="$m" -v p="$p" 'BEGIN { printf "  lineage %-4s (whole command, 20 random starts): median %6.1f ms, p95 %6.1f ms\n", d, m / 1000, p / 1000 }'
done
a=$(now); "$SLUICE" status --state-dir "$WORK/state" > /dev/null; b=$(now)
echo "  for scale, \`sluice status\` (process start, connection, one query): $(((b - a) / 1000000)) ms"
