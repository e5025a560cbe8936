-- A year of generated history in Sluice's own tables, for the benchmarks (bench/cost.sh, bench/history.sh):
-- 50 DAGs of 10 steps, :runs runs spread over the last 365 days, their step instances, and :attempts attempts
-- (6% failed, OOM-killed or timed out; each with a GPU). Attempts are inserted without their costs (the
-- insert trigger is off); `sluice cost backfill` costs them.
--
--   psql -v runs=100000 -v attempts=1000000 -v ON_ERROR_STOP=1 -f bench/history.sql
BEGIN;
ALTER TABLE attempt DISABLE TRIGGER attempt_costed_on_insert;
INSERT INTO dag (name) SELECT 'dag' || d FROM generate_series(1, 50) d;
INSERT INTO dag_version (dag_id, spec_hash, source, source_path) SELECT id, 'h', 'dag: ' || name, '/bench' FROM dag;
CREATE TEMP TABLE steps AS
  SELECT d, s, sluice_tag_set(jsonb_build_object(
           'dag', 'dag' || d, 'step', 's' || s, 'kind', (ARRAY['feature', 'training', 'scoring', 'other'])[1 + s % 4],
           'executor', 'local', 'team', 'team' || (d % 8), 'project', 'p' || (d % 20))) AS tag_set_id,
         (ARRAY[0.5, 1, 2, 4])[1 + (d + s) % 4] AS cpus, (ARRAY[1, 2, 4, 8])[1 + (d * s) % 4]::bigint << 30 AS memory
  FROM generate_series(1, 50) d, generate_series(1, 10) s;
INSERT INTO run (dag_id, dag_version_id, state, trigger, created_at, started_at, ended_at, queued_at)
  SELECT d.id, v.id, 'succeeded', 'schedule', t, t, t + interval '1 hour', t
  FROM (SELECT r, now() - random() * interval '365 days' AS t FROM generate_series(1, :runs) r) x
  JOIN dag d ON d.name = 'dag' || (1 + x.r % 50) JOIN dag_version v ON v.dag_id = d.id;
INSERT INTO step_instance (run_id, step_key, step_id, position, state, command, tag_set_id, started_at, ended_at)
  SELECT r.id, 's' || st.s, 's' || st.s, st.s, 'succeeded', '["true"]', st.tag_set_id, r.started_at, r.ended_at
  FROM run r JOIN dag d ON d.id = r.dag_id JOIN steps st ON 'dag' || st.d = d.name;
INSERT INTO attempt (step_instance_id, number, state, exit_code, host, stdout_path, stderr_path, created_at, started_at,
                     ended_at, wall_seconds, user_cpu_seconds, system_cpu_seconds, max_rss_bytes, requested_cpus,
                     requested_memory_bytes, requested_gpus, tag_set_id)
  SELECT si.id, 1, o.state, o.code, 'bench', '', '', si.started_at, si.started_at,
         si.started_at + make_interval(secs => w.wall), w.wall, w.wall * st.cpus * random() * 0.9, w.wall * 0.02,
         (st.memory * (0.1 + random() * 0.8))::bigint, st.cpus, st.memory, 1, si.tag_set_id
  FROM step_instance si
  JOIN steps st ON st.tag_set_id = si.tag_set_id
  CROSS JOIN LATERAL (SELECT 30 + random() * 1800 + 0 * si.id AS wall, random() + 0 * si.id AS roll) w
  CROSS JOIN LATERAL (SELECT CASE WHEN w.roll < 0.04 THEN 'exited' WHEN w.roll < 0.05 THEN 'oom_killed'
                                  WHEN w.roll < 0.06 THEN 'timed_out' ELSE 'exited' END AS state,
                             CASE WHEN w.roll < 0.04 THEN 1 WHEN w.roll < 0.06 THEN NULL ELSE 0 END AS code) o
  LIMIT :attempts;
ALTER TABLE attempt ENABLE TRIGGER attempt_costed_on_insert;
COMMIT;
