import Foundation
import SluiceBasics

/// The private PostgreSQL cluster under a state directory: created, started and stopped on demand.
///
/// Layout: `<state>/pg/data` (the cluster), `<state>/pg/run` (its Unix socket; no TCP port),
/// `<state>/pg/server.log`. As root the server runs as an unprivileged user; when that user cannot
/// reach the state directory, the server runs in a private mount namespace where `<state>/pg` is
/// bind-mounted on `/run/sluice`, so nothing about the user's directories has to change.
public struct EmbeddedServer: Sendable {
    /// The state directory, absolute.
    public let stateDirectory: String

    /// Where the server's files live.
    public var serverDirectory: String { stateDirectory + "/pg" }
    /// The cluster's data directory.
    public var dataDirectory: String { serverDirectory + "/data" }
    /// The directory of the Unix socket.
    public var socketDirectory: String { serverDirectory + "/run" }
    /// The server's log file.
    public var logFile: String { serverDirectory + "/server.log" }
    /// The mount point used when the server user cannot reach the state directory.
    static let privateMountPoint = "/run/sluice"

    /// The conninfo string clients use.
    public var conninfo: String {
        "host=\(ConnInfo.quote(socketDirectory)) dbname=sluice user=sluice application_name=sluice connect_timeout=10"
    }

    /// Creates a handle; nothing is touched until a method is called.
    public init(stateDirectory: String) {
        self.stateDirectory = FileSystem.absolute(stateDirectory)
    }

    /// True when the server answers on its socket.
    public var isRunning: Bool { pingPostgres(conninfo) }

