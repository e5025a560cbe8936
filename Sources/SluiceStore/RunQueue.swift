import Foundation
import SluiceBasics
import SluiceModel

/// A run to queue: which DAG version, with what, and who or what asked for it.
public struct RunRequest: Sendable {
    /// The DAG version to run.
    public var versionID: Int64
    /// Parameter values given (by name, as text).
    public var params: [String: String]
    /// The logical date, `YYYY-MM-DD`.
    public var logicalDate: String?
    /// `manual`, `schedule`, `backfill` or `retry`.
    public var trigger: String
    /// The user who asked, or `scheduler`.
    public var triggeredBy: String
    /// For scheduled and backfilled runs: the fire time, and the data interval it covers.
    public var scheduledFor: Date?
    /// The end of the data interval (the next fire time).
    public var intervalEnd: Date?

    /// Creates a request.
    public init(
        versionID: Int64, params: [String: String], logicalDate: String?, trigger: String, triggeredBy: String,
        scheduledFor: Date? = nil, intervalEnd: Date? = nil
    ) {
        self.versionID = versionID
        self.params = params
        self.logicalDate = logicalDate
        self.trigger = trigger
        self.triggeredBy = triggeredBy
        self.scheduledFor = scheduledFor
        self.intervalEnd = intervalEnd
    }
}

/// A run this engine now owns, with what it needs to plan or resume it.
public struct ClaimedRun: Sendable {
    /// The run id.
    public let id: Int64
    /// The DAG's name.
    public let dag: String
    /// The pinned version.
    public let versionID: Int64
    /// Parameter values given.
    public let params: [String: String]
    /// The logical date.
    public let logicalDate: String?
    /// True when step instances exist already (a run being resumed, adopted or retried).
    public let hasSteps: Bool
    /// True when a cancel was asked for.
    public let cancelRequested: Bool
    /// Where its logs go, once set.
    public let logRoot: String?
}

/// The queue of runs: enqueue, claim under a lease, cancel and retry requests. Wakes engines with NOTIFY.
public struct RunQueue: Sendable {
    let connection: PGConnection

    /// The queue on the store's connection.
    public init(store: Store) { connection = store.connection }

    init(connection: PGConnection) { self.connection = connection }

    /// The channel engines listen on for new runs, cancels and retries.
    public static let channel = "sluice_runs"
    /// The channel on which an attempt's end says that capacity was freed on a host.
    public static let capacityChannel = "sluice_capacity"

    /// Queues a run (state `queued`) and wakes the engines; returns its id, or nil when its fire time is queued
    /// already (the unique fire-time constraint).
    ///
    /// `reservedBy` is the engine that queues the run to start it itself (a foreground `sluice run`): no other
    /// engine claims it, and `cancelAbandoned` cancels it once that engine is gone without starting it.
    public func enqueue(_ request: RunRequest, reservedBy: Int64? = nil) throws -> Int64? {
        try connection.query(
            """
            WITH v AS (SELECT id, dag_id FROM dag_version WHERE id = \(request.versionID)),
            r AS (
                INSERT INTO run (dag_id, dag_version_id, state, trigger, triggered_by, params, logical_date,
                                 scheduled_for, data_interval_start, data_interval_end, reserved_by)
                SELECT v.dag_id, v.id, 'queued', \(request.trigger), \(request.triggeredBy), \(json: request.params)::jsonb,
                       \(request.logicalDate)::date, to_timestamp(\(request.scheduledFor.map { $0.timeIntervalSince1970 })),
                       to_timestamp(\(request.scheduledFor.map { $0.timeIntervalSince1970 })),
                       to_timestamp(\(request.intervalEnd.map { $0.timeIntervalSince1970 })), \(reservedBy)
                FROM v
                ON CONFLICT (dag_id, scheduled_for) WHERE scheduled_for IS NOT NULL DO NOTHING
                RETURNING id
            ), e AS (
                INSERT INTO event (run_id, kind, to_state, detail)
                SELECT id, 'run', 'queued', \("\(request.trigger) by \(request.triggeredBy)") FROM r
            ), n AS (
                SELECT pg_notify(\(Self.channel), 'queued ' || id) FROM r
            )
            SELECT id FROM r, (SELECT count(*) FROM n) AS notified
            """
        ).rows.first?.int("id")
    }

