/// The open database: a connection with an up-to-date schema. All SQL lives in this module.
public final class Store: Sendable {
    /// The connection.
    public let connection: PGConnection
    /// What it connected to.
    public let target: DatabaseTarget

    /// Connects (starting the embedded server when needed) and migrates the schema when it is behind.
    public static func open(_ target: DatabaseTarget, migrate: Bool = true) throws -> Store {
        let connection: PGConnection
        switch target {
        case .url(let url):
            connection = try PGConnection(conninfo: url)
        case .embedded(let server):
            // Usually the server is up: connect first, and only when that fails create or start it.
            if let running = try? PGConnection(conninfo: server.conninfo) {
                connection = running
            } else {
                try server.ensureRunning()
                connection = try PGConnection(conninfo: server.conninfo)
            }
        }
        if migrate { try Migrator.migrate(connection) }
        return Store(connection: connection, target: target)
    }

    /// A further connection to the same database (for a listener, or a second worker).
    public func openConnection() throws -> PGConnection {
        switch target {
        case .url(let url): return try PGConnection(conninfo: url)
        case .embedded(let server): return try PGConnection(conninfo: server.conninfo)
        }
    }

    private init(connection: PGConnection, target: DatabaseTarget) {
        self.connection = connection
        self.target = target
    }
}
