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
    /// Its effective tags (DAG < defaults < step, with `dag`, `step`, `kind`, `owner`, `executor`), which each
    /// of its attempts snapshots when it starts.
    public let tags: [String: String]

    /// Creates a step record.
    public init(
        key: String, stepID: String? = nil, item: String? = nil, position: Int, command: [String], needs: [String],
        tags: [String: String] = [:]
    ) {
        self.key = key
        self.stepID = stepID ?? key
        self.item = item
        self.position = position
        self.command = command
        self.needs = needs
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey {
        case key, item, position, command, needs, tags
        case stepID = "step_id"
    }
}

/// What one host can give at once, for admission in the database.
public struct HostLimits: Sendable, Equatable {
    /// CPU cores.
    public let cpus: Double
    /// Memory in bytes.
    public let memoryBytes: Int64
    /// GPUs.
    public let gpus: Int

    /// Creates limits.
    public init(cpus: Double, memoryBytes: Int64, gpus: Int) {
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.gpus = gpus
    }
}

/// The content hash of a DAG version: the DAG file and every template it includes.
public enum DagVersionHash {
    /// FNV-1a of the source, then each template's path and source in path order.
    public static func of(source: String, templates: [String: String]) -> String {
        guard !templates.isEmpty else { return ContentHash.fnv1a64(source) }
        var text = source
        for (path, body) in templates.sorted(by: { $0.key < $1.key }) { text += "\u{0}\(path)\u{0}\(body)" }
        return ContentHash.fnv1a64(text)
    }
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

/// An engine may not start an attempt of a run: it does not own the run any more, or its lease is too old to
/// be sure that no other engine took the run over (`Schedulers.launchWindowSeconds`).
public struct LeaseLost: Error, Sendable, CustomStringConvertible {
    /// True when another engine owns the run now; false when only the lease needs a heartbeat first.
    public let takenOver: Bool
    /// What happened.
    public var description: String {
        takenOver
            ? "another engine took this run over" : "this engine's lease must be renewed before it starts anything"
    }
}

/// Every write the engine makes to record a run. Each method is one transaction.
public struct RunRecorder: Sendable {
    let connection: PGConnection

    /// A recorder on the store's connection.
    public init(store: Store) { connection = store.connection }

    /// Records a DAG version (the DAG file and every template it includes, by content) and the DAG's settings;
    /// returns the version's id. The same content is the same version.
    public func recordVersion(
        dag: String, source: String, templates: [String: String], sourcePath: String, maxActiveRuns: Int
    ) throws -> Int64 {
        let hash = DagVersionHash.of(source: source, templates: templates)
        return try connection.query(
            """
            WITH d AS (
                INSERT INTO dag (name, max_active_runs) VALUES (\(dag), \(maxActiveRuns))
                ON CONFLICT (name) DO UPDATE SET max_active_runs = EXCLUDED.max_active_runs RETURNING id
            )
            INSERT INTO dag_version (dag_id, spec_hash, source, source_path, templates)
            SELECT id, \(hash), \(source), \(sourcePath), \(json: templates)::jsonb FROM d
            ON CONFLICT (dag_id, spec_hash) DO UPDATE SET source_path = EXCLUDED.source_path RETURNING id
            """
        ).rows[0].int("id")!
    }

    /// Gives a claimed run its step instances (all `pending`) and where it runs; returns their ids in order.
    public func createSteps(
        runID: Int64, steps: [NewStep], parallelism: Int, host: String, pid: Int32, logRoot: String
    ) throws -> [Int64] {
        try connection.transaction { session in
            try session.query(
                """
                UPDATE run SET parallelism = \(parallelism), owner_host = \(host), owner_pid = \(pid), log_root = \(logRoot)
                WHERE id = \(runID)
                """)
            return try session.query(
                """
                WITH x AS (
                    SELECT * FROM jsonb_to_recordset(\(json: steps)::jsonb)
                        AS x(key text, step_id text, item text, position integer, command jsonb, needs jsonb, tags jsonb)
                ), t AS (
                    SELECT tags, sluice_tag_set(tags) AS id FROM (SELECT DISTINCT tags FROM x) d
                ), s AS (
                    INSERT INTO step_instance (run_id, step_key, step_id, item, position, state, command, needs,
                                               tag_set_id)
                    SELECT \(runID), x.key, x.step_id, x.item, x.position, 'pending', x.command, x.needs, t.id
                    FROM x JOIN t ON t.tags = x.tags
                    ORDER BY x.position
                    RETURNING id, position
                )
                SELECT id FROM s ORDER BY position
                """
            ).rows.map { $0.int("id")! }
        }
    }

