import Foundation
import SluiceModel

/// One DAG as `sluice status` shows it: its schedule, pause, loaded version, load error and its runs.
public struct DAGCatalogEntry: Sendable, Codable {
    /// The DAG's id.
    public let dag: String
    /// True when its schedule is paused.
    public let paused: Bool
    /// The cron line, if it has one.
    public let schedule: String?
    /// The zone the schedule is read in.
    public let timezone: String?
    /// Whether missed fire times are all run.
    public let catchup: Bool
    /// Most runs at once.
    public let maxActiveRuns: Int
    /// Fire times after this instant are due.
    public var scheduleFrom: Date?
    /// The file the service loaded it from.
    public let file: String?
    /// The version the service runs.
    public let loadedVersion: Int64?
    /// Why the file does not load now (the last good version stays scheduled).
    public let loadError: String?
    /// True once its file was removed from the folder: its schedule stopped, its history stays.
    public let removed: Bool
    /// Runs queued.
    public let queued: Int
    /// Runs running.
    public let running: Int
    /// Runs recorded.
    public let runs: Int
    /// The newest run's id.
    public let latestRunID: Int64?
}

/// The DAG folder as the database keeps it: versions, load errors, pauses, the position of each schedule.
public struct DagCatalog: Sendable {
    let connection: PGConnection

    /// The catalog on the store's connection.
    public init(store: Store) { connection = store.connection }

    /// A DAG loaded from `file` at `versionID`: its schedule and settings; a DAG seen for the first time (or
    /// back after its file was removed, or given a schedule it did not have) is scheduled from `now`: no
    /// history is made up.
    public func loaded(
        dag: String, versionID: Int64, file: String, schedule: String?, timezone: String?, catchup: Bool,
        maxActiveRuns: Int, now: Date
    ) throws {
        try connection.query(
            """
            WITH d AS (
                UPDATE dag SET loaded_version_id = \(versionID), file = \(file), load_error = NULL, removed_at = NULL,
                       schedule = \(schedule), timezone = \(timezone), catchup = \(catchup),
                       max_active_runs = \(maxActiveRuns),
                       -- Scheduled from now when first seen, back after a removal, or given its first schedule.
                       schedule_from = CASE WHEN schedule_from IS NULL OR removed_at IS NOT NULL OR schedule IS NULL
                                            THEN to_timestamp(\(now.timeIntervalSince1970)) ELSE schedule_from END
                WHERE name = \(dag) RETURNING id
            )
            INSERT INTO dag_file (path, dag_id, error, updated_at) SELECT \(file), id, NULL, clock_timestamp() FROM d
            ON CONFLICT (path) DO UPDATE SET dag_id = EXCLUDED.dag_id, error = NULL, updated_at = clock_timestamp()
            """)
    }

    /// A file that does not load; when it held `dag` before, that DAG keeps its last good version and shows the error.
    public func loadFailed(file: String, dag: String?, error: String) throws {
        try connection.query(
            """
            WITH d AS (UPDATE dag SET load_error = \(error) WHERE name = \(dag) RETURNING id)
            INSERT INTO dag_file (path, dag_id, error, updated_at)
            VALUES (\(file), (SELECT id FROM d), \(error), clock_timestamp())
            ON CONFLICT (path) DO UPDATE SET error = EXCLUDED.error, dag_id = coalesce(EXCLUDED.dag_id, dag_file.dag_id),
                updated_at = clock_timestamp()
            """)
    }

    /// The file of `dag` left the folder: its schedule stops; its history stays.
    public func removed(file: String, dag: String?) throws {
        try connection.query(
            """
            WITH d AS (UPDATE dag SET removed_at = clock_timestamp(), file = NULL WHERE name = \(dag) AND file = \(file))
            DELETE FROM dag_file WHERE path = \(file)
            """)
    }

    /// Pauses or resumes a DAG's schedule; false when there is no such DAG.
    public func setPaused(_ dag: String, _ paused: Bool) throws -> Bool {
        try connection.query(
            """
            WITH d AS (
                UPDATE dag SET paused = \(paused),
                    -- A pause skips the fire times it spans (sluice backfill runs them if they are wanted).
                    schedule_from = CASE WHEN paused AND NOT \(paused) AND schedule_from IS NOT NULL
                                         THEN greatest(schedule_from, clock_timestamp()) ELSE schedule_from END
                WHERE name = \(dag) RETURNING id
            )
            SELECT id, pg_notify(\(RunQueue.channel), 'paused') FROM d
            """
        ).rows.count == 1
    }

