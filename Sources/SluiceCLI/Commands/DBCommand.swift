import ArgumentParser
import Foundation
import SluiceStore

/// `sluice db`: the database's schema and the embedded server.
struct DBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Manage the database: migrate, status, and stopping the embedded server.",
        subcommands: [DBMigrateCommand.self, DBStatusCommand.self, DBStopCommand.self, DBGrantReadOnlyCommand.self])
}

/// `sluice db grant-readonly ROLE`.
struct DBGrantReadOnlyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant-readonly",
        abstract: "Create (or narrow) a role that can read every Sluice table and write none, for dashboards.",
        discussion: """
            The role gets LOGIN without a password (set one with ALTER ROLE … PASSWORD, or use peer or
            certificate authentication), SELECT on every table now and on those later migrations add, no other
            table privilege, and read-only transactions by default. A superuser role is refused.
            """)

    @Argument(help: "The role's name.") var role: String
    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if role.isEmpty || role.count > 63 || role.contains("\0") {
            throw ValidationError("a role name has 1 to 63 characters")
        }
    }

    func run() throws {
        let store = try global.openStore()
        let grant: ReadOnlyRole.Grant
        do {
            grant = try ReadOnlyRole.grant(role, on: store.connection)
        } catch let refused as ReadOnlyRole.Refused {
            throw CLIFailure(refused.description, exitCode: ExitCodes.usage)
        }
        if json { return try JSONOutput.print(grant) }
        print(
            "\(grant.created ? "created" : "narrowed") role \(grant.role): it can read every table of \(grant.database).\(grant.schema), and write none"
        )
        print(
            "connect a dashboard as: user=\(grant.role) dbname=\(grant.database) (set a password, or use peer authentication)"
        )
    }
}

/// `sluice db migrate`.
struct DBMigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending schema migrations (each in a transaction, under an advisory lock).")

    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let store = try global.openStore(migrate: false, create: true)
        let applied = try Migrator.migrate(store.connection)
        let status = try Migrator.status(store.connection)
        if json {
            try JSONOutput.print(MigrateOutput(applied: applied, currentVersion: status.currentVersion))
        } else if applied.isEmpty {
            print("schema is up to date (version \(status.currentVersion))")
        } else {
            print(
                "applied migration\(applied.count == 1 ? "" : "s") \(applied.map(String.init).joined(separator: ", ")); schema is at version \(status.currentVersion)"
            )
        }
    }

    struct MigrateOutput: Encodable {
        let applied: [Int]
        let currentVersion: Int
    }
}

/// `sluice db status`.
struct DBStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show which database is used, whether it is reachable and its schema version.")

    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    struct Output: Encodable {
        let database: String
        let embedded: Bool
        let stateDirectory: String?
        let serverPID: Int32?
        let schema: SchemaStatus
    }

    func run() throws {
        let state = global.resolveStateDirectory()
        let target = global.databaseTarget(stateDirectory: state)
        let store = try global.openStore(migrate: false)
        let schema = try Migrator.status(store.connection)
        var pid: Int32?
        if case .embedded(let server) = target { pid = server.postmasterPID }
        let embedded = pid != nil
        let output = Output(
            database: store.connection.targetDescription, embedded: embedded,
            stateDirectory: embedded ? state : nil, serverPID: pid, schema: schema)
        if json {
            try JSONOutput.print(output)
            return
        }
        print("database:  \(output.database)\(embedded ? " (embedded, pid \(pid!))" : "")")
        if embedded { print("state dir: \(state)") }
        print("schema:    version \(schema.currentVersion) (this sluice expects \(schema.expectedVersion))")
        if !schema.pending.isEmpty {
            print("pending:   \(schema.pending.map(String.init).joined(separator: ", ")) — run: sluice db migrate")
        }
        if !schema.modified.isEmpty {
            print(
                "warning:   applied migrations \(schema.modified.map(String.init).joined(separator: ", ")) differ from this build's copy"
            )
        }
    }
}

/// `sluice db stop`.
struct DBStopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop the embedded PostgreSQL server.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let state = global.resolveStateDirectory()
        guard case .embedded(let server) = global.databaseTarget(stateDirectory: state) else {
            throw CLIFailure(
                "db stop only stops the embedded server; this command was given a shared database URL",
                exitCode: ExitCodes.usage)
        }
        if try server.stop() {
            print("stopped the embedded server in \(server.serverDirectory)")
        } else {
            print("the embedded server in \(server.serverDirectory) was not running")
        }
    }
}