    /// Where a resumed run now runs (the engine that took it over).
    public func moveRun(runID: Int64, host: String, pid: Int32, logRoot: String, parallelism: Int) throws {
        try connection.query(
            """
            UPDATE run SET owner_host = \(host), owner_pid = \(pid), log_root = coalesce(log_root, \(logRoot)),
                   parallelism = coalesce(parallelism, \(parallelism))
            WHERE id = \(runID)
            """)
    }

    /// Applies step state changes, logging each as an event; fails if any step was not in its `from` state.
    public func changeSteps(runID: Int64, _ changes: [StepChange]) throws {
        guard !changes.isEmpty else { return }
        try Self.mapConflicts { try connection.query(Self.changes(runID: runID, changes, attempt: nil)) }
    }

    /// Admits attempt `number` of a step against the host's capacity (counting every live attempt on the
    /// host, whatever process started it) and, when it fits, moves the step to `running` and records the
    /// attempt `starting`, in one statement. `nil` means it does not fit now: nothing was written. With an
    /// `owner`, only while that engine owns the run and its lease is fresh (else `LeaseLost`).
    ///
    /// With `flushLater` it commits without waiting for its WAL flush, and without the writes queued on the
    /// connection: the caller holds the step at its exec until a later commit that waits (another begin, or
    /// `flushCommitted`) has flushed it too, and after a reconnection in between checks that it is still there.
    public func beginAttempt(
        runID: Int64, stepID: Int64, from: StepState, number: Int, host: String, stdoutPath: String,
        stderrPath: String, command: [String] = [], request: AttemptRequest = AttemptRequest(),
        capacity: HostLimits? = nil, owner: Int64? = nil, fingerprint: String? = nil, code: String? = nil,
        flushLater: Bool = false, meanwhile: (() -> Void)? = nil
    ) throws -> (id: Int64, gpus: [Int])? {
        let conflict = "step \(stepID) of run \(runID) was not \(from.rawValue) when attempt \(number) began"
        let limits = capacity ?? HostLimits(cpus: 1e12, memoryBytes: Int64.max / 2, gpus: request.gpus ?? 0)
        return try Self.mapConflicts {
            let row = try connection.query(
                ("""
                WITH committing AS (
                    SELECT set_config('synchronous_commit', coalesce(\(flushLater ? "off" : nil)::text,
                                      current_setting('synchronous_commit')), true) AS setting
                ), lease AS (
                    -- The run's row stays locked until this commits: a takeover waits for it, then sees the attempt.
                    SELECT (\(owner)::bigint IS NULL OR r.owner_id = \(owner)) AS owned,
                           (\(owner)::bigint IS NULL OR EXISTS (
                               SELECT 1 FROM scheduler WHERE id = \(owner) AND stopped_at IS NULL
                                 AND heartbeat_at > clock_timestamp() - make_interval(secs => \(Schedulers.launchWindowSeconds))
                           )) AS fresh
                    FROM run r WHERE r.id = \(runID) FOR SHARE OF r
                ), leased AS (
                    SELECT coalesce((SELECT owned AND fresh FROM lease), false) AS ok
                ), admitted AS (
                    SELECT sluice_admit(\(host), \(request.cpus), \(request.memoryBytes), \(request.gpus ?? 0),
                                        \(limits.cpus), \(limits.memoryBytes), \(limits.gpus)) AS gpus
                    WHERE (SELECT ok FROM leased)
                ), s AS (
                    UPDATE step_instance SET state = 'running', attempts = \(number),
                        started_at = coalesce(started_at, clock_timestamp()), ended_at = NULL, next_attempt_at = NULL
                    WHERE id = \(stepID) AND run_id = \(runID) AND state = \(from.rawValue)
                      AND (SELECT gpus FROM admitted) IS NOT NULL
                    RETURNING id, tag_set_id
                ), a AS (
                    INSERT INTO attempt (step_instance_id, number, state, host, stdout_path, stderr_path, command,
                                         requested_cpus, requested_memory_bytes, requested_gpus, requested_max_processes,
                                         gpu_ids, enforcement, fingerprint, code, tag_set_id)
                    SELECT id, \(number), 'starting', \(host), \(stdoutPath), \(stderrPath), nullif(\(json: command)::jsonb, '[]'),
                           \(request.cpus), \(request.memoryBytes), \(request.gpus), \(request.maxProcesses),
                           nullif(array_to_string((SELECT gpus FROM admitted), ','), ''), \(request.enforcement),
                           \(fingerprint), \(code)::jsonb, tag_set_id
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
                SELECT CASE WHEN (SELECT gpus FROM admitted) IS NULL THEN NULL
                            ELSE coalesce((SELECT id FROM a), sluice_conflict(\(conflict))) END AS id,
                       array_to_string((SELECT gpus FROM admitted), ',') AS gpus,
                       (SELECT ok FROM leased) AS leased, coalesce((SELECT owned FROM lease), false) AS owned
                FROM committing
                """ as SQL).plannedOnce(), meanwhile: meanwhile, carryingQueued: !flushLater
            ).rows[0]
            guard row.bool("leased") == true else { throw LeaseLost(takenOver: row.bool("owned") != true) }
            guard let id = row.int("id") else { return nil }
            return (id, (row["gpus"] ?? "").split(separator: ",").compactMap { Int($0) })
        }
    }

