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

    /// Where the state directory is, and how it was chosen (for a message when it holds nothing).
    struct StateLocation {
        /// The directory, absolute.
        let path: String
        /// How it was chosen, in words.
        let origin: String
    }

    /// The state directory: the option, `SLUICE_STATE_DIR`, `.sluice` beside the DAG's folder, or the nearest
    /// `.sluice` in this directory or above (else `./.sluice`).
    func stateLocation(dagFile: String? = nil) -> StateLocation {
        let environment = ProcessInfo.processInfo.environment
        if let dir = stateDirectory, !dir.isEmpty {
            return StateLocation(path: FileSystem.absolute(dir), origin: "--state-dir")
        }
        if let dir = environment["SLUICE_STATE_DIR"], !dir.isEmpty {
            return StateLocation(path: FileSystem.absolute(dir), origin: "SLUICE_STATE_DIR")
        }
        if let dagFile {
            let dagFolder = (FileSystem.absolute(dagFile) as NSString).deletingLastPathComponent
            let root = (dagFolder as NSString).deletingLastPathComponent
            return StateLocation(
                path: (root as NSString).appendingPathComponent(".sluice"), origin: "the DAG's project")
        }
        let here = FileSystem.absolute(".")
        if let found = ProjectSearch.upward(from: here, containing: [".sluice"], directoriesOnly: true) {
            return StateLocation(path: (found as NSString).appendingPathComponent(".sluice"), origin: "found above")
        }
        return StateLocation(
            path: (here as NSString).appendingPathComponent(".sluice"),
            origin: "no .sluice directory in \(here) or any directory above it")
    }

    /// The state directory's path (see `stateLocation`).
    func resolveStateDirectory(dagFile: String? = nil) -> String { stateLocation(dagFile: dagFile).path }

    /// The database to use: `--database-url`, `SLUICE_DATABASE_URL`, or the embedded server.
    func databaseTarget(stateDirectory: String) -> DatabaseTarget {
        if let url = databaseURL, !url.isEmpty { return .url(url) }
        if let url = ProcessInfo.processInfo.environment["SLUICE_DATABASE_URL"], !url.isEmpty { return .url(url) }
        return .embedded(EmbeddedServer(stateDirectory: stateDirectory))
    }

    /// Opens the store, migrating it when it is behind. Without `create`, an embedded database that does not
    /// exist yet is not made: read-only commands say there is no state, where they looked, and what to do.
    func openStore(migrate: Bool = true, create: Bool = false) throws -> Store {
        let location = stateLocation()
        let target = databaseTarget(stateDirectory: location.path)
        if case .embedded(let server) = target, !create, !FileSystem.exists(server.dataDirectory + "/PG_VERSION") {
            let looked =
                location.origin.hasPrefix("no .sluice")
                ? location.origin : "\(location.path) (from \(location.origin)) holds no Sluice database"
            throw CLIFailure(
                "no Sluice state found: \(looked). Run a DAG first (sluice run dags/FILE.yaml), or point at existing state with --state-dir DIR, SLUICE_STATE_DIR or --database-url URL",
                exitCode: ExitCodes.database)
        }
        return try Store.open(target, migrate: migrate)
    }
}

/// Walks up from a directory to the nearest one that holds any of some names (a project's root).
enum ProjectSearch {
    /// The nearest directory from `start` upwards holding one of `markers`; nil when none does.
    static func upward(from start: String, containing markers: [String], directoriesOnly: Bool = false) -> String? {
        var directory = start
        while true {
            for marker in markers {
                let candidate = (directory as NSString).appendingPathComponent(marker)
                if directoriesOnly ? FileSystem.isDirectory(candidate) : FileSystem.exists(candidate) {
                    return directory
                }
            }
            let parent = (directory as NSString).deletingLastPathComponent
            if parent == directory || parent.isEmpty { return nil }
            directory = parent
        }
    }
}
