import Foundation
import SluiceModel

/// A DAG and its latest run, for `sluice status`.
public struct DAGStatus: Sendable, Codable {
    /// The DAG id.
    public let dag: String
    /// Number of runs recorded.
    public let runs: Int
    /// The latest run, if any.
    public let latestRun: RunSummary?
}

/// One run, summarised.
public struct RunSummary: Sendable, Codable {
    /// The run id.
    public let id: Int64
    /// The DAG id.
    public let dag: String
    /// The run's state.
    public let state: RunState
    /// How it was started (`manual` for `sluice run`).
    public let trigger: String
    /// When it started.
    public let startedAt: Date?
    /// When it ended.
    public let endedAt: Date?
    /// Seconds from start to end (or to now while running).
    public let durationSeconds: Double?
    /// Number of steps.
    public let steps: Int
    /// Number of steps that succeeded.
    public let succeeded: Int
    /// Number of steps that failed.
    public let failed: Int
    /// Number of steps skipped on purpose (their `when` was false).
    public let skipped: Int
    /// Number of steps not run because an earlier attempt with the same fingerprint did their work.
    public let cached: Int
}

/// One step instance of a run, for `sluice runs show`.
public struct StepDetail: Sendable, Codable {
    /// The step id.
    public let step: String
    /// Its state.
    public let state: StepState
    /// Attempts made.
    public let attempts: Int
    /// The last attempt's exit code.
    public let exitCode: Int32?
    /// Why it failed, if it did.
    public let message: String?
    /// When it started.
    public let startedAt: Date?
    /// When it ended.
    public let endedAt: Date?
    /// Seconds from start to end.
    public let durationSeconds: Double?
    /// The exact argv its last attempt ran; before any attempt, the command as planned.
    public let command: [String]
    /// `step`, or `handler` for an `on_failure`/`on_success` handler.
    public let role: String
    /// What it reported in `$SLUICE_OUTPUT` (its last attempt that reported anything).
    public let outputs: [String: String]?
    /// For a `cached` step: the earlier attempt whose work it reuses.
    public var reusedAttempt: Int64?
}

/// A version of data an attempt read or wrote, as `runs show` lists it.
public struct DataEdge: Sendable, Codable, Equatable {
    /// `path`, `dataset` or `uri`.
    public let kind: String
    /// The absolute path, the dataset's name, or the URI.
    public let name: String
    /// The local path, if any.
    public let path: String?
    /// The version.
    public let version: String
    /// `content`, `directory`, `mtime` or `from_step`.
    public let method: String
    /// Its size in bytes, for local data.
    public let sizeBytes: Int64?
    /// For an input: it changed while the attempt ran.
    public let changed: Bool
}

/// The code an attempt ran, as pinned when it started.
public struct CodeDetail: Sendable, Codable, Equatable {
    /// The DAG version's hash (its file and templates).
    public let dagHash: String
    /// The git commit of the repository holding the DAG; nil outside one.
    public let commit: String?
    /// Whether that repository had uncommitted changes.
    public let dirty: Bool
    /// A hash of those changes.
    public let changes: String?
}

/// One attempt, for logs and detail views.
public struct AttemptDetail: Sendable, Codable {
    /// The step id.
    public let step: String
    /// The attempt number, from 1.
    public let number: Int
    /// Its state.
    public let state: AttemptState
    /// The exit code.
    public let exitCode: Int32?
    /// The signal that killed it.
    public let signal: Int32?
    /// The outcome message.
    public let message: String?
    /// The host it ran on.
    public let host: String
    /// The process id.
    public let pid: Int32?
    /// The stdout log file.
    public let stdoutPath: String
    /// The stderr log file.
    public let stderrPath: String
    /// Wall-clock seconds.
    public let wallSeconds: Double?
    /// User CPU seconds.
    public let userCPUSeconds: Double?
    /// System CPU seconds.
    public let systemCPUSeconds: Double?
    /// Peak resident memory in bytes.
    public let maxRSSBytes: Int64?
    /// Where the usage figures come from: `cgroup` or `rusage`.
    public let usageSource: String?
    /// CPU cores it asked for.
    public let requestedCPUs: Double?
    /// Memory it asked for, in bytes.
    public let requestedMemoryBytes: Int64?
    /// GPUs it asked for.
    public let requestedGPUs: Int?
    /// The process limit it ran with.
    public let requestedMaxProcesses: Int?
    /// The GPU indices it was given.
    public let gpuIDs: String?
    /// How its limits were enforced: `cgroup v1`, `cgroup v2` or `rlimit`.
    public let enforcement: String?
    /// Things worth knowing that did not fail it (a malformed `$SLUICE_OUTPUT` line, …).
    public let warnings: [String]
    /// The exact argv it ran.
    public let command: [String]
    /// What it reported in `$SLUICE_OUTPUT`.
    public let outputs: [String: String]?
    /// The attempt's id in the database.
    public var id: Int64 = 0
    /// The fingerprint it was started with (what a later step must match to reuse it).
    public var fingerprint: String?
    /// The code version it ran.
    public var code: CodeDetail?
    /// `complete`, or `input_changed` when an input changed while it ran; nil before it ended.
    public var lineage: String?
    /// The `metric.<name>=…` values it reported.
    public var metrics: [String: Double]?
    /// The versions of data it read, as they were when it started.
    public var inputs: [DataEdge] = []
    /// The versions of data it wrote.
    public var outputData: [DataEdge] = []