    /// Commits a transaction that waits for its WAL flush, with the writes queued on the connection: every
    /// commit made before it on this server (those of `beginAttempt(flushLater:)`) is then on disk too.
    public func flushCommitted() throws {
        try connection.query(("SELECT pg_current_xact_id() AS xid" as SQL).plannedOnce())
    }

    /// Whether writes wait on the connection to go with its next statement (`endAttempt(withNext:)`).
    public var hasQueued: Bool { connection.hasQueued }

    /// How many times the connection was re-established: a commit that did not wait for its flush may have
    /// been lost with the server between one and the next.
    public var reconnections: Int { connection.resets }

    /// The id and GPUs of attempt `number` of a step, for a `beginAttempt` whose reply was lost after it committed.
    public func attempt(stepID: Int64, number: Int) throws -> (id: Int64, gpus: [Int]) {
        guard
            let row = try connection.query(
                "SELECT id, gpu_ids FROM attempt WHERE step_instance_id = \(stepID) AND number = \(number)"
            ).rows.first, let id = row.int("id")
        else {
            throw StateConflict(description: "attempt \(number) of step \(stepID) was not recorded")
        }
        return (id, (row["gpu_ids"] ?? "").split(separator: ",").compactMap { Int($0) })
    }

    /// How many handlers of `kind` (`on_failure`, `on_success`) a run has recorded; the ones still marked
    /// running (their engine stopped while they ran) are marked failed.
    public func handlerCount(runID: Int64, kind: String) throws -> Int {
        Int(
            try connection.query(
                """
                WITH stale AS (
                    UPDATE step_instance SET state = 'failed', ended_at = clock_timestamp(),
                           message = 'its engine stopped while it ran; it was not run again'
                    WHERE run_id = \(runID) AND role = 'handler' AND state IN ('ready', 'running')
                    RETURNING id
                ), lost AS (
                    UPDATE attempt SET state = 'lost', ended_at = clock_timestamp()
                    WHERE step_instance_id IN (SELECT id FROM stale) AND state IN ('starting', 'running')
                )
                SELECT count(*) AS n FROM step_instance
                WHERE run_id = \(runID) AND role = 'handler' AND step_key LIKE \(kind + "[%")
                """
            ).rows.first?.int("n") ?? 0)
    }

