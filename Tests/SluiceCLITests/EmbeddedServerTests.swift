import Foundation
import SluiceTestSupport
import Testing

@Suite("End to end: the embedded PostgreSQL server", .serialized)
struct EmbeddedServerTests {
    private func serverPID(_ result: CommandResult) throws -> Int {
        try #require(try result.json()["server_pid"] as? Int)
    }

    /// Pids of every `postgres -D DIR` process for this data directory.
    private func postmasters(dataDirectory: String) -> [Int] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int($0) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return argv.first?.hasSuffix("/postgres") == true && argv.dropFirst().starts(with: ["-D", dataDirectory])
        }.sorted()
    }

    private func owner(of pid: Int) throws -> uid_t {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("Uid:") })
        return try #require(uid_t(line.split(separator: "\t")[1]))
    }

    @Test(
        "created on first use beside the DAG folder, reused, stopped — even under a directory the server user cannot enter",
        .enabled(if: geteuid() == 0, "needs root: the server must drop to an unprivileged user"))
    func embeddedServerLifecycle() throws {
        let outer = try TempDirectory("sluice-private")
        defer { outer.remove() }
        chmod(outer.path, 0o700)  // root only: the postgres user cannot enter
        let project = outer.path + "/project"
        try FileManager.default.createDirectory(atPath: project + "/dags", withIntermediateDirectories: true)
        try "dag: local\nsteps:\n  a: {command: \"echo hi\"}\n".write(
            toFile: project + "/dags/local.yaml", atomically: true, encoding: .utf8)

        let first = try SluiceBinary.run(["run", "dags/local.yaml"], in: project)
        #expect(first.code == 0, "\(first.stderr)")
        #expect(FileManager.default.fileExists(atPath: project + "/.sluice/pg/data/PG_VERSION"))
        let pid = try serverPID(try SluiceBinary.run(["db", "status", "--json"], in: project))
        #expect(try owner(of: pid) != 0)
        // Only a Unix socket: no TCP listener in the server's settings.
        let settings = try String(contentsOfFile: project + "/.sluice/pg/data/postgresql.conf", encoding: .utf8)
        #expect(settings.contains("listen_addresses = ''"))

        // Found again from a subdirectory, and the same server is reused.
        try FileManager.default.createDirectory(atPath: project + "/dags/sub", withIntermediateDirectories: true)
        let again = try SluiceBinary.run(["status", "--json"], in: project + "/dags/sub")
        #expect(again.code == 0)
        #expect((try again.json()["dags"] as? [[String: Any]])?.first?["runs"] as? Int == 1)
        #expect(try serverPID(try SluiceBinary.run(["db", "status", "--json"], in: project)) == pid)

        let stop = try SluiceBinary.run(["db", "stop"], in: project)
        #expect(stop.code == 0)
        #expect(kill(pid_t(pid), 0) == -1)
        #expect(try SluiceBinary.run(["db", "stop"], in: project).stdout.contains("was not running"))

        // Restarted on demand with the same data.
        let restarted = try SluiceBinary.run(["runs", "--json"], in: project)
        #expect((try restarted.json()["runs"] as? [Any])?.count == 1)
        #expect(try SluiceBinary.run(["db", "stop"], in: project).code == 0)
    }

    @Test("commands racing to create the server share one cluster")
    func concurrentFirstUse() throws {
        let directory = try TempDirectory("sluice-race")
        defer { directory.remove() }
        let state = directory.path + "/state"
        // Traversable by the server user, so its command line shows this path rather than a bind mount.
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        chmod(state, 0o755)
        let commands = try (0..<3).map { _ in
            try SluiceBinary.start(["db", "migrate", "--state-dir", state], in: directory.path)
        }
        let codes = commands.map { $0.finish() }
        #expect(codes == [0, 0, 0], "\(commands.map(\.transcript))")
        let pid = try serverPID(
            try SluiceBinary.run(["db", "status", "--json", "--state-dir", state], in: directory.path))
        #expect(postmasters(dataDirectory: state + "/pg/data") == [pid])
        #expect(try SluiceBinary.run(["db", "stop", "--state-dir", state], in: directory.path).code == 0)
    }

    @Test("an explicit --state-dir is honoured and the server is private to it")
    func explicitStateDirectory() throws {
        let directory = try TempDirectory("sluice-state")
        defer { directory.remove() }
        try directory.write("dags/x.yaml", "dag: x\nsteps:\n  a: {command: \"true\"}\n")
        let state = directory.path + "/elsewhere"
        let result = try SluiceBinary.run(["run", "dags/x.yaml", "--state-dir", state], in: directory.path)
        #expect(result.code == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: state + "/pg/run/.s.PGSQL.5432"))
        #expect(FileManager.default.fileExists(atPath: state + "/logs/x/1/a.1.status"))
        let migrate = try SluiceBinary.run(["db", "migrate", "--state-dir", state], in: directory.path)
        #expect(migrate.stdout.hasPrefix("schema is up to date"))
        #expect(try SluiceBinary.run(["db", "stop", "--state-dir", state], in: directory.path).code == 0)
    }
}