    enum CodingKeys: String, CodingKey {
        case step, number, state, exitCode, signal, message, host, pid, stdoutPath, stderrPath, wallSeconds
        case userCPUSeconds = "userCpuSeconds"
        case systemCPUSeconds = "systemCpuSeconds"
        case maxRSSBytes = "maxRssBytes"
        case usageSource
        case requestedCPUs = "requestedCpus"
        case requestedMemoryBytes
        case requestedGPUs = "requestedGpus"
        case requestedMaxProcesses
        case gpuIDs = "gpuIds"
        case enforcement, warnings, command, outputs
        case id, fingerprint, code, lineage, metrics, inputs, outputData
    }
}

/// A run with its steps and attempts.
public struct RunDetail: Sendable, Codable {
    /// The summary.
    public let run: RunSummary
    /// The DAG file it ran.
    public let sourcePath: String
    /// Where its logs are.
    public let logDirectory: String
    /// Steps in file order.
    public let steps: [StepDetail]
    /// The `on_failure`/`on_success` handlers that ran, in order.
    public let handlers: [StepDetail]
    /// Who or what asked for the run (a user, or `scheduler`).
    public let triggeredBy: String?
    /// For a scheduled or backfilled run: its fire time.
    public let scheduledFor: Date?
    /// The data interval it covers: from its fire time…
    public let dataIntervalStart: Date?
    /// …to the next one.
    public let dataIntervalEnd: Date?
    /// Its parameters' values.
    public let params: [String: String]
    /// Its logical date.
    public let logicalDate: String?
    /// Why it ended as it did, when that is not told by its steps (say, its engine died).
    public let message: String?
    /// Every attempt, by step order then number.
    public let attempts: [AttemptDetail]
    /// Bytes read to hash its inputs and outputs (none for files the stat cache vouched for).
    public var bytesHashed: Int64 = 0
}

/// Every read the CLI makes. Each method is one or two statements.
public struct RunQueries: Sendable {
    let connection: PGConnection

    /// Queries on the store's connection.
    public init(store: Store) { connection = store.connection }

    private static let summaryColumns: StaticString = """
        r.id, d.name AS dag, r.state, r.trigger,
        extract(epoch FROM r.started_at)::float8 AS started,
        extract(epoch FROM r.ended_at)::float8 AS ended,
        extract(epoch FROM coalesce(r.ended_at, clock_timestamp()) - r.started_at)::float8 AS duration,
        c.steps, c.succeeded, c.failed, c.skipped, c.cached
        """

    private static let summaryCounts: StaticString = """
        LEFT JOIN LATERAL (
            SELECT count(*) AS steps, count(*) FILTER (WHERE s.state = 'succeeded') AS succeeded,
                   count(*) FILTER (WHERE s.state IN ('failed', 'upstream_failed')) AS failed,
                   count(*) FILTER (WHERE s.state = 'skipped') AS skipped,
                   count(*) FILTER (WHERE s.state = 'cached') AS cached
            FROM step_instance s WHERE s.run_id = r.id AND s.role = 'step'
        ) c ON true
        """

    /// Every DAG seen, with its latest run.
    public func dagStatuses() throws -> [DAGStatus] {
        let rows = try connection.query(
            """
            SELECT d.name AS dag_name, (SELECT count(*) FROM run WHERE dag_id = d.id) AS runs,
                   (SELECT max(id) FROM run WHERE dag_id = d.id) AS latest
            FROM dag d ORDER BY d.name
            """
        ).rows
        let latestIDs = rows.compactMap { $0.int("latest") }
        let summaries = try summaries(ids: latestIDs)
        return rows.map { row in
            DAGStatus(
                dag: row["dag_name"] ?? "", runs: Int(row.int("runs") ?? 0),
                latestRun: row.int("latest").flatMap { id in summaries.first { $0.id == id } })
        }
    }