    /// Queues the run of a fire time and moves the schedule past it, in one statement; nil when that fire
    /// time was queued before (by this or another service), or when the DAG is paused: a service that has not
    /// heard of a pause yet cannot queue its fire times (a paused DAG's scheduled runs are never claimed).
    public func enqueueFireTime(_ request: RunRequest) throws -> Int64? {
        guard let fire = request.scheduledFor else { return nil }
        return try connection.query(
            """
            WITH v AS (
                SELECT dv.id, dv.dag_id FROM dag_version dv JOIN dag d ON d.id = dv.dag_id
                WHERE dv.id = \(request.versionID) AND NOT d.paused
            ),
            r AS (
                INSERT INTO run (dag_id, dag_version_id, state, trigger, triggered_by, params, logical_date,
                                 scheduled_for, data_interval_start, data_interval_end)
                SELECT v.dag_id, v.id, 'queued', \(request.trigger), \(request.triggeredBy), \(json: request.params)::jsonb,
                       \(request.logicalDate)::date, to_timestamp(\(fire.timeIntervalSince1970)),
                       to_timestamp(\(fire.timeIntervalSince1970)),
                       to_timestamp(\(request.intervalEnd.map { $0.timeIntervalSince1970 }))
                FROM v
                ON CONFLICT (dag_id, scheduled_for) WHERE scheduled_for IS NOT NULL DO NOTHING
                RETURNING id
            ), e AS (
                INSERT INTO event (run_id, kind, to_state, detail)
                SELECT id, 'run', 'queued', \("\(request.trigger) by \(request.triggeredBy)") FROM r
            ), s AS (
                UPDATE dag SET schedule_from = greatest(coalesce(schedule_from, to_timestamp(0)),
                                                        to_timestamp(\(fire.timeIntervalSince1970)))
                WHERE id = (SELECT dag_id FROM v)
            ), n AS (SELECT pg_notify(\(RunQueue.channel), 'queued ' || id) FROM r)
            SELECT id FROM r, (SELECT count(*) FROM n) AS notified
            """
        ).rows.first?.int("id")
    }

    /// Queues the run of a backfilled fire time (the schedule's position is left alone); nil when that fire
    /// time was queued before.
    public func enqueueBackfill(_ request: RunRequest) throws -> Int64? {
        try RunQueue(connection: connection).enqueue(request)
    }

    /// Every DAG with its schedule, version, error and run counts.
    public func entries() throws -> [DAGCatalogEntry] {
        try connection.query(
            """
            SELECT d.name, d.paused, d.schedule, d.timezone, d.catchup, d.max_active_runs,
                   extract(epoch FROM d.schedule_from)::float8 AS schedule_from, d.file, d.loaded_version_id,
                   coalesce(d.load_error, (SELECT f.error FROM dag_file f WHERE f.dag_id = d.id AND f.error IS NOT NULL LIMIT 1))
                       AS load_error,
                   d.removed_at IS NOT NULL AS removed,
                   (SELECT count(*) FROM run r WHERE r.dag_id = d.id AND r.state = 'queued') AS queued,
                   (SELECT count(*) FROM run r WHERE r.dag_id = d.id AND r.state = 'running') AS running,
                   (SELECT count(*) FROM run r WHERE r.dag_id = d.id) AS runs,
                   (SELECT max(id) FROM run r WHERE r.dag_id = d.id) AS latest
            FROM dag d ORDER BY d.name
            """
        ).rows.map { row in
            DAGCatalogEntry(
                dag: row["name"] ?? "", paused: row.bool("paused") ?? false, schedule: row["schedule"],
                timezone: row["timezone"], catchup: row.bool("catchup") ?? false,
                maxActiveRuns: Int(row.int("max_active_runs") ?? 1),
                scheduleFrom: row.double("schedule_from").map { Date(timeIntervalSince1970: $0) }, file: row["file"],
                loadedVersion: row.int("loaded_version_id"), loadError: row["load_error"],
                removed: row.bool("removed") ?? false, queued: Int(row.int("queued") ?? 0),
                running: Int(row.int("running") ?? 0), runs: Int(row.int("runs") ?? 0), latestRunID: row.int("latest"))
        }
    }

    /// Files of the served folder that do not load and whose DAG is not known.
    public func brokenFiles() throws -> [(path: String, error: String)] {
        try connection.query(
            "SELECT path, error FROM dag_file WHERE error IS NOT NULL AND dag_id IS NULL ORDER BY path"
        ).rows.map { ($0["path"] ?? "", $0["error"] ?? "") }
    }

    /// The version a DAG runs now: the loaded one, else its newest; nil when the DAG is unknown.
    public func currentVersion(of dag: String) throws -> (id: Int64, source: String, path: String, templates: String)? {
        guard
            let row = try connection.query(
                """
                SELECT v.id, v.source, v.source_path, v.templates::text AS templates
                FROM dag d JOIN dag_version v ON v.id = coalesce(d.loaded_version_id,
                    (SELECT max(id) FROM dag_version x WHERE x.dag_id = d.id))
                WHERE d.name = \(dag)
                """
            ).rows.first
        else { return nil }
        return (row.int("id")!, row["source"] ?? "", row["source_path"] ?? "", row["templates"] ?? "{}")
    }

    /// A version by id: the DAG file's source, its path and the included templates (path → source, as JSON).
    public func version(_ id: Int64) throws -> (source: String, path: String, templates: String)? {
        guard
            let row = try connection.query(
                "SELECT source, source_path, templates::text AS templates FROM dag_version WHERE id = \(id)"
            ).rows.first
        else { return nil }
        return (row["source"] ?? "", row["source_path"] ?? "", row["templates"] ?? "{}")
    }

    /// Whether a DAG is paused; nil when there is no such DAG.
    public func isPaused(_ dag: String) throws -> Bool? {
        try connection.query("SELECT paused FROM dag WHERE name = \(dag)").rows.first?.bool("paused")
    }
}
