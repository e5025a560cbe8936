-- A run queued by a foreground `sluice run` is that process's to start: it waits there for its DAG's slot
-- (max_active_runs). A service must not start it, and when that process ends without starting it (killed while
-- it waited), the run is cancelled rather than left queued for a service to start later, unasked.
ALTER TABLE run ADD COLUMN reserved_by bigint;

CREATE OR REPLACE FUNCTION sluice_claim_run(claimer bigint, wanted bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    candidate record;
BEGIN
    FOR candidate IN
        SELECT r.id, r.dag_id FROM run r JOIN dag d ON d.id = r.dag_id
        WHERE r.state = 'queued' AND (wanted IS NULL OR r.id = wanted)
          AND (r.reserved_by IS NULL OR r.reserved_by = claimer)
          AND NOT (d.paused AND r.trigger = 'schedule')
          AND (SELECT count(*) FROM run x WHERE x.dag_id = r.dag_id AND x.state = 'running') < d.max_active_runs
        ORDER BY r.id
        LIMIT 32
        FOR UPDATE OF r SKIP LOCKED
    LOOP
        PERFORM pg_advisory_xact_lock(1936486755, candidate.dag_id::integer);
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
