import Foundation
import SluiceBasics
import SluiceStore
import SluiceTestSupport

/// A project served by `sluice serve`, started as a user would (its log appended to one file across
/// restarts), with a store on the project's database for looking at what the service recorded.
final class ServedProject {
    let project: Project
    let logPath: String
    private(set) var service: ChildProcess?
    private var extraEnv: [String: String]

    init(_ project: Project, env: [String: String] = [:]) {
        self.project = project
        logPath = project.path + "/serve.log"
        extraEnv = env
    }

    var path: String { project.path }

    /// Starts `sluice serve ARGS` in the project (the folder defaults to `dags`).
    func start(_ arguments: [String] = []) throws {
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw SystemError("open \(logPath)", errno: errno) }
        defer { close(log) }
        var request = SpawnRequest(
            executable: SluiceBinary.path, arguments: ["sluice", "serve"] + arguments,
            environment: SluiceBinary.environment(
                ["SLUICE_DATABASE_URL": project.databaseURL].merging(extraEnv) { $1 }),
            workdir: project.path)
        request.stdout = log
        request.stderr = log
        service = try ChildProcess.spawn(request)
    }

    /// Waits for the service's log to contain `text` (at least `count` times).
    func waitForLog(_ text: String, count: Int = 1, timeout: Double = 60) -> Bool {
        Waiting.until(timeout: timeout) { log.components(separatedBy: text).count - 1 >= count }
    }

    /// Everything the services logged.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Kills the service with SIGKILL and reaps it.
    func kill9() {
        guard let service else { return }
        kill(service.pid, SIGKILL)
        _ = service.wait()
        self.service = nil
    }

    /// Stops the service with `signal` (graceful for SIGTERM) and returns its exit code.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) -> Int32? {
        guard let service else { return nil }
        kill(service.pid, signal)
        let status = service.wait()
        self.service = nil
        return status.exitCode ?? (128 + (status.signal ?? 0))
    }

    /// Runs `sluice ARGS` in the project.
    func sluice(_ arguments: String...) throws -> CommandResult {
        try SluiceBinary.run(arguments, in: project.path, env: ["SLUICE_DATABASE_URL": project.databaseURL])
    }

    /// A connection to the project's database, for checks.
    func connection() throws -> PGConnection { try PGConnection(conninfo: project.databaseURL) }

    /// The integers of column `n` of a query.
    func ints(_ sql: SQL) throws -> [Int64] {
        try connection().query(sql).rows.compactMap { $0.int("n") }
    }

    /// True once every run recorded is in a final state (and there are `count` of them).
    func allRunsEnded(count: Int) throws -> Bool {
        let rows = try connection().query(
            "SELECT count(*) AS runs, count(*) FILTER (WHERE state IN ('succeeded', 'failed', 'cancelled')) AS ended FROM run"
        ).rows[0]
        return rows.int("runs") == Int64(count) && rows.int("ended") == Int64(count)
    }

    /// Stops whatever service still runs, and removes the project.
    func remove() {
        if service != nil { kill9() }
        project.remove()
    }
}