    /// Claims a queued run for `owner` (exactly `runID` when given), within its DAG's `max_active_runs`.
    public func claim(owner: Int64, runID: Int64? = nil) throws -> ClaimedRun? {
        guard
            let id = try connection.query("SELECT sluice_claim_run(\(owner), \(runID)) AS id").rows.first?.int("id")
        else { return nil }
        return try claimed(id)
    }

    /// A run this engine owns, as the claim returns it.
    public func claimed(_ id: Int64) throws -> ClaimedRun? {
        guard
            let row = try connection.query(
                """
                SELECT r.id, d.name, r.dag_version_id, r.params::text AS params, r.logical_date::text AS logical_date,
                       r.cancel_requested_at IS NOT NULL AS cancel, r.log_root,
                       EXISTS (SELECT 1 FROM step_instance s WHERE s.run_id = r.id) AS has_steps
                FROM run r JOIN dag d ON d.id = r.dag_id WHERE r.id = \(id)
                """
            ).rows.first
        else { return nil }
        let params =
            (try? JSONDecoder().decode([String: String].self, from: Data((row["params"] ?? "{}").utf8))) ?? [:]
        return ClaimedRun(
            id: id, dag: row["name"] ?? "", versionID: row.int("dag_version_id")!, params: params,
            logicalDate: row["logical_date"], hasSteps: row.bool("has_steps") ?? false,
            cancelRequested: row.bool("cancel") ?? false, logRoot: row["log_root"])
    }

    /// Takes over a running run from an owner that is gone; false when someone else did first.
    public func takeOver(runID: Int64, from previous: Int64?, to owner: Int64) throws -> Bool {
        try connection.query(
            """
            WITH r AS (
                UPDATE run SET owner_id = \(owner)
                WHERE id = \(runID) AND state = 'running' AND owner_id IS NOT DISTINCT FROM \(previous)
                RETURNING id
            )
            INSERT INTO event (run_id, kind, from_state, to_state, detail)
            SELECT id, 'control', 'running', 'running', \("taken over by engine \(owner)") FROM r RETURNING run_id
            """
        ).rows.count == 1
    }

    /// Running runs owned by `owner`, or with no owner recorded (made before leases).
    public func running(ownedBy owner: Int64?) throws -> [Int64] {
        try connection.query(
            "SELECT id FROM run WHERE state = 'running' AND owner_id IS NOT DISTINCT FROM \(owner) ORDER BY id"
        ).rows.map { $0.int("id")! }
    }

    /// Running runs from before leases, started by a process on `host`: the pid that ran each.
    public func unleasedRunning(host: String) throws -> [(run: Int64, pid: Int32)] {
        try connection.query(
            "SELECT id, owner_pid FROM run WHERE state = 'running' AND owner_id IS NULL AND owner_host = \(host)"
        ).rows.map { ($0.int("id")!, Int32($0.int("owner_pid") ?? 0)) }
    }

    /// Asks for a run to be cancelled: a queued run is cancelled at once, a running one by its engine (woken).
    /// Returns the run's state after the request, or nil when there is no such run.
    public func requestCancel(runID: Int64, by user: String) throws -> RunState? {
        guard
            let row = try connection.query(
                """
                WITH q AS (
                    UPDATE run SET state = 'cancelled', ended_at = clock_timestamp(), cancel_requested_at = clock_timestamp()
                    WHERE id = \(runID) AND state = 'queued' RETURNING id
                ), r AS (
                    UPDATE run SET cancel_requested_at = coalesce(cancel_requested_at, clock_timestamp())
                    WHERE id = \(runID) AND state = 'running' RETURNING id
                ), e AS (
                    INSERT INTO event (run_id, kind, from_state, to_state, detail)
                    SELECT id, 'run', 'queued', 'cancelled', \("cancelled by \(user)") FROM q
                    UNION ALL
                    SELECT id, 'control', 'running', 'running', \("cancel requested by \(user)") FROM r
                ), n AS (SELECT pg_notify(\(Self.channel), 'cancel ' || id) FROM r)
                SELECT (SELECT state FROM run WHERE id = \(runID)) AS before,
                       (SELECT count(*) FROM q) AS now_cancelled, (SELECT count(*) FROM n) AS notified
                """
            ).rows.first, let before = row["before"]
        else { return nil }
        if (row.int("now_cancelled") ?? 0) > 0 { return .cancelled }
        return RunState(rawValue: before)
    }

