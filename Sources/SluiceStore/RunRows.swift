import Foundation
import SluiceModel

/// A step instance as recorded, to rebuild a run's machine.
public struct StepRow: Sendable {
    /// Its id.
    public let id: Int64
    /// Its instance key.
    public let key: String
    /// Its position in the plan.
    public let position: Int
    /// Its state.
    public let state: StepState
    /// Attempts made.
    public let attempts: Int
    /// Seconds until its next attempt is due (negative when overdue), for a step `retrying`.
    public let retryIn: Double?
    /// `step` or `handler`.
    public let role: String
    /// Attempts recorded `lost` that never started (no process, no watcher): they do not count as tries.
    public let neverStarted: Int
}

/// An attempt that has not ended as recorded: it may still run, or have ended while nobody watched.
public struct LiveAttemptRow: Sendable {
    /// The attempt's id.
    public let id: Int64
    /// Its step instance.
    public let stepID: Int64
    /// Its number.
    public let number: Int
    /// `starting` or `running`.
    public let state: AttemptState
    /// The executor's handle, once it ran.
    public let externalID: String?
    /// What the executor recorded to find it again (JSON).
    public let executorState: String?
    /// Its stdout log, which names its log directory and files.
    public let stdoutPath: String
}

/// The rows a run is rebuilt from after a crash, a restart, a take-over or a retry.
public struct RunRows: Sendable {
    let connection: PGConnection

    /// The queries on the store's connection.
    public init(store: Store) { connection = store.connection }

    /// The run's step instances, in plan order.
    public func steps(runID: Int64) throws -> [StepRow] {
        try connection.query(
            """
            SELECT s.id, s.step_key, s.position, s.state, s.attempts, s.role,
                   extract(epoch FROM s.next_attempt_at - clock_timestamp())::float8 AS retry_in,
                   (SELECT count(*) FROM attempt a
                    WHERE a.step_instance_id = s.id AND a.state = 'lost' AND a.pid IS NULL AND a.external_id IS NULL
                   ) AS never_started
            FROM step_instance s WHERE s.run_id = \(runID) ORDER BY s.position
            """
        ).rows.map { row in
            guard let state = row["state"].flatMap(StepState.init) else {
                preconditionFailure("step_instance \(row["id"] ?? "?") has an unknown state \(row["state"] ?? "NULL")")
            }
            return StepRow(
                id: row.int("id")!, key: row["step_key"] ?? "", position: Int(row.int("position") ?? 0), state: state,
                attempts: Int(row.int("attempts") ?? 0), retryIn: row.double("retry_in"), role: row["role"] ?? "step",
                neverStarted: Int(row.int("never_started") ?? 0))
        }
    }

    /// The run's attempts that have not ended as recorded.
    public func liveAttempts(runID: Int64) throws -> [LiveAttemptRow] {
        try connection.query(
            """
            SELECT a.id, a.step_instance_id, a.number, a.state, a.external_id, a.executor_state::text AS executor_state,
                   a.stdout_path
            FROM attempt a JOIN step_instance s ON s.id = a.step_instance_id
            WHERE s.run_id = \(runID) AND a.state IN ('starting', 'running') ORDER BY s.position
            """
        ).rows.map { row in
            LiveAttemptRow(
                id: row.int("id")!, stepID: row.int("step_instance_id")!, number: Int(row.int("number") ?? 1),
                state: AttemptState(rawValue: row["state"] ?? "") ?? .starting, externalID: row["external_id"],
                executorState: row["executor_state"], stdoutPath: row["stdout_path"] ?? "")
        }
    }

    /// What the succeeded steps of a run reported, by instance key (their last attempt's outputs).
    /// (A cached step's are those of the attempt it reuses.)
    public func outputs(runID: Int64) throws -> [String: [String: String]] {
        let rows = try connection.query(
            """
            SELECT DISTINCT ON (s.id) s.step_key, a.outputs::text AS outputs
            FROM step_instance s
            JOIN attempt a ON a.step_instance_id = s.id
                OR (s.state = 'cached' AND a.id = s.reused_attempt_id)
            WHERE s.run_id = \(runID) AND s.state IN ('succeeded', 'cached') AND a.outputs IS NOT NULL
            ORDER BY s.id, a.number DESC
            """
        ).rows
        var result: [String: [String: String]] = [:]
        for row in rows {
            if let text = row["outputs"],
                let values = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))
            {
                result[row["step_key"] ?? ""] = values
            }
        }
        return result
    }
}
