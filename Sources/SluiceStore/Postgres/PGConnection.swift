import CLibPQ
import Foundation
import Synchronization

/// One libpq connection; the only code that calls `PQ*`. The handle is guarded so no two threads use it at once.
public final class PGConnection: Sendable {
    private let handle: Mutex<ConnectionHandle?>
    /// Where this connects to, for messages; never includes a password.
    public let targetDescription: String
    private let secrets: [String]

    /// Connects with a libpq URI or conninfo string; `PG*` variables, `.pgpass` and service files apply.
    public init(conninfo: String) throws {
        let secrets = ConnInfo.secrets(in: conninfo)
        self.secrets = secrets
        guard ConnInfo.parses(conninfo) else {
            // libpq's parse errors quote the text around the mistake, which may be part of a password.
            throw DatabaseError(
                .connection,
                "the database URL is not a libpq connection string or URI that parses: quote a value that holds spaces with single quotes ('…'), or percent-encode it in a URI"
            )
        }
        let pointer = PQconnectdb(conninfo)
        let description = ConnInfo.describe(connection: pointer, conninfo: conninfo)
        targetDescription = description
        guard let pointer, PQstatus(pointer) == CONNECTION_OK else {
            let detail = pointer.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(pointer)
            let reason = ConnInfo.redact(detail, secrets: secrets)
            throw DatabaseError(.connection, "cannot connect to PostgreSQL (\(description)): \(reason)")
        }
        PQsetNoticeProcessor(pointer, { _, _ in }, nil)
        handle = Mutex(ConnectionHandle(pointer: pointer))
    }

    deinit {
        handle.withLock { connection in
            if let connection { PQfinish(connection.pointer) }
            connection = nil
        }
    }

    /// Runs one statement with bound parameters and returns its rows. `meanwhile` runs once the statement is
    /// sent, while the server works on it (unless it has to wait for a statement of another kind before it);
    /// it runs with this connection held, so it must not use it.
    ///
    /// With `carryingQueued` false the queued writes stay queued, for a later statement to carry: a statement
    /// that commits without waiting for its flush must not take them with it.
    @discardableResult
    public func query(_ sql: SQL, meanwhile: (() -> Void)? = nil, carryingQueued: Bool = true) throws -> PGResult {
        try withSession { session in try session.query(sql, meanwhile: meanwhile, carryingQueued: carryingQueued) }
    }

    /// Queues a write to go with the next statement run on this connection: in the same round trip (libpq's
    /// pipeline mode) and the same transaction, before it. So it commits when that statement commits, and as
    /// durably; if either fails, neither commits. `sendQueued` sends what no statement has carried yet.
    public func sendWithNext(_ sql: SQL) {
        handle.withLock { $0?.queued.append(sql) }
    }

    /// Whether writes are queued to go with the next statement.
    public var hasQueued: Bool { handle.withLock { !($0?.queued.isEmpty ?? true) } }

    /// Sends the queued writes now, in one round trip and one transaction of their own.
    public func sendQueued() throws {
        try withSession { session in try session.sendQueued() }
    }

    /// Runs statements inside one transaction, holding the connection for its whole length.
    public func transaction<T: Sendable>(_ body: (PGSession) throws -> T) throws -> T {
        try withSession { session in
            try session.sendQueued()
            try session.script("BEGIN")
            do {
                let value = try body(session)
                try session.script("COMMIT")
                return value
            } catch {
                try? session.script("ROLLBACK")
                throw error
            }
        }
    }

    /// How many times the connection was re-established: a session's LISTENs and locks did not survive those.
    public var resets: Int { handle.withLock { $0?.resets ?? 0 } }

    /// Every round trip made on this connection since it was (re)established, by statement text: what a test
    /// of the statements a step costs counts.
    public var roundTrips: [String: Int] {
        handle.withLock { connection in
            guard let connection else { return [:] }
            var result = connection.otherRoundTrips
            for (text, statement) in connection.prepared {
                result["PREPARE " + text, default: 0] += 1
                result[text, default: 0] += statement.executions
                if statement.rides > 0 { result[PGConnection.riding + text, default: 0] += statement.rides }
            }
            return result
        }
    }

