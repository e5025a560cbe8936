import ArgumentParser
import Foundation
import SluiceBasics
import SluiceStore

/// Options every command that touches the database takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "A libpq URI or conninfo string for a shared PostgreSQL server (default: $SLUICE_DATABASE_URL, else the embedded server).",
            valueName: "url"))
    var databaseURL: String?

    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp(
            "Where the embedded server and logs live (default: $SLUICE_STATE_DIR, else .sluice/ next to the DAG folder).",
            valueName: "dir"))
    var stateDirectory: String?

    /// The state directory: the option, `SLUICE_STATE_DIR`, `.sluice` beside the DAG's folder, or the nearest `.sluice` above.
    func resolveStateDirectory(dagFile: String? = nil) -> String {
        let environment = ProcessInfo.processInfo.environment
        if let dir = stateDirectory, !dir.isEmpty { return FileSystem.absolute(dir) }
        if let dir = environment["SLUICE_STATE_DIR"], !dir.isEmpty { return FileSystem.absolute(dir) }
        if let dagFile {
            let dagFolder = (FileSystem.absolute(dagFile) as NSString).deletingLastPathComponent
            return ((dagFolder as NSString).deletingLastPathComponent as NSString).appendingPathComponent(".sluice")
        }
        var directory = FileSystem.absolute(".")
        while true {
            let candidate = (directory as NSString).appendingPathComponent(".sluice")
            if FileSystem.isDirectory(candidate) { return candidate }
            let parent = (directory as NSString).deletingLastPathComponent
            if parent == directory || parent.isEmpty { break }
            directory = parent
        }
        return FileSystem.absolute(".sluice")
    }

    /// The database to use: `--database-url`, `SLUICE_DATABASE_URL`, or the embedded server.
    func databaseTarget(stateDirectory: String) -> DatabaseTarget {
        if let url = databaseURL, !url.isEmpty { return .url(url) }
        if let url = ProcessInfo.processInfo.environment["SLUICE_DATABASE_URL"], !url.isEmpty { return .url(url) }
        return .embedded(EmbeddedServer(stateDirectory: stateDirectory))
    }

    /// Opens the store, migrating it when it is behind.
    func openStore(migrate: Bool = true) throws -> Store {
        let state = resolveStateDirectory()
        return try Store.open(databaseTarget(stateDirectory: state), migrate: migrate)
    }
}
