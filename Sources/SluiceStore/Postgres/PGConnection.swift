import CLibPQ
import Foundation
import Synchronization

/// One libpq connection; the only code that calls `PQ*`. The handle is guarded so no two threads use it at once.
public final class PGConnection: Sendable {
    private let handle: Mutex<OpaquePointer?>
    /// Where this connects to, for messages; never includes a password.
    public let targetDescription: String
    private let secrets: [String]

    /// Connects with a libpq URI or conninfo string; `PG*` variables, `.pgpass` and service files apply.
    public init(conninfo: String) throws {
        let secrets = ConnInfo.secrets(in: conninfo)
        self.secrets = secrets
        let pointer = PQconnectdb(conninfo)
        let description = ConnInfo.describe(connection: pointer, conninfo: conninfo)
        targetDescription = description
        guard let pointer, PQstatus(pointer) == CONNECTION_OK else {
            let detail = pointer.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(pointer)
            let reason = ConnInfo.redact(detail.trimmingCharacters(in: .whitespacesAndNewlines), secrets: secrets)
            throw DatabaseError(.connection, "cannot connect to PostgreSQL (\(description)): \(reason)")
        }
        PQsetNoticeProcessor(pointer, { _, _ in }, nil)
        handle = Mutex(pointer)
    }

    deinit {
        handle.withLock { pointer in
            PQfinish(pointer)
            pointer = nil
        }
    }

    /// Runs one statement with bound parameters and returns its rows.
    @discardableResult
    public func query(_ sql: SQL) throws -> PGResult {
        try withSession { session in try session.query(sql) }
    }

    /// Runs statements inside one transaction, holding the connection for its whole length.
    public func transaction<T: Sendable>(_ body: (PGSession) throws -> T) throws -> T {
        try withSession { session in
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

    /// Gives exclusive use of the connection for several statements.
    public func withSession<T: Sendable>(_ body: (PGSession) throws -> T) throws -> T {
        let secrets = self.secrets
        let description = targetDescription
        return try handle.withLock { (pointer) throws -> T in
            guard let pointer else { throw DatabaseError(.connection, "the connection is closed") }
            if PQstatus(pointer) != CONNECTION_OK {
                PQreset(pointer)
                if PQstatus(pointer) != CONNECTION_OK {
                    let detail = ConnInfo.redact(String(cString: PQerrorMessage(pointer)), secrets: secrets)
                    throw DatabaseError(.connection, "lost the connection to PostgreSQL (\(description)): \(detail.trimmingCharacters(in: .whitespacesAndNewlines))")
                }
            }
            return try body(PGSession(pointer: pointer, secrets: secrets))
        }
    }
}

/// Exclusive use of a connection, valid only inside `withSession` or `transaction`.
public struct PGSession {
    fileprivate let pointer: OpaquePointer
    fileprivate let secrets: [String]

    fileprivate init(pointer: OpaquePointer, secrets: [String]) {
        self.pointer = pointer
        self.secrets = secrets
    }

    /// Runs one statement with bound parameters.
    @discardableResult
    public func query(_ sql: SQL) throws -> PGResult {
        let result: OpaquePointer? = withCStringArray(sql.binds) { values in
            PQexecParams(pointer, sql.text, Int32(sql.binds.count), nil, values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Runs SQL text with no parameters; it may hold several statements (used for migrations).
    public func script(_ text: String) throws {
        _ = try consume(PQexec(pointer, text))
    }

    private func consume(_ result: OpaquePointer?) throws -> PGResult {
        defer { PQclear(result) }
        guard let result else {
            throw DatabaseError(.connection, ConnInfo.redact(String(cString: PQerrorMessage(pointer)), secrets: secrets))
        }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
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

/// Calls `body` with a C array of optional C strings.
private func withCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for p in pointers { free(p) } }
    let constPointers = pointers.map { UnsafePointer($0) }
    return constPointers.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Checks whether a server accepts connections, without authenticating.
public func pingPostgres(_ conninfo: String) -> Bool {
    PQping(conninfo) == PQPING_OK
}