    /// How `roundTrips` names the executions of a statement that went in another's round trip (`sendWithNext`).
    public static let riding = "(with the next) "

    /// Gives exclusive use of the connection for several statements.
    public func withSession<T: Sendable>(_ body: (PGSession) throws -> T) throws -> T {
        let secrets = self.secrets
        let description = targetDescription
        return try handle.withLock { (connection) throws -> T in
            guard let connection else { throw DatabaseError(.connection, "the connection is closed") }
            let pointer = connection.pointer
            if PQstatus(pointer) != CONNECTION_OK || connection.mustReset {
                connection.mustReset = false
                connection.prepared.removeAll()
                connection.otherRoundTrips.removeAll()
                connection.genericPlans = false
                connection.resets += 1
                PQreset(pointer)
                if PQstatus(pointer) != CONNECTION_OK {
                    let detail = ConnInfo.redact(String(cString: PQerrorMessage(pointer)), secrets: secrets)
                    throw DatabaseError(
                        .connection,
                        "lost the connection to PostgreSQL (\(description)): \(detail)"
                    )
                }
            }
            return try body(PGSession(connection: connection, secrets: secrets))
        }
    }
}

/// The libpq handle and the statements prepared on it; only touched under the connection's lock.
final class ConnectionHandle {
    let pointer: OpaquePointer
    /// Statement text → its prepared statement, with how often it was executed.
    var prepared: [String: PreparedStatement] = [:]
    /// Times the connection was re-established.
    var resets = 0
    /// Whether the session's `plan_cache_mode` is `force_generic_plan` (set for `plannedOnce` statements).
    var genericPlans = false
    /// Round trips that ran no prepared statement (scripts, settings), by text.
    var otherRoundTrips: [String: Int] = [:]
    /// Writes waiting to go with the next statement (`PGConnection.sendWithNext`), oldest first.
    var queued: [SQL] = []
    /// How many of the queued writes (the first ones) may have committed already: a round trip that carried
    /// them lost its connection before their reply came.
    var queuedMaybeCommitted = 0
    /// A pipeline was left in a state the session cannot go on from: reconnect before the next statement.
    var mustReset = false

    init(pointer: OpaquePointer) { self.pointer = pointer }
}

/// A statement prepared on a connection: its name, and its executions (counted where it is looked up anyway).
final class PreparedStatement {
    let name: String
    /// Executions in a round trip of their own (or as the last of a pipeline).
    var executions = 0
    /// Executions that went in the round trip of the statement after them.
    var rides = 0

    init(name: String) { self.name = name }
}

/// Exclusive use of a connection, valid only inside `withSession` or `transaction`.
public struct PGSession {
    let connection: ConnectionHandle
    let secrets: [String]
    var pointer: OpaquePointer { connection.pointer }

    fileprivate init(connection: ConnectionHandle, secrets: [String]) {
        self.connection = connection
        self.secrets = secrets
    }

