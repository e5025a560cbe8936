import Foundation
import SluiceBasics
import SluiceModel

/// A step to record when a run is created.
public struct NewStep: Sendable, Encodable {
    /// The instance key: the step id, or `id[item]` for a foreach instance.
    public let key: String
    /// The step id it is an instance of.
    public let stepID: String
    /// The foreach item, if any.
    public let item: String?
    /// Its position in the DAG file.
    public let position: Int
    /// The argv it runs.
    public let command: [String]
    /// Ids of the steps it needs.
    public let needs: [String]

    /// Creates a step record.
    public init(
        key: String, stepID: String? = nil, item: String? = nil, position: Int, command: [String], needs: [String]
    ) {
        self.key = key
        self.stepID = stepID ?? key
        self.item = item
        self.position = position
        self.command = command
        self.needs = needs
    }

    enum CodingKeys: String, CodingKey {
        case key, item, position, command, needs
        case stepID = "step_id"
    }
}

/// The run and step ids assigned when a run was created.
public struct CreatedRun: Sendable {
    /// The run id.
    public let runID: Int64
    /// The step instance ids, in the order the steps were given.
    public let stepIDs: [Int64]
}

/// One step state change, applied only if the step is still in `from`.
public struct StepChange: Sendable, Encodable {
    /// The step instance id.
    public let id: Int64
    /// The state it must be in.
    public let from: StepState
    /// The state it moves to.
    public let to: StepState
    /// The exit code to record, for finished steps.
    public let exitCode: Int32?
    /// A message to record, such as why it failed.
    public let message: String?
    /// For a move to `retrying`: seconds until the next attempt.
    public let retryDelay: Double?

    /// Creates a change.
    public init(
        id: Int64, from: StepState, to: StepState, exitCode: Int32? = nil, message: String? = nil,
        retryDelay: Double? = nil
    ) {
        self.id = id
        self.from = from
        self.to = to
        self.exitCode = exitCode
        self.message = message
        self.retryDelay = retryDelay
    }

    enum CodingKeys: String, CodingKey {
        case id
        case from = "from_state"
        case to = "to_state"
        case exitCode = "exit_code"
        case message
        case retryDelay = "retry_delay"
    }
}

/// A step state change was refused because the step was not in the expected state.
public struct StateConflict: Error, Sendable, CustomStringConvertible {
    /// What happened.
    public let description: String
}

/// Every write the engine makes to record a run. Each method is one transaction.
public struct RunRecorder: Sendable {
    let connection: PGConnection

    /// A recorder on the store's connection.
    public init(store: Store) { connection = store.connection }

    /// Records the DAG (and this version of its file), the run in state `running`, and its steps as `pending`.
    public func createRun(
        dag: String, source: String, sourcePath: String, steps: [NewStep], parallelism: Int, host: String,
        pid: Int32, logRoot: String, params: [String: String] = [:], logicalDate: String? = nil
    ) throws -> CreatedRun {
        let hash = ContentHash.fnv1a64(source)
        return try connection.transaction { session in
            let dagID = try session.query(
                """
                INSERT INTO dag (name) VALUES (\(dag))
                ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id
                """
            ).rows[0].int("id")!
            let versionID = try session.query(
                """
                INSERT INTO dag_version (dag_id, spec_hash, source, source_path)
                VALUES (\(dagID), \(hash), \(source), \(sourcePath))
                ON CONFLICT (dag_id, spec_hash) DO UPDATE SET source_path = EXCLUDED.source_path RETURNING id
                """
            ).rows[0].int("id")!
            let runID = try session.query(
                """
                INSERT INTO run (dag_id, dag_version_id, state, parallelism, owner_host, owner_pid, log_root, started_at,
                                 params, logical_date)
                VALUES (\(dagID), \(versionID), 'running', \(parallelism), \(host), \(pid), \(logRoot), clock_timestamp(),
                        \(json: params)::jsonb, \(logicalDate)::date)
                RETURNING id
                """
            ).rows[0].int("id")!
            try session.query(
                """
                INSERT INTO event (run_id, kind, from_state, to_state) VALUES (\(runID), 'run', 'queued', 'running')
                """)
            let ids = try session.query(
                """
                WITH s AS (
                    INSERT INTO step_instance (run_id, step_key, step_id, item, position, state, command, needs)
                    SELECT \(runID), x.key, x.step_id, x.item, x.position, 'pending', x.command, x.needs
                    FROM jsonb_to_recordset(\(json: steps)::jsonb)
                         AS x(key text, step_id text, item text, position integer, command jsonb, needs jsonb)
                    ORDER BY x.position
                    RETURNING id, position
                )
                SELECT id FROM s ORDER BY position
                """
            ).rows.map { $0.int("id")! }
            return CreatedRun(runID: runID, stepIDs: ids)
        }
    }

    /// Applies step state changes, logging each as an event; fails if any step was not in its `from` state.
    public func changeSteps(runID: Int64, _ changes: [StepChange]) throws {
        guard !changes.isEmpty else { return }
        try apply(runID: runID, changes: changes, attempt: nil)
    }

