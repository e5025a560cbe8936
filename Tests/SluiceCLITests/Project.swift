import Foundation
import SluiceTestSupport

/// A throwaway project folder with a `dags/` directory, run against its own fresh database.
struct Project {
    let directory: TempDirectory
    let databaseURL: String

    init() throws {
        directory = try TempDirectory("sluice-e2e")
        databaseURL = try TestDatabase.freshConninfo()
    }

    /// A project on a database of its own choosing (a server the test stops and starts).
    init(databaseURL: String) throws {
        directory = try TempDirectory("sluice-e2e")
        self.databaseURL = databaseURL
    }

    var path: String { directory.path }

    @discardableResult
    func dag(_ name: String, _ yaml: String) throws -> String {
        try directory.write("dags/\(name).yaml", yaml)
        return "dags/\(name).yaml"
    }

    /// Runs sluice in the project against its database.
    func sluice(_ arguments: String...) throws -> CommandResult {
        try sluice(arguments, env: [:])
    }

    /// Runs `sluice ARGS...` in the project with more environment.
    func sluice(_ arguments: [String], env: [String: String]) throws -> CommandResult {
        try SluiceBinary.run(arguments, in: path, env: env.merging(["SLUICE_DATABASE_URL": databaseURL]) { a, _ in a })
    }

    /// Removes the project's files and the empty cgroups its killed engines left (`LeftoverCgroups`).
    func remove() {
        LeftoverCgroups.remove(databaseURL: databaseURL)
        directory.remove()
    }
}
