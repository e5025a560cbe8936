import Foundation
import SluiceBasics

/// One versioned schema change, from a `Migrations/vNNNN_name.sql` file compiled into the binary.
public struct Migration: Sendable {
    /// The version number; migrations apply in increasing order.
    public let version: Int
    /// The file's name part, such as `initial`.
    public let name: String
    /// The SQL text.
    public let sql: String
    /// FNV-1a 64 of the SQL, to notice a migration edited after it was applied.
    public var checksum: String { ContentHash.fnv1a64(sql) }

    /// Every migration this build knows, in order.
    public static let all: [Migration] = [
        Migration(
            version: 1, name: "initial", sql: String(decoding: PackageResources.v0001_initial_sql, as: UTF8.self)),
        Migration(
            version: 2, name: "dag_language",
            sql: String(decoding: PackageResources.v0002_dag_language_sql, as: UTF8.self)),
        Migration(
            version: 3, name: "local_executor",
            sql: String(decoding: PackageResources.v0003_local_executor_sql, as: UTF8.self)),
        Migration(
            version: 4, name: "first_hour", sql: String(decoding: PackageResources.v0004_first_hour_sql, as: UTF8.self)),
        Migration(
            version: 5, name: "service", sql: String(decoding: PackageResources.v0005_service_sql, as: UTF8.self)),
        Migration(
            version: 6, name: "step_writes",
            sql: String(decoding: PackageResources.v0006_step_writes_sql, as: UTF8.self)),
        Migration(
            version: 7, name: "lineage", sql: String(decoding: PackageResources.v0007_lineage_sql, as: UTF8.self)),
        Migration(
            version: 8, name: "lineage_lookups",
            sql: String(decoding: PackageResources.v0008_lineage_lookups_sql, as: UTF8.self)),
        Migration(version: 9, name: "cost", sql: String(decoding: PackageResources.v0009_cost_sql, as: UTF8.self)),
        Migration(
            version: 10, name: "cost_per_step",
            sql: String(decoding: PackageResources.v0010_cost_per_step_sql, as: UTF8.self)),
        Migration(
            version: 11, name: "reserved_runs",
            sql: String(decoding: PackageResources.v0011_reserved_runs_sql, as: UTF8.self)),
        Migration(
            version: 12, name: "cost_after_the_turn",
            sql: String(decoding: PackageResources.v0012_cost_after_the_turn_sql, as: UTF8.self)),
        Migration(
            version: 13, name: "claims_that_scale",
            sql: String(decoding: PackageResources.v0013_claims_that_scale_sql, as: UTF8.self)),
    ]

    /// The schema version this build expects.
    public static var latestVersion: Int { all.last?.version ?? 0 }
}

/// What the schema looks like in a database, for `sluice db status`.
public struct SchemaStatus: Sendable, Codable {
    /// The highest applied migration, 0 for a fresh database.
    public let currentVersion: Int
    /// The version this build expects.
    public let expectedVersion: Int
    /// Versions this build knows that are not applied yet.
    public let pending: [Int]
    /// Applied versions whose SQL differs from this build's copy.
    public let modified: [Int]
}

/// Applies migrations in order, each in its own transaction under an advisory lock.
public enum Migrator {
    /// The advisory lock key all Sluice processes use for migrations ("sluice" in ASCII).
    static let lockKey: Int64 = 0x736c_7569_6365

    /// Brings the schema up to date; returns the versions applied. Refuses a database from a newer Sluice.
    @discardableResult
    public static func migrate(_ connection: PGConnection, migrations: [Migration] = Migration.all) throws -> [Int] {
        let known = migrations.last?.version ?? 0
        // Fast path for every command: an up-to-date schema costs two reads and no lock.
        let tableExists =
            try connection.query(
                "SELECT to_regclass('sluice_migration') IS NOT NULL AS present"
            ).rows.first?.bool("present") ?? false
        if tableExists {
            let current = try connection.withSession { try currentVersion($0) }
            try refuseNewer(current, known: known)
            if current == known { return [] }
        }
        try ensureTable(connection)
        var applied: [Int] = []
        for migration in migrations {
            let done: Bool = try connection.transaction { session in
                try session.query("SELECT pg_advisory_xact_lock(\(lockKey))")
                let current = try currentVersion(session)
                try refuseNewer(current, known: known)
                if current >= migration.version { return false }
                try session.script(migration.sql)
                try session.query(
                    """
                    INSERT INTO sluice_migration (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """)
                return true
            }
            if done { applied.append(migration.version) }
        }
        return applied
    }

    /// Reports the applied and pending versions without changing anything (not even creating the table).
    public static func status(_ connection: PGConnection, migrations: [Migration] = Migration.all) throws
        -> SchemaStatus
    {
        let present =
            try connection.query("SELECT to_regclass('sluice_migration') IS NOT NULL AS present").rows.first?.bool(
                "present") ?? false
        let rows =
            present
            ? try connection.query("SELECT version, checksum FROM sluice_migration ORDER BY version").rows : []
        var applied: [Int: String] = [:]
        for row in rows { applied[Int(row.int("version") ?? 0)] = row["checksum"] ?? "" }
        let current = applied.keys.max() ?? 0
        return SchemaStatus(
            currentVersion: current, expectedVersion: migrations.last?.version ?? 0,
            pending: migrations.map(\.version).filter { applied[$0] == nil },
            modified: migrations.filter { migration in
                applied[migration.version].map { $0 != migration.checksum } ?? false
            }.map(\.version))
    }

    private static func ensureTable(_ connection: PGConnection) throws {
        try connection.transaction { session in
            try session.query("SELECT pg_advisory_xact_lock(\(lockKey))")
            try session.script(
                """
                CREATE TABLE IF NOT EXISTS sluice_migration (
                    version     integer PRIMARY KEY,
                    name        text NOT NULL,
                    checksum    text NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT clock_timestamp()
                )
                """)
        }
    }

    private static func currentVersion(_ session: PGSession) throws -> Int {
        Int(try session.query("SELECT coalesce(max(version), 0) AS v FROM sluice_migration").rows.first?.int("v") ?? 0)
    }

    private static func refuseNewer(_ current: Int, known: Int) throws {
        if current > known {
            throw DatabaseError(
                .schema,
                "the database schema is at version \(current), but this sluice only knows up to version \(known): it was migrated by a newer Sluice. Upgrade sluice, or point it at another database"
            )
        }
    }
}