    /// Moves a step to `running` and records attempt `number` as `starting`, in one statement; returns the attempt id.
    public func beginAttempt(
        runID: Int64, stepID: Int64, from: StepState, number: Int, host: String, stdoutPath: String,
        stderrPath: String, command: [String] = [], request: AttemptRequest = AttemptRequest()
    ) throws -> Int64 {
        let gpuIDs = request.gpuIDs.map(String.init).joined(separator: ",")
        let conflict = "step \(stepID) of run \(runID) was not \(from.rawValue) when attempt \(number) began"
        return try Self.mapConflicts {
            try connection.query(
                """
                WITH s AS (
                    UPDATE step_instance SET state = 'running', attempts = \(number),
                        started_at = coalesce(started_at, clock_timestamp()), ended_at = NULL, next_attempt_at = NULL
                    WHERE id = \(stepID) AND run_id = \(runID) AND state = \(from.rawValue)
                    RETURNING id
                ), a AS (
                    INSERT INTO attempt (step_instance_id, number, state, host, stdout_path, stderr_path, command,
                                         requested_cpus, requested_memory_bytes, requested_gpus, requested_max_processes,
                                         gpu_ids, enforcement)
                    SELECT id, \(number), 'starting', \(host), \(stdoutPath), \(stderrPath), nullif(\(json: command)::jsonb, '[]'),
                           \(request.cpus), \(request.memoryBytes), \(request.gpus), \(request.maxProcesses),
                           nullif(\(gpuIDs), ''), \(request.enforcement)
                    FROM s
                    RETURNING id, step_instance_id
                ), e AS (
                    INSERT INTO event (run_id, step_instance_id, attempt_id, kind, from_state, to_state)
                    SELECT \(runID), x.step_id, x.attempt_id, x.kind, x.from_state, x.to_state FROM (
                        SELECT 1 AS ord, id AS step_id, NULL::bigint AS attempt_id, 'step' AS kind,
                               \(from.rawValue)::text AS from_state, 'running' AS to_state FROM s
                        UNION ALL
                        SELECT 2, step_instance_id, id, 'attempt', NULL, 'starting' FROM a
                    ) x ORDER BY x.ord
                )
                SELECT coalesce((SELECT id FROM a), sluice_conflict(\(conflict))) AS id
                """
            ).rows[0].int("id")!
        }
    }

    /// The id of attempt `number` of a step, for a `beginAttempt` whose reply was lost after it committed.
    public func attemptID(stepID: Int64, number: Int) throws -> Int64 {
        guard
            let id = try connection.query(
                "SELECT id FROM attempt WHERE step_instance_id = \(stepID) AND number = \(number)"
            ).rows.first?.int("id")
        else {
            throw StateConflict(description: "attempt \(number) of step \(stepID) was not recorded")
        }
        return id
    }

    /// Records that an attempt's process is running, with its pid.
    ///
    /// This one write commits without waiting for its WAL flush (`synchronous_commit = off` for this
    /// transaction only): it is visible to every reader at once and durable within the WAL writer's
    /// delay. A crash in between leaves the attempt `starting`, the same state as a crash between the
    /// spawn and this write, which recovery has to handle anyway. The records that anchor
    /// correctness — `starting` before the spawn, and the ending — wait for the flush.
    public func attemptRunning(runID: Int64, stepID: Int64, attemptID: Int64, pid: Int32) throws {
        let conflict = "attempt \(attemptID) was not starting"
        try Self.mapConflicts {
            try connection.query(
                """
                WITH relaxed AS (
                    SELECT set_config('synchronous_commit', 'off', true) AS setting
                ), a AS (
                    UPDATE attempt SET state = 'running', pid = \(pid), started_at = clock_timestamp()
                    WHERE id = \(attemptID) AND state = 'starting' RETURNING id
                ), e AS (
                    INSERT INTO event (run_id, step_instance_id, attempt_id, kind, from_state, to_state, detail)
                    SELECT \(runID), \(stepID), id, 'attempt', 'starting', 'running', \("pid \(pid)") FROM a
                )
                SELECT coalesce((SELECT id FROM a), sluice_conflict(\(conflict))) AS id FROM relaxed
                """)
        }
    }

    /// Records how an attempt ended together with the step changes that follow from it, in one statement.
    public func endAttempt(
        runID: Int64, stepID: Int64, attemptID: Int64, ending: AttemptEnding, stepChanges: [StepChange]
    ) throws {
        try apply(runID: runID, changes: stepChanges, attempt: (attemptID, ending))
    }

