-- A claim's cost no longer grows with the queue times the runs of its DAG. Every claim that finds nothing to
-- start (a service tries one after each run's end, once the freed slot is taken) used to count, for each
-- queued run, the running runs of that run's DAG through an index of its queued and running runs: with 1,000
-- runs of one DAG queued behind its max_active_runs, a million index entries per claim, and a drain that fell
-- from 24 runs/s at 300 queued to 11 at 1,000. Now the running runs are counted through an index of their own,
-- the DAGs that are full are found once per claim, and their queued runs are passed over by that list.
CREATE INDEX run_running_by_dag ON run (dag_id) WHERE state = 'running';

CREATE OR REPLACE FUNCTION sluice_claim_run(claimer bigint, wanted bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    candidate record;
    full_dags bigint[];
BEGIN
    -- Only a DAG with a run running can be at its max_active_runs (one of 0 is held back below).
    SELECT coalesce(array_agg(x.dag_id), '{}') INTO full_dags FROM (
        SELECT r.dag_id FROM run r WHERE r.state = 'running' GROUP BY r.dag_id
        HAVING count(*) >= (SELECT max_active_runs FROM dag WHERE id = r.dag_id)
    ) x;
    FOR candidate IN
        SELECT r.id, r.dag_id FROM run r JOIN dag d ON d.id = r.dag_id
        WHERE r.state = 'queued' AND (wanted IS NULL OR r.id = wanted)
          AND (r.reserved_by IS NULL OR r.reserved_by = claimer)
          AND NOT (d.paused AND r.trigger = 'schedule')
          AND r.dag_id <> ALL (full_dags)
          AND d.max_active_runs > 0
        ORDER BY r.id
        LIMIT 32
        FOR UPDATE OF r SKIP LOCKED
    LOOP
        PERFORM pg_advisory_xact_lock(1936486755, candidate.dag_id::integer);
        -- Counted again under the DAG's lock: another claimer may have taken its last slot meanwhile.
        IF (SELECT count(*) FROM run x WHERE x.dag_id = candidate.dag_id AND x.state = 'running')
            < (SELECT max_active_runs FROM dag WHERE id = candidate.dag_id) THEN
            -- Started: the reservation is spent (a retry queues the run again for whoever claims it).
            UPDATE run SET state = 'running', owner_id = claimer, started_at = clock_timestamp(), reserved_by = NULL
            WHERE id = candidate.id;
            INSERT INTO event (run_id, kind, from_state, to_state) VALUES (candidate.id, 'run', 'queued', 'running');
            RETURN candidate.id;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
