-- Sluice schema, version 1: definitions, runs, step instances, attempts and the event log.

CREATE TABLE dag (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE dag_version (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dag_id       bigint NOT NULL REFERENCES dag (id),
    spec_hash    text NOT NULL,
    source       text NOT NULL,
    source_path  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (dag_id, spec_hash)
);

CREATE TABLE run (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dag_id          bigint NOT NULL REFERENCES dag (id),
    dag_version_id  bigint NOT NULL REFERENCES dag_version (id),
    state           text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    trigger         text NOT NULL DEFAULT 'manual',
    parallelism     integer NOT NULL CHECK (parallelism > 0),
    owner_host      text NOT NULL,
    owner_pid       integer NOT NULL,
    log_root        text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at      timestamptz,
    ended_at        timestamptz
);
CREATE INDEX run_by_dag ON run (dag_id, id DESC);

CREATE TABLE step_instance (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES run (id),
    step_key    text NOT NULL,
    position    integer NOT NULL,
    state       text NOT NULL CHECK (state IN ('pending', 'ready', 'running', 'succeeded', 'failed',
                                               'skipped', 'upstream_failed', 'cancelled', 'cached')),
    command     jsonb NOT NULL,
    needs       jsonb NOT NULL DEFAULT '[]',
    attempts    integer NOT NULL DEFAULT 0,
    exit_code   integer,
    message     text,
    started_at  timestamptz,
    ended_at    timestamptz,
    UNIQUE (run_id, step_key)
);

CREATE TABLE attempt (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    step_instance_id    bigint NOT NULL REFERENCES step_instance (id),
    number              integer NOT NULL CHECK (number > 0),
    state               text NOT NULL CHECK (state IN ('starting', 'running', 'exited', 'killed', 'oom_killed',
                                                       'timed_out', 'failed_to_start', 'lost')),
    exit_code           integer,
    signal              integer,
    message             text,
    pid                 integer,
    host                text NOT NULL,
    stdout_path         text NOT NULL,
    stderr_path         text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at          timestamptz,
    ended_at            timestamptz,
    wall_seconds        double precision,
    user_cpu_seconds    double precision,
    system_cpu_seconds  double precision,
    max_rss_bytes       bigint,
    UNIQUE (step_instance_id, number)
);

-- Append-only history of every state change.
CREATE TABLE event (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id            bigint NOT NULL REFERENCES run (id),
    step_instance_id  bigint REFERENCES step_instance (id),
    attempt_id        bigint REFERENCES attempt (id),
    kind              text NOT NULL CHECK (kind IN ('run', 'step', 'attempt')),
    from_state        text,
    to_state          text NOT NULL,
    detail            text,
    at                timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX event_by_run ON event (run_id, id);

-- Raises a state conflict from inside a statement, so a multi-part change rolls back as a whole.
CREATE FUNCTION sluice_conflict(message text) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'SL409', MESSAGE = message;
END
$$;