    /// Records that an attempt's process is running, with its pid and the executor's handle on it.
    ///
    /// This one write commits without waiting for its WAL flush (`synchronous_commit = off` for this
    /// transaction only): it is visible to every reader at once and durable within the WAL writer's
    /// delay. A crash in between leaves the attempt `starting` with no handle; its watcher's status file
    /// (named after the attempt's logs) still lets recovery find how it ended. The records that anchor
    /// correctness — `starting` before the spawn, and the ending — wait for the flush.
    public func attemptRunning(
        runID: Int64, stepID: Int64, attemptID: Int64, pid: Int32, externalID: String? = nil,
        executorState: String? = nil
    ) throws {
        let conflict = "attempt \(attemptID) was not starting"
        try Self.mapConflicts {
            try connection.query(
                ("""
                WITH relaxed AS (
                    SELECT set_config('synchronous_commit', 'off', true) AS setting
                ), a AS (
                    UPDATE attempt SET state = 'running', pid = \(pid), started_at = clock_timestamp(),
                           external_id = \(externalID), executor_state = \(executorState)::jsonb
                    WHERE id = \(attemptID) AND state = 'starting' RETURNING id
                ), e AS (
                    INSERT INTO event (run_id, step_instance_id, attempt_id, kind, from_state, to_state, detail)
                    SELECT \(runID), \(stepID), id, 'attempt', 'starting', 'running', \("pid \(pid)") FROM a
                )
                SELECT coalesce((SELECT id FROM a), sluice_conflict(\(conflict))) AS id FROM relaxed
                """ as SQL).plannedOnce())
        }
    }

    /// Records how an attempt ended together with the step changes that follow from it, in one statement.
    ///
    /// With `withNext` the statement is queued to go with the next statement on this connection, in its round
    /// trip and its transaction (`PGConnection.sendWithNext`): for an ending after which the engine starts
    /// another attempt at once, whose `beginAttempt` then records both with one commit and one WAL flush.
    /// Until it is sent, the watcher's status file keeps the ending (as it does until any ending is recorded).
    ///
    /// `started` is the attempt's start when it was not recorded yet (a short step whose end came before the
    /// engine recorded it running): the same statement records it, with its event, as `attemptRunning` would.
    ///
    /// With `costLater` the attempt is not costed by this statement's trigger: the caller costs it with
    /// `costAttempts` once it has started what comes next, and `finishRun` costs whatever it did not.
    public func endAttempt(
        runID: Int64, stepID: Int64, attemptID: Int64, ending: AttemptEnding, stepChanges: [StepChange],
        withNext: Bool = false, started: AttemptStart? = nil, costLater: Bool = false
    ) throws {
        let statement = Self.changes(
            runID: runID, stepChanges, attempt: (attemptID, ending, started, costLater))
        if withNext {
            connection.sendWithNext(statement)
        } else {
            try Self.mapConflicts { try connection.query(statement) }
        }
    }

    /// Of `ids`, the runs recorded here that have ended (neither queued nor running).
    public func endedRuns(_ ids: [Int64]) throws -> Set<Int64> {
        Set(
            try connection.query(
                "SELECT id FROM run WHERE id = ANY (\(PGArray(ids))::bigint[]) AND state NOT IN ('queued', 'running')"
            ).rows.compactMap { $0.int("id") })
    }

    /// Sends the endings queued to go with a statement that did not come.
    public func sendQueued() throws {
        try Self.mapConflicts { try connection.sendQueued() }
    }

    /// Costs attempts whose end was recorded with `costLater`. It commits without waiting for its WAL flush
    /// (the next start's flush, or the run's end, makes it durable); lines already written are kept.
    public func costAttempts(_ ids: [Int64]) throws {
        try connection.query(
            ("""
            SELECT set_config('synchronous_commit', 'off', true) AS relaxed,
                   sluice_cost_attempts(\(PGArray(ids))::bigint[]) AS written
            """ as SQL).plannedOnce())
    }