    /// The newest runs first, optionally of one DAG.
    public func runs(dag: String?, limit: Int) throws -> [RunSummary] {
        let rows = try connection.query(
            """
            SELECT \(unsafeRaw: Self.summaryColumns)
            FROM run r JOIN dag d ON d.id = r.dag_id \(unsafeRaw: Self.summaryCounts)
            WHERE \(dag)::text IS NULL OR d.name = \(dag)
            ORDER BY r.id DESC LIMIT \(limit)
            """
        ).rows
        return rows.map(Self.summary)
    }

    /// The id of the newest run, optionally of one DAG.
    public func latestRunID(dag: String?) throws -> Int64? {
        try connection.query(
            """
            SELECT max(r.id) AS id FROM run r JOIN dag d ON d.id = r.dag_id WHERE \(dag)::text IS NULL OR d.name = \(dag)
            """
        ).rows.first?.int("id")
    }

    /// A run with its steps and attempts, or nil when there is no such run.
    public func runDetail(id: Int64) throws -> RunDetail? {
        guard let summary = try summaries(ids: [id]).first else { return nil }
        let meta = try connection.query(
            """
            SELECT v.source_path, r.log_root, r.triggered_by, r.params::text AS params, r.bytes_hashed,
                   r.logical_date::text AS logical_date, r.message,
                   extract(epoch FROM r.scheduled_for)::float8 AS scheduled_for,
                   extract(epoch FROM r.data_interval_start)::float8 AS interval_start,
                   extract(epoch FROM r.data_interval_end)::float8 AS interval_end
            FROM run r JOIN dag_version v ON v.id = r.dag_version_id WHERE r.id = \(id)
            """
        ).rows[0]
        var attempts = try connection.query(
            """
            SELECT s.step_key, a.*, a.command::text AS command_text, a.warnings::text AS warnings_text,
                   a.outputs::text AS outputs_text, a.code::text AS code_text, a.metrics::text AS metrics_text
            FROM attempt a JOIN step_instance s ON s.id = a.step_instance_id
            WHERE s.run_id = \(id) ORDER BY s.position, a.number
            """
        ).rows.map(Self.attempt)
        let edges = try dataEdges(runID: id)
        for i in attempts.indices {
            attempts[i].inputs = edges[attempts[i].id]?.filter { $0.role == "input" }.map(\.edge) ?? []
            attempts[i].outputData = edges[attempts[i].id]?.filter { $0.role == "output" }.map(\.edge) ?? []
        }
        var lastCommand: [String: [String]] = [:]
        for attempt in attempts where !attempt.command.isEmpty { lastCommand[attempt.step] = attempt.command }
        var outputs: [String: [String: String]] = [:]
        for attempt in attempts { if let reported = attempt.outputs { outputs[attempt.step] = reported } }
        let all = try connection.query(
            """
            SELECT step_key, state, attempts, exit_code, message, command::text AS command, role, reused_attempt_id,
                   extract(epoch FROM started_at)::float8 AS started,
                   extract(epoch FROM ended_at)::float8 AS ended,
                   extract(epoch FROM ended_at - started_at)::float8 AS duration
            FROM step_instance WHERE run_id = \(id) ORDER BY position
            """
        ).rows.map { row in
            let key = row["step_key"] ?? ""
            var step = StepDetail(
                step: key, state: StepState(rawValue: row["state"] ?? "") ?? .pending,
                attempts: Int(row.int("attempts") ?? 0), exitCode: row.int("exit_code").map { Int32($0) },
                message: row["message"], startedAt: Self.date(row.double("started")),
                endedAt: Self.date(row.double("ended")), durationSeconds: row.double("duration"),
                command: lastCommand[key] ?? Self.strings(row["command"]), role: row["role"] ?? "step",
                outputs: outputs[key])
            step.reusedAttempt = row.int("reused_attempt_id")
            return step
        }
        return RunDetail(
            run: summary, sourcePath: meta["source_path"] ?? "", logDirectory: (meta["log_root"] ?? "") + "/\(id)",
            steps: all.filter { $0.role == "step" }, handlers: all.filter { $0.role == "handler" },
            triggeredBy: meta["triggered_by"], scheduledFor: Self.date(meta.double("scheduled_for")),
            dataIntervalStart: Self.date(meta.double("interval_start")),
            dataIntervalEnd: Self.date(meta.double("interval_end")),
            params: (try? JSONDecoder().decode([String: String].self, from: Data((meta["params"] ?? "{}").utf8)))
                ?? [:],
            logicalDate: meta["logical_date"], message: meta["message"], attempts: attempts,
            bytesHashed: meta.int("bytes_hashed") ?? 0)
    }