    /// Adds an `on_failure`/`on_success` handler to a run as a `ready` step instance of role `handler`, so it
    /// gets attempts, logs and usage like a step; returns its id. `key` is `on_failure[0]` and so on.
    public func addHandler(runID: Int64, key: String, command: [String]) throws -> Int64 {
        try connection.query(
            """
            WITH s AS (
                INSERT INTO step_instance (run_id, step_key, step_id, position, state, command, role)
                SELECT \(runID), \(key), \(key), coalesce(max(position), -1) + 1, 'ready', \(json: command)::jsonb, 'handler'
                FROM step_instance WHERE run_id = \(runID)
                RETURNING id
            ), e AS (
                INSERT INTO event (run_id, step_instance_id, kind, from_state, to_state)
                SELECT \(runID), id, 'step', 'pending', 'ready' FROM s
            )
            SELECT id FROM s
            """
        ).rows[0].int("id")!
    }

    /// Moves the run to a terminal state.
    public func finishRun(runID: Int64, state: RunState) throws {
        try connection.query(
            """
            WITH r AS (
                UPDATE run SET state = \(state.rawValue), ended_at = clock_timestamp()
                WHERE id = \(runID) AND state = 'running' RETURNING id
            )
            INSERT INTO event (run_id, kind, from_state, to_state) SELECT id, 'run', 'running', \(state.rawValue) FROM r
            """)
    }

    /// Step changes, and optionally an attempt's ending, as one statement: all of it happens or none does.
    private func apply(runID: Int64, changes: [StepChange], attempt: (id: Int64, ending: AttemptEnding)?) throws {
        let ending = attempt?.ending
        let attemptConflict = "attempt \(attempt?.id ?? 0) had already ended"
        let stepConflict = "a step change in run \(runID) found the step in an unexpected state"
        try Self.mapConflicts {
            try connection.query(
                """
                WITH a AS (
                    UPDATE attempt SET state = \(ending?.state.rawValue), exit_code = \(ending?.exitCode),
                        signal = \(ending?.signal), message = \(ending?.message), ended_at = clock_timestamp(),
                        started_at = coalesce(started_at, clock_timestamp()),
                        wall_seconds = \(ending?.wallSeconds), user_cpu_seconds = \(ending?.userCPU),
                        system_cpu_seconds = \(ending?.systemCPU), max_rss_bytes = \(ending?.maxRSSBytes),
                        usage_source = \(ending?.usageSource),
                        outputs = nullif(\(json: ending?.outputs ?? [:])::jsonb, '{}'),
                        warnings = nullif(\(json: ending?.warnings ?? [])::jsonb, '[]')
                    WHERE id = \(attempt?.id) AND state IN ('starting', 'running')
                    RETURNING id, state, step_instance_id
                ), c AS (
                    SELECT * FROM ROWS FROM (jsonb_to_recordset(\(json: changes)::jsonb)
                        AS (id bigint, from_state text, to_state text, exit_code integer, message text,
                            retry_delay double precision))
                        WITH ORDINALITY AS c(id, from_state, to_state, exit_code, message, retry_delay, n)
                ), u AS (
                    UPDATE step_instance s SET
                        state = c.to_state,
                        exit_code = coalesce(c.exit_code, s.exit_code),
                        message = CASE WHEN c.to_state IN ('succeeded', 'running') THEN c.message
                                       ELSE coalesce(c.message, s.message) END,
                        started_at = CASE WHEN c.to_state = 'running' THEN coalesce(s.started_at, clock_timestamp())
                                          ELSE s.started_at END,
                        ended_at = CASE WHEN c.to_state IN ('pending', 'ready', 'running', 'retrying') THEN NULL
                                        ELSE clock_timestamp() END,
                        next_attempt_at = CASE WHEN c.retry_delay IS NULL THEN NULL
                                               ELSE clock_timestamp() + make_interval(secs => c.retry_delay) END
                    FROM c
                    WHERE s.id = c.id AND s.run_id = \(runID) AND s.state = c.from_state
                    RETURNING s.id, c.from_state, c.to_state, c.message, c.n
                ), e AS (
                    -- The attempt's ending first, then the step changes in the order they were decided.
                    INSERT INTO event (run_id, step_instance_id, attempt_id, kind, from_state, to_state, detail)
                    SELECT \(runID), x.step_id, x.attempt_id, x.kind, x.from_state, x.to_state, x.detail FROM (
                        SELECT 0::bigint AS n, step_instance_id AS step_id, id AS attempt_id, 'attempt' AS kind,
                               NULL::text AS from_state, state AS to_state, \(ending?.message)::text AS detail FROM a
                        UNION ALL
                        SELECT n, id, NULL, 'step', from_state, to_state, message FROM u
                    ) x ORDER BY x.n
                )
                SELECT CASE
                    WHEN \(attempt?.id)::bigint IS NOT NULL AND (SELECT count(*) FROM a) <> 1
                        THEN sluice_conflict(\(attemptConflict))
                    WHEN (SELECT count(*) FROM u) <> \(changes.count) THEN sluice_conflict(\(stepConflict))
                    ELSE 0 END AS ok
                """)
        }
    }

    /// Turns the `sluice_conflict` error (SQLSTATE SL409) into a `StateConflict`.
    @discardableResult
    private static func mapConflicts<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError where error.sqlState == "SL409" {
            throw StateConflict(description: error.message)
        }
    }
}