    /// Adds an `on_failure`/`on_success` handler to a run as a `ready` step instance of role `handler`, so it
    /// gets attempts, logs and usage like a step; returns its id. `key` is `on_failure[0]` and so on.
    public func addHandler(runID: Int64, key: String, command: [String], tags: [String: String] = [:]) throws
        -> Int64
    {
        try connection.query(
            """
            WITH existing AS (
                SELECT id FROM step_instance WHERE run_id = \(runID) AND step_key = \(key) AND state = 'ready'
            ), s AS (
                INSERT INTO step_instance (run_id, step_key, step_id, position, state, command, role, tag_set_id)
                SELECT \(runID), \(key), \(key), coalesce(max(position), -1) + 1, 'ready', \(json: command)::jsonb, 'handler',
                       sluice_tag_set(\(json: tags)::jsonb)
                FROM step_instance WHERE run_id = \(runID) AND NOT EXISTS (SELECT 1 FROM existing)
                RETURNING id
            ), e AS (
                INSERT INTO event (run_id, step_instance_id, kind, from_state, to_state)
                SELECT \(runID), id, 'step', 'pending', 'ready' FROM s
            )
            SELECT id FROM s UNION ALL SELECT id FROM existing
            """
        ).rows[0].int("id")!
    }

    /// Ends a run that cannot go on (its engine is gone and nothing of it runs): steps not ended are cancelled,
    /// attempts still marked live are `lost`, and the run is `failed` with `message`.
    public func abandonRun(runID: Int64, message: String) throws {
        try connection.query("SELECT sluice_cost_run(\(runID)) AS written")
        try connection.query(
            """
            WITH a AS (
                UPDATE attempt SET state = 'lost', ended_at = clock_timestamp(), message = \(message)
                WHERE state IN ('starting', 'running')
                  AND step_instance_id IN (SELECT id FROM step_instance WHERE run_id = \(runID))
                RETURNING id, step_instance_id
            ), s AS (
                UPDATE step_instance SET state = 'cancelled', ended_at = clock_timestamp(),
                       message = coalesce(message, \(message))
                WHERE run_id = \(runID) AND state IN ('pending', 'ready', 'running', 'retrying')
                RETURNING id, state
            ), e AS (
                INSERT INTO event (run_id, step_instance_id, kind, to_state, detail)
                SELECT \(runID), id, 'step', 'cancelled', \(message) FROM s
            ), r AS (
                UPDATE run SET state = 'failed', ended_at = clock_timestamp(), message = \(message)
                WHERE id = \(runID) AND state = 'running' RETURNING id
            ), re AS (
                INSERT INTO event (run_id, kind, from_state, to_state, detail)
                SELECT id, 'run', 'running', 'failed', \(message) FROM r
            )
            SELECT pg_notify(\(RunQueue.channel), 'ended ' || id) FROM r
            """)
    }

    /// Moves the run to a terminal state and wakes whoever waits for a run of its DAG to end; first costs what
    /// of it was not costed yet (attempts ended with `costLater` whose costing did not come).
    public func finishRun(runID: Int64, state: RunState, message: String? = nil) throws {
        try connection.query("SELECT sluice_cost_run(\(runID)) AS written")
        try connection.query(
            """
            WITH r AS (
                UPDATE run SET state = \(state.rawValue), ended_at = clock_timestamp(), message = \(message)
                WHERE id = \(runID) AND state = 'running' RETURNING id
            ), e AS (
                INSERT INTO event (run_id, kind, from_state, to_state, detail)
                SELECT id, 'run', 'running', \(state.rawValue), \(message) FROM r
            )
            SELECT pg_notify(\(RunQueue.channel), 'ended ' || id) FROM r
            """)
    }

