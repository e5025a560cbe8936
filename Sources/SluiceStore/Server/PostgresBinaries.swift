import Foundation
import SluiceBasics

/// Where the PostgreSQL server programs (`initdb`, `postgres`) are.
public struct PostgresBinaries: Sendable {
    /// The directory holding them.
    public let directory: String

    /// `initdb`'s path.
    public var initdb: String { directory + "/initdb" }
    /// `postgres`' path.
    public var postgres: String { directory + "/postgres" }

    /// Finds them: `SLUICE_PG_BINDIR`, then Debian's `/usr/lib/postgresql/<newest>/bin`, then PATH.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> PostgresBinaries
    {
        var candidates: [String] = []
        if let dir = environment["SLUICE_PG_BINDIR"], !dir.isEmpty { candidates.append(dir) }
        let debian = "/usr/lib/postgresql"
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: debian) {
            let sorted = versions.compactMap { v in Int(v).map { ($0, v) } }.sorted { $0.0 > $1.0 }
            candidates += sorted.map { "\(debian)/\($0.1)/bin" }
        }
        if let found = ExecutableLookup.resolve("postgres", path: environment["PATH"]), found.hasPrefix("/") {
            candidates.append((found as NSString).deletingLastPathComponent)
        }
        for dir in candidates where access(dir + "/postgres", X_OK) == 0 && access(dir + "/initdb", X_OK) == 0 {
            return PostgresBinaries(directory: dir)
        }
        throw DatabaseError(
            .connection,
            "PostgreSQL server programs (initdb, postgres) were not found: install them (apt-get install postgresql), set SLUICE_PG_BINDIR, or use --database-url to point at an existing server"
        )
    }
}