    /// The data each attempt of a run read and wrote, by attempt id.
    private func dataEdges(runID: Int64) throws -> [Int64: [(role: String, edge: DataEdge)]] {
        var result: [Int64: [(role: String, edge: DataEdge)]] = [:]
        for row in try connection.query(
            """
            SELECT d.attempt_id, d.role, d.path, d.changed, v.kind, v.name, v.version, v.method, v.size_bytes
            FROM step_instance s JOIN attempt a ON a.step_instance_id = s.id
            JOIN attempt_data d ON d.attempt_id = a.id JOIN data_version v ON v.id = d.data_version_id
            WHERE s.run_id = \(runID) ORDER BY d.attempt_id, d.role, v.name
            """
        ).rows {
            let edge = DataEdge(
                kind: row["kind"] ?? "", name: row["name"] ?? "", path: row["path"], version: row["version"] ?? "",
                method: row["method"] ?? "", sizeBytes: row.int("size_bytes"), changed: row.bool("changed") == true)
            result[row.int("attempt_id") ?? 0, default: []].append((row["role"] ?? "", edge))
        }
        return result
    }

    /// A JSON array of strings in text form; empty for NULL.
    private static func strings(_ text: String?) -> [String] {
        guard let text else { return [] }
        return (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }

    /// The summaries of some runs.
    public func summaries(ids: [Int64]) throws -> [RunSummary] {
        guard !ids.isEmpty else { return [] }
        return try connection.query(
            """
            SELECT \(unsafeRaw: Self.summaryColumns)
            FROM run r JOIN dag d ON d.id = r.dag_id \(unsafeRaw: Self.summaryCounts)
            WHERE r.id IN (SELECT jsonb_array_elements_text(\(json: ids)::jsonb)::bigint)
            """
        ).rows.map(Self.summary)
    }

    private static func summary(_ row: PGRow) -> RunSummary {
        RunSummary(
            id: row.int("id") ?? 0, dag: row["dag"] ?? "", state: RunState(rawValue: row["state"] ?? "") ?? .queued,
            trigger: row["trigger"] ?? "", startedAt: date(row.double("started")), endedAt: date(row.double("ended")),
            durationSeconds: row.double("duration"), steps: Int(row.int("steps") ?? 0),
            succeeded: Int(row.int("succeeded") ?? 0), failed: Int(row.int("failed") ?? 0),
            skipped: Int(row.int("skipped") ?? 0), cached: Int(row.int("cached") ?? 0))
    }

    private static func attempt(_ row: PGRow) -> AttemptDetail {
        var detail = AttemptDetail(
            step: row["step_key"] ?? "", number: Int(row.int("number") ?? 0),
            state: AttemptState(rawValue: row["state"] ?? "") ?? .lost,
            exitCode: row.int("exit_code").map { Int32($0) }, signal: row.int("signal").map { Int32($0) },
            message: row["message"], host: row["host"] ?? "", pid: row.int("pid").map { Int32($0) },
            stdoutPath: row["stdout_path"] ?? "", stderrPath: row["stderr_path"] ?? "",
            wallSeconds: row.double("wall_seconds"), userCPUSeconds: row.double("user_cpu_seconds"),
            systemCPUSeconds: row.double("system_cpu_seconds"), maxRSSBytes: row.int("max_rss_bytes"),
            usageSource: row["usage_source"], requestedCPUs: row.double("requested_cpus"),
            requestedMemoryBytes: row.int("requested_memory_bytes"),
            requestedGPUs: row.int("requested_gpus").map { Int($0) },
            requestedMaxProcesses: row.int("requested_max_processes").map { Int($0) }, gpuIDs: row["gpu_ids"],
            enforcement: row["enforcement"], warnings: strings(row["warnings_text"]),
            command: strings(row["command_text"]),
            outputs: row["outputs_text"].flatMap {
                try? JSONDecoder().decode([String: String].self, from: Data($0.utf8))
            })
        detail.id = row.int("id") ?? 0
        detail.fingerprint = row["fingerprint"]
        detail.code = row["code_text"].flatMap { try? JSONDecoder().decode(CodeDetail.self, from: Data($0.utf8)) }
        detail.lineage = row["lineage"]
        detail.metrics = row["metrics_text"].flatMap {
            try? JSONDecoder().decode([String: Double].self, from: Data($0.utf8))
        }
        return detail
    }

    private static func date(_ epoch: Double?) -> Date? { epoch.map { Date(timeIntervalSince1970: $0) } }
}