    /// The postmaster's pid from `postmaster.pid`, if the file exists.
    public var postmasterPID: pid_t? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
            let first = text.split(separator: "\n").first, let pid = pid_t(first)
        else { return nil }
        return pid
    }

    /// Makes sure the cluster exists and is running; returns true when this call started it.
    @discardableResult
    public func ensureRunning() throws -> Bool {
        let socketPath = socketDirectory + "/.s.PGSQL.5432"
        if socketPath.utf8.count > 107 {
            throw DatabaseError(
                .connection,
                "the state directory path is too long for a Unix socket (\(socketPath.utf8.count) bytes, at most 107): use a shorter --state-dir"
            )
        }
        if isRunning { return false }
        try FileSystem.makeDirectory(stateDirectory)
        let lock = try FileLock(path: stateDirectory + "/pg.lock")
        defer { lock.release() }
        if isRunning { return false }
        let binaries = try PostgresBinaries.locate()
        let identity = try ServerIdentity.choose()
        let layout = try prepareDirectories(identity: identity)
        if !FileSystem.exists(dataDirectory + "/PG_VERSION") {
            try initialise(binaries: binaries, identity: identity, layout: layout)
        }
        try start(binaries: binaries, identity: identity, layout: layout)
        try createDatabaseIfMissing()
        return true
    }

    /// Creates the `sluice` database on a cluster that has only initdb's databases.
    private func createDatabaseIfMissing() throws {
        let admin = try PGConnection(
            conninfo: "host=\(ConnInfo.quote(socketDirectory)) dbname=postgres user=sluice application_name=sluice")
        let exists = try admin.query("SELECT 1 FROM pg_database WHERE datname = 'sluice'").rows.count == 1
        if !exists { try admin.query("CREATE DATABASE sluice") }
    }

    /// Stops the server with a fast shutdown; returns false when it was not running.
    @discardableResult
    public func stop(timeout: Double = 30) throws -> Bool {
        guard let pid = postmasterPID, kill(pid, 0) == 0 else { return false }
        kill(pid, SIGINT)
        let deadline = MonotonicClock.now() + timeout
        while kill(pid, 0) == 0 {
            if MonotonicClock.now() > deadline {
                kill(pid, SIGQUIT)
                throw DatabaseError(
                    .connection,
                    "the embedded PostgreSQL server (pid \(pid)) did not stop within \(Int(timeout)) s; sent it SIGQUIT"
                )
            }
            reapIfChild(pid)
            usleep(20_000)
        }
        return true
    }

    /// Paths as the server sees them, and the bind mount that makes them reachable, if one is needed.
    struct Layout {
        let serverDirectory: String
        let bindMount: (source: String, target: String)?
        var dataDirectory: String { serverDirectory + "/data" }
    }

    private func prepareDirectories(identity: ServerIdentity) throws -> Layout {
        try FileSystem.makeDirectory(serverDirectory, mode: 0o700)
        try FileSystem.makeDirectory(socketDirectory, mode: 0o700)
        if identity.dropsPrivileges {
            try FileSystem.changeOwner(serverDirectory, uid: identity.uid, gid: identity.gid)
            try FileSystem.changeOwner(socketDirectory, uid: identity.uid, gid: identity.gid)
        }
        if !identity.dropsPrivileges || identity.canReach(serverDirectory) {
            return Layout(serverDirectory: serverDirectory, bindMount: nil)
        }
        try FileSystem.makeDirectory(Self.privateMountPoint, mode: 0o755)
        return Layout(serverDirectory: Self.privateMountPoint, bindMount: (serverDirectory, Self.privateMountPoint))
    }

    private func initialise(binaries: PostgresBinaries, identity: ServerIdentity, layout: Layout) throws {
        if FileSystem.exists(dataDirectory) {
            // A half-made cluster from an interrupted initdb: start again.
            try? FileManager.default.removeItem(atPath: dataDirectory)
        }
        let output = try runTool(
            [
                binaries.initdb, "-D", layout.dataDirectory, "-U", "sluice", "-A", "trust", "-E", "UTF8",
                "--locale=C.UTF-8",
            ],
            identity: identity, layout: layout)
        guard output.status.succeeded else {
            throw DatabaseError(.connection, "initdb failed for \(dataDirectory):\n\(output.text)")
        }
        let settings = """

            # Added by sluice: a private server, reachable only through its Unix socket.
            listen_addresses = ''
            unix_socket_directories = '../run'
            unix_socket_permissions = 0700
            max_connections = 100
            shared_buffers = 64MB
            log_min_messages = warning
            """
        guard let handle = FileHandle(forWritingAtPath: dataDirectory + "/postgresql.conf") else {
            throw DatabaseError(.connection, "cannot write \(dataDirectory)/postgresql.conf")
        }
        handle.seekToEndOfFile()
        handle.write(Data(settings.utf8))
        try handle.close()
    }

    private func start(binaries: PostgresBinaries, identity: ServerIdentity, layout: Layout) throws {
        let log = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw SystemError("cannot open \(logFile)", errno: errno) }
        defer { close(log) }
        if identity.dropsPrivileges { try FileSystem.changeOwner(logFile, uid: identity.uid, gid: identity.gid) }
        var request = serverRequest(
            [binaries.postgres, "-D", layout.dataDirectory], output: log, identity: identity, layout: layout)
        request.newSession = true
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(request)
        } catch {
            throw DatabaseError(.connection, "cannot start the embedded PostgreSQL server: \(error)")
        }
        let deadline = MonotonicClock.now() + 60
        while !isRunning {
            if let status = child.poll() {
                let tail = logTail()
                throw DatabaseError(
                    .connection,
                    "the embedded PostgreSQL server exited while starting (\(status.exitCode.map { "exit \($0)" } ?? "signal \(status.signal ?? 0)")); see \(logFile):\n\(tail)"
                )
            }
            if MonotonicClock.now() > deadline {
                throw DatabaseError(
                    .connection, "the embedded PostgreSQL server did not become ready within 60 s; see \(logFile)")
            }
            usleep(10_000)
        }
    }

    /// Runs a server tool to completion and returns its combined output.
    private func runTool(_ argv: [String], identity: ServerIdentity, layout: Layout) throws -> (
        status: ProcessExit, text: String
    ) {
        let outputPath = serverDirectory + "/tool-output.log"
        let fd = try FileSystem.createForWriting(outputPath, mode: 0o600)
        if identity.dropsPrivileges { try FileSystem.changeOwner(outputPath, uid: identity.uid, gid: identity.gid) }
        defer {
            close(fd)
            unlink(outputPath)
        }
        let status: ProcessExit
        do {
            status = try ChildProcess.spawn(serverRequest(argv, output: fd, identity: identity, layout: layout)).wait()
        } catch {
            throw DatabaseError(.connection, "cannot run \(argv[0]): \(error)")
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (status, text)
    }

    /// A server program run as the server user, through the bind mount when one is needed, output to `output`.
    private func serverRequest(_ argv: [String], output: Int32, identity: ServerIdentity, layout: Layout)
        -> SpawnRequest
    {
        var request = SpawnRequest(
            executable: argv[0], arguments: argv, environment: Self.serverEnvironment, workdir: "/")
        request.stdout = output
        request.stderr = output
        if identity.dropsPrivileges { request.credentials = (identity.uid, identity.gid) }
        request.bindMount = layout.bindMount
        return request
    }

    private func logTail() -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(8).joined(separator: "\n")
    }

    private func reapIfChild(_ pid: pid_t) {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }

    private static let serverEnvironment = [
        "PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C.UTF-8", "LANG=C.UTF-8", "TZ=UTC",
    ]
}