    /// Step changes, and optionally an attempt's ending, as one statement: all of it happens or none does.
    private static func changes(
        runID: Int64, _ changes: [StepChange],
        attempt: (id: Int64, ending: AttemptEnding, started: AttemptStart?, costLater: Bool)?
    ) -> SQL {
        let ending = attempt?.ending
        let started = attempt?.started
        let attemptConflict = "attempt \(attempt?.id ?? 0) had already ended"
        let stepConflict = "a step change in run \(runID) found the step in an unexpected state"
        return
            ("""
        WITH prior AS (
            SELECT state FROM attempt WHERE id = \(attempt?.id)
        ), a AS (
            UPDATE attempt SET state = \(ending?.state.rawValue), exit_code = \(ending?.exitCode),
                signal = \(ending?.signal), message = \(ending?.message),
                -- When it ended, on this clock: an ending found late is dated by how long ago its watcher saw it
                -- (never before the start on record).
                ended_at = greatest(
                    started_at,
                    clock_timestamp() - make_interval(secs => coalesce(\(ending?.endedSecondsAgo)::double precision, 0))),
                -- Recorded running with its end: it started when the engine learned it had, on this clock
                -- (as a start recorded at once would say); else as long before its end as it ran.
                started_at = coalesce(
                    started_at,
                    clock_timestamp() - make_interval(
                        secs => coalesce(
                            \(started?.secondsAgo)::double precision,
                            \(ending?.wallSeconds)::double precision
                                + coalesce(\(ending?.endedSecondsAgo)::double precision, 0),
                            0))),
                pid = coalesce(pid, \(started?.pid)), external_id = coalesce(external_id, \(started?.externalID)),
                executor_state = coalesce(executor_state, \(started?.executorState)::jsonb),
                wall_seconds = \(ending?.wallSeconds), user_cpu_seconds = \(ending?.userCPU),
                system_cpu_seconds = \(ending?.systemCPU), max_rss_bytes = \(ending?.maxRSSBytes),
                usage_source = \(ending?.usageSource),
                outputs = nullif(\(json: ending?.outputs ?? [:])::jsonb, '{}'),
                warnings = nullif(\(json: ending?.warnings ?? [])::jsonb, '[]'),
                costed_by_engine = \(attempt?.costLater ?? false)
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
                                ELSE greatest(
                                    s.started_at,
                                    clock_timestamp() - make_interval(
                                        secs => coalesce(\(ending?.endedSecondsAgo)::double precision, 0))) END,
                next_attempt_at = CASE WHEN c.retry_delay IS NULL THEN NULL
                                       ELSE clock_timestamp() + make_interval(secs => c.retry_delay) END
            FROM c
            -- The id list lets the primary key find the rows: joined to the function alone, the
            -- planner guesses 100 rows and scans every step instance ever recorded.
            WHERE s.id = ANY (ARRAY(SELECT id FROM c)) AND s.id = c.id AND s.run_id = \(runID)
              AND s.state = c.from_state
            RETURNING s.id, c.from_state, c.to_state, c.message, c.n
        ), e AS (
            -- The attempt's ending first, then the step changes in the order they were decided.
            INSERT INTO event (run_id, step_instance_id, attempt_id, kind, from_state, to_state, detail)
            SELECT \(runID), x.step_id, x.attempt_id, x.kind, x.from_state, x.to_state, x.detail FROM (
                -- A start recorded with the end comes first, as its own event.
                SELECT -1::bigint AS n, step_instance_id AS step_id, id AS attempt_id, 'attempt' AS kind,
                       'starting' AS from_state, 'running' AS to_state, \("pid \(started?.pid ?? 0)")::text AS detail
                FROM a WHERE \(started?.pid)::integer IS NOT NULL AND (SELECT state FROM prior) = 'starting'
                UNION ALL
                SELECT 0::bigint AS n, step_instance_id AS step_id, id AS attempt_id, 'attempt' AS kind,
                       NULL::text AS from_state, state AS to_state, \(ending?.message)::text AS detail FROM a
                UNION ALL
                SELECT n, id, NULL, 'step', from_state, to_state, message FROM u
            ) x ORDER BY x.n
        )
        SELECT CASE
            WHEN \(attempt?.id)::bigint IS NOT NULL AND (SELECT count(*) FROM a) <> 1
                THEN sluice_conflict(\(attemptConflict))
            WHEN EXISTS (SELECT 1 FROM a) AND pg_notify(\(RunQueue.capacityChannel), '') IS NULL THEN 0
            WHEN (SELECT count(*) FROM u) <> \(changes.count) THEN sluice_conflict(\(stepConflict))
            ELSE 0 END AS ok
        """ as SQL).plannedOnce()
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
