import Foundation
import SluiceBasics
import SluiceStore
import SluiceTestSupport
import Testing

/// An interrupted first start, a half-made cluster and tampered settings never leave an open server.
@Suite(
    "End to end: the embedded server stays private whatever state it is found in", .serialized,
    .enabled(if: geteuid() == 0, "needs root: the server runs as the postgres user"))
struct EmbeddedServerHardeningTests {
    private let real = (try? PostgresBinaries.locate().directory) ?? "/usr/lib/postgresql/15/bin"

    /// A bin directory whose initdb does its work, then says so (its pid in `marker`) and hangs.
    private func hangingInitdb(in directory: TempDirectory) throws -> (bin: String, marker: String) {
        let bin = directory.path + "/bin"
        let markers = directory.path + "/markers"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: markers, withIntermediateDirectories: true)
        chmod(markers, 0o777)
        let script = """
            #!/bin/sh
            "\(real)/initdb" "$@" >/dev/null 2>&1
            echo $$ > \(markers)/initdb.pid
            exec sleep 1000
            """
        try script.write(toFile: bin + "/initdb", atomically: true, encoding: .utf8)
        chmod(bin + "/initdb", 0o755)
        symlink(real + "/postgres", bin + "/postgres")
        return (bin, markers + "/initdb.pid")
    }

    private func serverSettings(_ state: String) throws -> (listen: String, sockets: String) {
        let connection = try PGConnection(conninfo: EmbeddedServer(stateDirectory: state).conninfo)
        let listen = try connection.query("SELECT current_setting('listen_addresses') AS v").rows[0]["v"] ?? "?"
        let sockets = try connection.query("SELECT current_setting('unix_socket_directories') AS v").rows[0]["v"] ?? "?"
        return (listen, sockets)
    }

    @Test(arguments: [SIGTERM, SIGKILL])
    func aSignalDuringTheFirstStartLeavesNoClusterAndStopsInitdb(signal: Int32) throws {
        let directory = try TempDirectory("sluice-first-start")
        defer { directory.remove() }
        let (bin, marker) = try hangingInitdb(in: directory)
        let state = directory.path + "/state"
        let sluice = try SluiceBinary.start(
            ["db", "migrate", "--state-dir", state], in: directory.path, env: ["SLUICE_PG_BINDIR": bin])
        #expect(Waiting.forFile(marker), "initdb never ran")
        let initdbPID = try #require(
            pid_t(try String(contentsOfFile: marker, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(sluice.process.pid, signal)
        let code = sluice.finish()
        #expect(code == (signal == SIGTERM ? 130 : 128 + SIGKILL), "\(sluice.transcript)")
        // The hanging initdb went with it: killed by Sluice on SIGTERM, by the kernel on SIGKILL.
        #expect(Waiting.until(timeout: 10) { kill(initdbPID, 0) != 0 }, "initdb \(initdbPID) outlived sluice")
        #expect(!FileSystem.exists(state + "/pg/data"), "a cluster appeared although its setup was interrupted")
        if signal == SIGTERM {
            #expect(sluice.transcript.contains("interrupted (SIGTERM) while creating the embedded PostgreSQL cluster"))
            #expect(FileManager.default.subpaths(atPath: state + "/pg")?.contains { $0.hasPrefix("data.new") } == false)
        }

        // The next command builds a complete, private cluster.
        let next = try SluiceBinary.run(["db", "migrate", "--state-dir", state], in: directory.path)
        #expect(next.code == 0, "\(next.stderr)")
        #expect(FileManager.default.subpaths(atPath: state + "/pg")?.contains { $0.hasPrefix("data.new") } == false)
        let settings = try serverSettings(state)
        #expect(settings.listen == "")
        #expect(settings.sockets.hasSuffix("/run"))
        #expect(try SluiceBinary.run(["db", "stop", "--state-dir", state], in: directory.path).code == 0)
    }

    @Test func aHalfMadeClusterIsRebuiltWithOneLine() throws {
        let directory = try TempDirectory("sluice-half-made")
        defer { directory.remove() }
        let state = directory.path + "/state"
        // What an interrupted first start of an older Sluice left: initdb's files, none of Sluice's settings.
        try directory.write("state/pg/data/PG_VERSION", "15\n")
        try directory.write("state/pg/data/postgresql.conf", "#listen_addresses = 'localhost'\n")
        chmod(state, 0o700)
        let result = try SluiceBinary.run(["db", "migrate", "--state-dir", state], in: directory.path)
        #expect(result.code == 0, "\(result.stderr)")
        let notices = result.stderr.split(separator: "\n").filter { $0.contains("half-made") }
        #expect(
            notices == [
                "sluice: the embedded PostgreSQL cluster in \(state)/pg/data was left half-made by an interrupted first start; rebuilding it"
            ])
        #expect(try serverSettings(state).listen == "")
        // Rebuilt once: the next command says nothing.
        #expect(try SluiceBinary.run(["db", "migrate", "--state-dir", state], in: directory.path).stderr.isEmpty)
        #expect(try SluiceBinary.run(["db", "stop", "--state-dir", state], in: directory.path).code == 0)
    }

    @Test func settingsAndAccessRulesEditedInTheClusterDoNotOpenIt() throws {
        let directory = try TempDirectory("sluice-tampered")
        defer { directory.remove() }
        let state = directory.path + "/state"
        #expect(try SluiceBinary.run(["db", "migrate", "--state-dir", state], in: directory.path).code == 0)
        #expect(try SluiceBinary.run(["db", "stop", "--state-dir", state], in: directory.path).code == 0)
        let data = state + "/pg/data"
        let conf = try FileHandle(forWritingTo: URL(fileURLWithPath: data + "/postgresql.conf"))
        conf.seekToEndOfFile()
        conf.write(Data("listen_addresses = '*'\nunix_socket_directories = '/tmp'\n".utf8))
        try conf.close()
        try "local all all trust\nhost all all 0.0.0.0/0 trust\n".write(
            toFile: data + "/pg_hba.conf", atomically: false, encoding: .utf8)

        #expect(try SluiceBinary.run(["db", "migrate", "--state-dir", state], in: directory.path).code == 0)
        let settings = try serverSettings(state)
        #expect(settings.listen == "")
        #expect(!settings.sockets.contains("/tmp,") && settings.sockets != "/tmp")
        let hba = try String(contentsOfFile: data + "/pg_hba.conf", encoding: .utf8)
        #expect(!hba.contains("trust"))
        // Another local user (here: the server's own) cannot log in, even through a path to the socket.
        let pid = try #require(EmbeddedServer(stateDirectory: state).postmasterPID)
        let other = try SluiceBinary.runProgram(
            [
                "/bin/su", "postgres", "-s", "/bin/sh", "-c",
                "psql -h /proc/\(pid)/root\(settings.sockets) -U sluice -d sluice -Atc 'select 1'",
            ],
            in: directory.path)
        #expect(other.code != 0)
        #expect(other.stderr.contains("Peer authentication failed"), "\(other.stderr)")
        #expect(try SluiceBinary.run(["db", "stop", "--state-dir", state], in: directory.path).code == 0)
    }
}
