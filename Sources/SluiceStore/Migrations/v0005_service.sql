-- The scheduler service: engines that own runs under a lease, queued runs claimed one at a time, who or what
-- triggered each run, admission against one host's capacity across every process, attempts another process
-- can adopt, and the state of the DAG folder (loaded version, load error, pause, position of the schedule).

CREATE TABLE scheduler (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('service', 'foreground')),
    host          text NOT NULL,
    pid           integer NOT NULL,
    pid_start     bigint,
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    stopped_at    timestamptz
);
CREATE INDEX scheduler_live ON scheduler (kind, heartbeat_at) WHERE stopped_at IS NULL;

ALTER TABLE run ALTER COLUMN owner_host DROP NOT NULL;
ALTER TABLE run ALTER COLUMN owner_pid DROP NOT NULL;
ALTER TABLE run ALTER COLUMN log_root DROP NOT NULL;
ALTER TABLE run ALTER COLUMN parallelism DROP NOT NULL;
ALTER TABLE run ADD COLUMN owner_id bigint REFERENCES scheduler (id);
ALTER TABLE run ADD COLUMN triggered_by text;
ALTER TABLE run ADD COLUMN scheduled_for timestamptz;
ALTER TABLE run ADD COLUMN data_interval_start timestamptz;
ALTER TABLE run ADD COLUMN data_interval_end timestamptz;
ALTER TABLE run ADD COLUMN queued_at timestamptz NOT NULL DEFAULT clock_timestamp();
ALTER TABLE run ADD COLUMN cancel_requested_at timestamptz;
ALTER TABLE run ADD COLUMN message text;
-- A fire time is run once, whatever crashes or how many services share the database.
CREATE UNIQUE INDEX run_one_per_fire_time ON run (dag_id, scheduled_for) WHERE scheduled_for IS NOT NULL;
CREATE INDEX run_queued ON run (id) WHERE state = 'queued';
CREATE INDEX run_live_by_dag ON run (dag_id) WHERE state IN ('queued', 'running');
CREATE INDEX run_running_by_owner ON run (owner_id) WHERE state = 'running';

ALTER TABLE attempt ADD COLUMN external_id text;
ALTER TABLE attempt ADD COLUMN executor_state jsonb;
CREATE INDEX attempt_live_by_host ON attempt (host) WHERE state IN ('starting', 'running');

ALTER TABLE dag ADD COLUMN paused boolean NOT NULL DEFAULT false;
ALTER TABLE dag ADD COLUMN max_active_runs integer NOT NULL DEFAULT 1;
ALTER TABLE dag ADD COLUMN file text;
ALTER TABLE dag ADD COLUMN loaded_version_id bigint REFERENCES dag_version (id);
ALTER TABLE dag ADD COLUMN load_error text;
ALTER TABLE dag ADD COLUMN schedule text;
ALTER TABLE dag ADD COLUMN timezone text;
ALTER TABLE dag ADD COLUMN catchup boolean NOT NULL DEFAULT false;
-- Fire times after this instant are due: the last one queued, or the moment the DAG was first seen.
ALTER TABLE dag ADD COLUMN schedule_from timestamptz;
ALTER TABLE dag ADD COLUMN removed_at timestamptz;

-- The files of a served DAG folder that do not load, by path (a file whose DAG is known also marks that DAG).
CREATE TABLE dag_file (
    path        text PRIMARY KEY,
    dag_id      bigint REFERENCES dag (id),
    error       text,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A version covers the included template files too, so editing a template makes a new version.
ALTER TABLE dag_version ADD COLUMN templates jsonb NOT NULL DEFAULT '{}';

ALTER TABLE event DROP CONSTRAINT event_kind_check;
ALTER TABLE event ADD CONSTRAINT event_kind_check CHECK (kind IN ('run', 'step', 'attempt', 'handler', 'control'));

-- Claims one queued run for `claimer` (or exactly `wanted`), within its DAG's max_active_runs; the run's id, or
-- NULL when nothing may start now. Queued runs are taken oldest first; SKIP LOCKED lets engines claim side by
-- side, and a lock per DAG makes the max_active_runs count exact between them.
CREATE FUNCTION sluice_claim_run(claimer bigint, wanted bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    candidate record;
BEGIN
    FOR candidate IN
        SELECT r.id, r.dag_id FROM run r JOIN dag d ON d.id = r.dag_id
        WHERE r.state = 'queued' AND (wanted IS NULL OR r.id = wanted)
          AND NOT (d.paused AND r.trigger = 'schedule')
          AND (SELECT count(*) FROM run x WHERE x.dag_id = r.dag_id AND x.state = 'running') < d.max_active_runs
        ORDER BY r.id
        LIMIT 32
        FOR UPDATE OF r SKIP LOCKED
    LOOP
        PERFORM pg_advisory_xact_lock(1936486755, candidate.dag_id::integer);
        IF (SELECT count(*) FROM run x WHERE x.dag_id = candidate.dag_id AND x.state = 'running')
            < (SELECT max_active_runs FROM dag WHERE id = candidate.dag_id) THEN
            UPDATE run SET state = 'running', owner_id = claimer, started_at = clock_timestamp()
            WHERE id = candidate.id;
            INSERT INTO event (run_id, kind, from_state, to_state) VALUES (candidate.id, 'run', 'queued', 'running');
            RETURN candidate.id;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Admits a request on one host against its capacity, counting every live attempt on that host whatever process
-- started it: the GPU indices given (an empty array when none), or NULL when it does not fit now.
CREATE FUNCTION sluice_admit(host_name text, cpus double precision, memory bigint, gpus integer,
                             capacity_cpus double precision, capacity_memory bigint, capacity_gpus integer)
RETURNS integer[] LANGUAGE plpgsql AS $$
DECLARE
    used_cpus double precision;
    used_memory bigint;
    taken integer[];
    free integer[];
BEGIN
    PERFORM pg_advisory_xact_lock(1936486756, hashtext(host_name));
    SELECT coalesce(sum(requested_cpus), 0), coalesce(sum(requested_memory_bytes), 0)
    INTO used_cpus, used_memory
    FROM attempt WHERE host = host_name AND state IN ('starting', 'running');
    IF used_cpus + coalesce(cpus, 0) > capacity_cpus + 1e-9
        OR used_memory + coalesce(memory, 0) > capacity_memory THEN
        RETURN NULL;
    END IF;
    IF coalesce(gpus, 0) = 0 THEN
        RETURN '{}';
    END IF;
    SELECT coalesce(array_agg(g::integer), '{}') INTO taken
    FROM attempt a, unnest(string_to_array(a.gpu_ids, ',')) g
    WHERE a.host = host_name AND a.state IN ('starting', 'running') AND a.gpu_ids IS NOT NULL;
    SELECT coalesce(array_agg(i ORDER BY i), '{}') INTO free
    FROM generate_series(0, capacity_gpus - 1) i WHERE i <> ALL (taken);
    IF coalesce(array_length(free, 1), 0) < gpus THEN
        RETURN NULL;
    END IF;
    RETURN free[1:gpus];
END
$$;
