import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

@Suite("libpq connections")
struct ConnectionTests {
    @Test func boundParametersAreDataNeverSQL() throws {
        let connection = try PGConnection(conninfo: try TestDatabase.freshConninfo())
        let hostile = "x'); DROP TABLE sluice_migration; --"
        let row = try connection.query(
            "SELECT \(hostile)::text AS v, \(Int64(42)) + 1 AS n, \(nil as String?)::text AS nothing"
        ).rows[0]
        #expect(row["v"] == hostile)
        #expect(row.int("n") == 43)
        #expect(row["nothing"] == nil)
    }

    @Test func unreachableServerNamesTheSocketAndDatabaseButNotThePassword() throws {
        for conninfo in [
            "host=/nonexistent/sock dbname=analytics user=alice password=hunter2secret",
            "postgresql://alice:hunter2secret@/analytics?host=/nonexistent/sock",
        ] {
            let error = #expect(throws: DatabaseError.self) { try PGConnection(conninfo: conninfo) }
            let message = error?.message ?? ""
            #expect(error?.kind == .connection)
            #expect(message.contains("/nonexistent/sock"))
            #expect(message.contains("analytics"))
            #expect(!message.contains("hunter2secret"))
        }
    }

    @Test func malformedConninfoDoesNotEchoThePassword() throws {
        let error = #expect(throws: DatabaseError.self) {
            try PGConnection(conninfo: "host=/tmp password=hunter2secret bogus")
        }
        #expect(error?.message.contains("hunter2secret") == false)
    }

    @Test func failedStatementKeepsItsSQLState() throws {
        let connection = try PGConnection(conninfo: try TestDatabase.freshConninfo())
        let error = #expect(throws: DatabaseError.self) { try connection.query("SELECT * FROM no_such_table") }
        #expect(error?.sqlState == "42P01")
        #expect(error?.kind == .statement)
    }

    @Test func transactionRollsBackOnError() throws {
        let connection = try PGConnection(conninfo: try TestDatabase.freshConninfo())
        try connection.query("CREATE TABLE t (v integer)")
        #expect(throws: DatabaseError.self) {
            try connection.transaction { session in
                try session.query("INSERT INTO t VALUES (1)")
                try session.query("INSERT INTO t VALUES ('not a number')")
            }
        }
        #expect(try connection.query("SELECT count(*) AS n FROM t").rows[0].int("n") == 0)
    }
}
