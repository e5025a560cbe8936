/// A database failure: a connection that could not be made, or a statement that failed.
public struct DatabaseError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Kind: Sendable {
        case connection, statement, schema
    }

    /// The kind.
    public let kind: Kind
    /// The message, with any password removed.
    public let message: String
    /// The SQLSTATE code, for statement errors.
    public let sqlState: String?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String, sqlState: String? = nil) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
    }

    /// The message.
    public var description: String { message }

    /// True when the same write may well succeed later: the connection was lost, or the server cannot take
    /// writes for now (a full disk, too many connections, shutting down or starting, read-only).
    public var isTransient: Bool {
        if kind == .connection { return true }
        guard let state = sqlState else { return false }
        return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P") || state == "25006"
            || state == "58030"
    }
}