    /// Runs one statement with bound parameters, prepared once per connection and reused; the writes queued
    /// to go with it (`PGConnection.sendWithNext`) go first, in its round trip and transaction, unless
    /// `carryingQueued` is false.
    @discardableResult
    public func query(_ sql: SQL, meanwhile: (() -> Void)? = nil, carryingQueued: Bool = true) throws -> PGResult {
        if carryingQueued, !connection.queued.isEmpty || meanwhile != nil,
            let result = try carryQueued(with: sql, meanwhile: meanwhile)
        {
            return result
        }
        if !carryingQueued, let meanwhile, let result = try runAlone(sql, meanwhile: meanwhile) { return result }
        try usePlanMode(of: sql)
        let statement = try prepared(sql)
        statement.executions += 1
        let name = statement.name
        let result: OpaquePointer? = withCStringArray(sql.binds) { values in
            PQexecPrepared(pointer, name, Int32(sql.binds.count), values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Sets the session's planning for `sql`'s kind of statement, if the last statement was of the other kind.
    func usePlanMode(of sql: SQL) throws {
        guard sql.plansOnce != connection.genericPlans, PQtransactionStatus(pointer) == PQTRANS_IDLE else { return }
        // Read by PostgreSQL when a prepared statement executes; switched only when the kind changes,
        // so a run's per-step statements pay for it once. Never inside a transaction, whose rollback
        // would undo the setting behind this flag's back.
        let setting =
            sql.plansOnce
            ? "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off"
            : "RESET plan_cache_mode; RESET enable_seqscan"
        connection.otherRoundTrips[setting, default: 0] += 1
        _ = try consume(PQexec(pointer, setting))
        connection.genericPlans = sql.plansOnce
    }

    /// The statement prepared for `sql`'s text on this connection, prepared now if it was not yet.
    func prepared(_ sql: SQL) throws -> PreparedStatement {
        if let known = connection.prepared[sql.text] { return known }
        let statement = PreparedStatement(name: "sluice_\(connection.prepared.count + 1)")
        _ = try consume(PQprepare(pointer, statement.name, sql.text, Int32(sql.binds.count), nil))
        connection.prepared[sql.text] = statement
        return statement
    }

    /// Runs SQL text with no parameters; it may hold several statements (used for migrations). Queued writes
    /// are sent first, on their own.
    public func script(_ text: String) throws {
        try sendQueued()
        connection.otherRoundTrips[text, default: 0] += 1
        _ = try consume(PQexec(pointer, text))
    }

    /// Turns a result into rows, or into the error it reports; frees it either way.
    func consume(_ result: OpaquePointer?) throws -> PGResult {
        defer { PQclear(result) }
        guard let result else {
            throw DatabaseError(
                .connection, ConnInfo.redact(String(cString: PQerrorMessage(pointer)), secrets: secrets))
        }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            // The primary message (and hint) rather than the full text with its "ERROR:" prefix and context.
            let field = { (code: UInt8) in PQresultErrorField(result, Int32(code)).map { String(cString: $0) } }
            let primary = field(UInt8(ascii: "M")) ?? String(cString: PQresultErrorMessage(result))
            let message = primary + (field(UInt8(ascii: "H")).map { " (hint: \($0))" } ?? "")
            let state = field(UInt8(ascii: "C"))
            let kind: DatabaseError.Kind = PQstatus(pointer) == CONNECTION_OK ? .statement : .connection
            throw DatabaseError(kind, ConnInfo.redact(message, secrets: secrets), sqlState: state)
        }
        let columnCount = Int(PQnfields(result))
        var columns: [String: Int] = [:]
        for c in 0..<columnCount { columns[String(cString: PQfname(result, Int32(c)))] = c }
        let rowCount = Int(PQntuples(result))
        var rows: [PGRow] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for c in 0..<columnCount {
                if PQgetisnull(result, Int32(r), Int32(c)) == 1 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, Int32(r), Int32(c))))
                }
            }
            rows.append(PGRow(values: values, columns: columns))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PGResult(rows: rows, affected: affected)
    }
}

extension PGConnection {
    /// The connection's socket, to wait on for notifications; nil when the connection is down.
    public var socketDescriptor: Int32? {
        handle.withLock { connection in
            guard let connection else { return nil }
            let fd = PQsocket(connection.pointer)
            return fd >= 0 ? fd : nil
        }
    }

    /// Reads what the server sent and returns the notifications (channel, payload) that arrived.
    /// Throws when the connection is lost (then its LISTENs are gone too, and must be made again).
    public func notifications() throws -> [(channel: String, payload: String)] {
        let description = targetDescription
        return try handle.withLock { connection in
            guard let connection else { throw DatabaseError(.connection, "the connection is closed") }
            guard PQconsumeInput(connection.pointer) == 1, PQstatus(connection.pointer) == CONNECTION_OK else {
                throw DatabaseError(.connection, "lost the listening connection to PostgreSQL (\(description))")
            }
            var found: [(String, String)] = []
            while let notice = PQnotifies(connection.pointer) {
                found.append((String(cString: notice.pointee.relname), String(cString: notice.pointee.extra)))
                PQfreemem(notice)
            }
            return found
        }
    }
}

/// Calls `body` with a C array of optional C strings.
func withCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for p in pointers { free(p) } }
    let constPointers = pointers.map { UnsafePointer($0) }
    return constPointers.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Checks whether a server accepts connections, without authenticating.
public func pingPostgres(_ conninfo: String) -> Bool {
    PQping(conninfo) == PQPING_OK
}
