import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

@Suite("Migrations against a real PostgreSQL")
struct MigratorTests {
    @Test func freshDatabaseIsMigratedOnceAndRerunningIsANoOp() throws {
        let connection = try PGConnection(conninfo: try TestDatabase.freshConninfo())
        #expect(try Migrator.migrate(connection) == Migration.all.map(\.version))
        #expect(try Migrator.migrate(connection) == [])
        let status = try Migrator.status(connection)
        #expect(status.currentVersion == Migration.latestVersion)
        #expect(status.pending.isEmpty)
        #expect(status.modified.isEmpty)
        let tables = try connection.query(
            """
            SELECT count(*) AS n FROM information_schema.tables
            WHERE table_name IN ('dag', 'dag_version', 'run', 'step_instance', 'attempt', 'event')
            """
        ).rows[0].int("n")
        #expect(tables == 6)
    }

    @Test func databaseMigratedByANewerSluiceIsRefused() throws {
        let connection = try PGConnection(conninfo: try TestDatabase.freshConninfo())
        try Migrator.migrate(connection)
        try connection.query("INSERT INTO sluice_migration (version, name, checksum) VALUES (999, 'future', 'x')")
        let error = #expect(throws: DatabaseError.self) { try Migrator.migrate(connection) }
        #expect(error?.kind == .schema)
        #expect(error?.message.contains("version 999") == true)
        #expect(error?.message.contains("newer Sluice") == true)
    }

    @Test func concurrentMigrationsApplyEachVersionOnce() async throws {
        let conninfo = try TestDatabase.freshConninfo()
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask { try Migrator.migrate(PGConnection(conninfo: conninfo)) }
            }
            return try await group.reduce(into: [[Int]]()) { $0.append($1) }
        }
        #expect(results.flatMap { $0 }.sorted() == Migration.all.map(\.version))
        let connection = try PGConnection(conninfo: conninfo)
        #expect(
            try connection.query("SELECT count(*) AS n FROM sluice_migration").rows[0].int("n")
                == Int64(Migration.all.count))
    }

    @Test func anEditedMigrationIsReportedAsModified() throws {
        let connection = try PGConnection(conninfo: try TestDatabase.freshConninfo())
        try Migrator.migrate(connection)
        try connection.query("UPDATE sluice_migration SET checksum = 'edited' WHERE version = 1")
        #expect(try Migrator.status(connection).modified == [1])
    }
}
