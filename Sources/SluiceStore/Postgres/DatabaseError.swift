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
}
