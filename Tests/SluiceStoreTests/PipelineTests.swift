import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

/// A write queued with `sendWithNext` goes with the next statement: one round trip, one transaction.
@Suite("Writes sent with the next statement")
struct PipelineTests {
    /// A connection on a fresh database with a table `t` whose `v` is unique, and a second one to look from.
    private func connections() throws -> (PGConnection, PGConnection) {
        let conninfo = try TestDatabase.freshConninfo()
        let connection = try PGConnection(conninfo: conninfo)
        try connection.query("CREATE TABLE t (v integer PRIMARY KEY)")
        // As the store's statements do: a change found made already raises SQLSTATE SL409.
        try connection.query(
            """
            CREATE FUNCTION conflict() RETURNS integer LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'made already' USING ERRCODE = 'SL409'; END $$
            """)
        return (connection, try PGConnection(conninfo: conninfo))
    }

    /// Inserts `v`, or raises SL409 when it is there already.
    private func insert(_ v: Int) -> SQL {
        """
        WITH i AS (INSERT INTO t VALUES (\(v)) ON CONFLICT DO NOTHING RETURNING v)
        SELECT coalesce((SELECT v FROM i), conflict()) AS v
        """
    }

    private func values(_ connection: PGConnection) throws -> [Int64] {
        try connection.query("SELECT v FROM t ORDER BY v").rows.compactMap { $0.int("v") }
    }

    @Test func aQueuedWriteGoesWithTheNextStatementInItsRoundTripAndTransaction() throws {
        let (connection, observer) = try connections()
        connection.sendWithNext(insert(1))
        #expect(connection.hasQueued)
        #expect(try values(observer) == [])  // not sent yet
        let row = try connection.query(insert(2)).rows[0]
        #expect(row.int("v") == 2)  // the result is the carrying statement's
        #expect(!connection.hasQueued)
        #expect(try values(observer) == [1, 2])
        let transactions = try observer.query("SELECT count(DISTINCT xmin::text) AS n FROM t").rows[0].int("n")
        #expect(transactions == 1)
        let trips = connection.roundTrips
        let text = insert(1).text
        #expect(trips[text] == 1 && trips[PGConnection.riding + text] == 1, "\(trips)")
    }

    /// A next statement of the other planning kind (a session setting apart) cannot carry the write: the write
    /// commits on its own first, then the statement runs.
    @Test func aStatementOfTheOtherPlanningKindFindsTheQueuedWriteCommittedBeforeIt() throws {
        let (connection, observer) = try connections()
        try connection.query(insert(0))
        connection.sendWithNext(insert(1))
        let row = try connection.query(("SELECT count(*) AS n FROM t" as SQL).plannedOnce()).rows[0]
        #expect(row.int("n") == 2)  // it sees the write, committed
        #expect(!connection.hasQueued)
        #expect(try values(observer) == [0, 1])
    }

    /// A next statement that cannot be prepared fails before anything is sent: the write stays queued, as with a
    /// failing statement; the connection goes on, and the statement is not taken for prepared.
    @Test func aNextStatementThatCannotBePreparedLeavesTheQueuedWriteQueued() throws {
        let (connection, observer) = try connections()
        try connection.query(insert(0))
        connection.sendWithNext(insert(1))
        for _ in 0..<2 {
            let error = #expect(throws: DatabaseError.self) { try connection.query("SELECT no_such_column FROM t") }
            #expect(error?.sqlState == "42703", "\(String(describing: error))")
            #expect(connection.hasQueued)
            #expect(try values(observer) == [0])
        }
        try connection.query(insert(2))
        #expect(try values(observer) == [0, 1, 2])
        #expect(connection.resets == 0)
    }

    @Test func aFailingNextStatementRollsTheQueuedWriteBackAndLeavesItQueued() throws {
        let (connection, observer) = try connections()
        connection.sendWithNext(insert(1))
        let error = #expect(throws: DatabaseError.self) { try connection.query("SELECT 1 / 0") }
        #expect(error?.sqlState == "22012")
        #expect(try values(observer) == [])
        #expect(connection.hasQueued)
        try connection.sendQueued()
        #expect(!connection.hasQueued)
        #expect(try values(observer) == [1])
    }

    /// A statement sent without the queued writes (one that commits without waiting for its flush) leaves them
    /// queued, with or without work to do while it runs; the next statement that carries them takes them.
    @Test func aStatementNotCarryingTheQueuedWritesLeavesThemForTheNext() throws {
        let (connection, observer) = try connections()
        connection.sendWithNext(insert(1))
        var ranMeanwhile = false
        try connection.query(insert(2), meanwhile: { ranMeanwhile = true }, carryingQueued: false)
        try connection.query(insert(3), carryingQueued: false)
        #expect(ranMeanwhile)
        #expect(connection.hasQueued)
        #expect(try values(observer) == [2, 3])
        try connection.query(insert(4))
        #expect(!connection.hasQueued)
        #expect(try values(observer) == [1, 2, 3, 4])
    }

    @Test func aFailingQueuedWriteIsDroppedAndTheNextStatementDoesNotRun() throws {
        let (connection, observer) = try connections()
        try connection.query(insert(1))
        connection.sendWithNext(insert(1))  // conflicts
        let error = #expect(throws: DatabaseError.self) { try connection.query(insert(2)) }
        #expect(error?.sqlState == "SL409")
        #expect(!connection.hasQueued)
        #expect(try values(observer) == [1])
        try connection.query(insert(3))
        #expect(try values(observer) == [1, 3])
    }

    @Test func aTransactionSendsTheQueuedWriteFirstOnItsOwn() throws {
        let (connection, observer) = try connections()
        connection.sendWithNext(insert(1))
        #expect(throws: DatabaseError.self) {
            try connection.transaction { session in
                try session.query(insert(2))
                try session.query("SELECT 1 / 0")
            }
        }
        #expect(try values(observer) == [1])
    }

    /// The connection is lost under a queued write: the retry sends it again; if it had committed (here another
    /// session made its change, as a lost reply of a commit would leave it), its conflict means done.
    @Test func afterALostConnectionTheQueuedWriteGoesAgainOrIsFoundMade() throws {
        for madeMeanwhile in [false, true] {
            let (connection, observer) = try connections()
            let pid = try connection.query("SELECT pg_backend_pid() AS pid").rows[0].int("pid") ?? 0
            connection.sendWithNext(insert(1))
            try observer.query("SELECT pg_terminate_backend(\(pid)::integer)")
            let lost = #expect(throws: DatabaseError.self) { try connection.query(insert(2)) }
            #expect(lost?.isTransient == true)
            #expect(connection.hasQueued)
            #expect(try values(observer) == [])
            if madeMeanwhile { try observer.query(insert(1)) }
            try connection.query(insert(2))
            #expect(!connection.hasQueued)
            #expect(try values(observer) == [1, 2])
            #expect(connection.resets == 1)
        }
    }
}