    /// Cancels the runs `engine` queued to start itself and never started (it is gone); returns their ids.
    public func cancelAbandoned(reservedBy engine: Int64, because reason: String) throws -> [Int64] {
        try connection.query(
            """
            WITH q AS (
                UPDATE run SET state = 'cancelled', ended_at = clock_timestamp(), message = \(reason)
                WHERE reserved_by = \(engine) AND state = 'queued' RETURNING id
            ), e AS (
                INSERT INTO event (run_id, kind, from_state, to_state, detail)
                SELECT id, 'run', 'queued', 'cancelled', \(reason) FROM q
            )
            SELECT id FROM q ORDER BY id
            """
        ).rows.compactMap { $0.int("id") }
    }

    /// Cancel requests pending for runs `owner` drives.
    public func cancelRequests(ownedBy owner: Int64) throws -> [Int64] {
        try connection.query(
            """
            SELECT id FROM run WHERE owner_id = \(owner) AND state = 'running' AND cancel_requested_at IS NOT NULL
            """
        ).rows.map { $0.int("id")! }
    }

    /// Gives the failed steps of an ended run (or `step` and what follows it) a new chance: they go back to
    /// `pending`, the run to `queued`; succeeded steps keep their results. Returns the steps reset.
    public func retry(runID: Int64, step: String?, by user: String) throws -> [String] {
        try connection.transaction { session in
            guard
                let run = try session.query("SELECT state FROM run WHERE id = \(runID) FOR UPDATE").rows.first,
                let state = run["state"].flatMap(RunState.init)
            else { throw StateConflict(description: "no run \(runID)") }
            guard state.isTerminal else {
                throw StateConflict(description: "run \(runID) is \(state.rawValue); retry it once it has ended")
            }
            let reset = try session.query(
                """
                WITH RECURSIVE chosen AS (
                    SELECT id, step_key FROM step_instance
                    WHERE run_id = \(runID) AND role = 'step'
                      AND (CASE WHEN \(step)::text IS NULL
                                THEN state IN ('failed', 'upstream_failed', 'cancelled')
                                ELSE step_key = \(step) OR step_id = \(step) END)
                    UNION
                    SELECT s.id, s.step_key FROM step_instance s, chosen c
                    WHERE s.run_id = \(runID) AND s.role = 'step' AND s.needs ? c.step_key
                ), u AS (
                    UPDATE step_instance s SET state = 'pending', exit_code = NULL, message = NULL, ended_at = NULL,
                           next_attempt_at = NULL
                    FROM chosen c WHERE s.id = c.id RETURNING s.id, s.step_key, s.position
                ), e AS (
                    INSERT INTO event (run_id, step_instance_id, kind, to_state, detail)
                    SELECT \(runID), id, 'step', 'pending', \("retry by \(user)") FROM u
                )
                SELECT step_key FROM u ORDER BY position
                """
            ).rows.map { $0["step_key"] ?? "" }
            if reset.isEmpty { return [] }
            try session.query(
                """
                WITH r AS (
                    UPDATE run SET state = 'queued', ended_at = NULL, owner_id = NULL, cancel_requested_at = NULL, message = NULL,
                           trigger = 'retry', triggered_by = \(user), queued_at = clock_timestamp()
                    WHERE id = \(runID) RETURNING id
                )
                INSERT INTO event (run_id, kind, from_state, to_state, detail)
                SELECT id, 'run', \(state.rawValue), 'queued', \("retry by \(user)") FROM r
                """)
            try session.query("SELECT pg_notify(\(Self.channel), 'queued ' || \(runID))")
            return reset
        }
    }

    /// The state of a run, or nil when there is none.
    public func state(of runID: Int64) throws -> RunState? {
        try connection.query("SELECT state FROM run WHERE id = \(runID)").rows.first?["state"].flatMap(
            RunState.init)
    }

    /// How many runs wait in the queue, and how many of them may start now.
    public func queuedCount() throws -> Int {
        Int(try connection.query("SELECT count(*) AS n FROM run WHERE state = 'queued'").rows[0].int("n") ?? 0)
    }
}
