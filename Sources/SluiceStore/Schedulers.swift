import Foundation
import SluiceModel

/// An engine (a service, or a foreground `sluice run`) as the database knows it: runs it owns are leased to it
/// for as long as it is alive.
public struct SchedulerRow: Sendable, Equatable {
    /// Its id.
    public let id: Int64
    /// `service` or `foreground`.
    public let kind: String
    /// The host it runs on.
    public let host: String
    /// Its process id.
    public let pid: Int32
    /// Its process's start time (clock ticks since boot), to tell a reused pid.
    public let pidStart: UInt64?
    /// Seconds since its last heartbeat.
    public let heartbeatAge: Double
    /// True once it stopped cleanly.
    public let stopped: Bool
}

/// The registry of engines and their heartbeats: the lease on every run they own.
public struct Schedulers: Sendable {
    let connection: PGConnection

    /// The registry on the store's connection.
    public init(store: Store) { connection = store.connection }

    /// Seconds without a heartbeat after which an engine on another host is taken for dead.
    public static let leaseSeconds: Double = 30

    /// Registers this process as an engine; returns its id.
    public func register(kind: String, host: String, pid: Int32, pidStart: UInt64?) throws -> Int64 {
        try connection.query(
            """
            INSERT INTO scheduler (kind, host, pid, pid_start) VALUES (\(kind), \(host), \(pid), \(pidStart.map { Int64($0) }))
            RETURNING id
            """
        ).rows[0].int("id")!
    }

    /// Seconds since its last heartbeat after which an engine may not start attempts any more: well inside the
    /// lease, so that no other engine can have taken its runs over when it starts one.
    public static let launchWindowSeconds: Double = 20

    /// Renews the lease on everything the engine owns; returns those of `runs` it no longer owns (another
    /// engine took them over while this one could not renew its lease).
    public func heartbeat(_ id: Int64, runs: [Int64] = []) throws -> [Int64] {
        try connection.query(
            """
            WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)),
            beat AS (
                UPDATE scheduler SET heartbeat_at = clock_timestamp() WHERE id = \(id) AND (SELECT true FROM relaxed)
            )
            SELECT id FROM run
            WHERE id IN (SELECT jsonb_array_elements_text(\(json: runs)::jsonb)::bigint)
              AND owner_id IS DISTINCT FROM \(id)
            """
        ).rows.map { $0.int("id")! }
    }

    /// Marks the engine stopped; what it owns is free to be taken over at once.
    public func stop(_ id: Int64) throws {
        try connection.query("UPDATE scheduler SET stopped_at = clock_timestamp() WHERE id = \(id)")
    }

    /// Every engine that has not stopped, with the age of its heartbeat.
    public func live() throws -> [SchedulerRow] {
        try connection.query(
            """
            SELECT id, kind, host, pid, pid_start, stopped_at IS NOT NULL AS stopped,
                   extract(epoch FROM clock_timestamp() - heartbeat_at)::float8 AS age
            FROM scheduler WHERE stopped_at IS NULL ORDER BY id
            """
        ).rows.map(Self.row)
    }

    /// The owners of running runs, other than `me`, with what tells whether they are alive.
    public func ownersOfRunningRuns(except me: Int64) throws -> [SchedulerRow] {
        try connection.query(
            """
            SELECT DISTINCT s.id, s.kind, s.host, s.pid, s.pid_start, s.stopped_at IS NOT NULL AS stopped,
                   extract(epoch FROM clock_timestamp() - s.heartbeat_at)::float8 AS age
            FROM run r JOIN scheduler s ON s.id = r.owner_id
            WHERE r.state = 'running' AND s.id <> \(me)
            """
        ).rows.map(Self.row)
    }

    /// The engines that queued runs to start themselves and have not started them yet (see `RunQueue.enqueue`).
    public func reservingQueuedRuns() throws -> [SchedulerRow] {
        try connection.query(
            """
            SELECT DISTINCT s.id, s.kind, s.host, s.pid, s.pid_start, s.stopped_at IS NOT NULL AS stopped,
                   extract(epoch FROM clock_timestamp() - s.heartbeat_at)::float8 AS age
            FROM run r JOIN scheduler s ON s.id = r.reserved_by
            WHERE r.state = 'queued'
            """
        ).rows.map(Self.row)
    }

    private static func row(_ row: PGRow) -> SchedulerRow {
        SchedulerRow(
            id: row.int("id")!, kind: row["kind"] ?? "", host: row["host"] ?? "", pid: Int32(row.int("pid") ?? 0),
            pidStart: row.int("pid_start").map { UInt64($0) }, heartbeatAge: row.double("age") ?? 0,
            stopped: row.bool("stopped") ?? false)
    }
}
