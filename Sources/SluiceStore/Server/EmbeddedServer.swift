import Foundation
import SluiceBasics

/// The private PostgreSQL cluster under a state directory: created, started and stopped on demand.
///
/// Layout: `<state>/pg/data` (the cluster), `<state>/pg/run` (its Unix socket; no TCP port),
/// `<state>/pg/server.log`. As root the server runs as an unprivileged user; when that user cannot
/// reach the state directory, the server runs in a private mount namespace where `<state>/pg` is
/// bind-mounted on `/run/sluice`, so nothing about the user's directories has to change.
///
/// Only the state directory's owner can connect: the server accepts nothing but `peer` authentication on
/// its private socket, mapped from that one operating-system user to the database user `sluice`.
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
    ///
    /// `notice` receives the one line said when a half-made cluster is found and rebuilt.
    @discardableResult
    public func ensureRunning(notice: (String) -> Void = { Terminal.printError($0) }) throws -> Bool {
        let socketPath = socketDirectory + "/.s.PGSQL.5432"
        if socketPath.utf8.count > 107 {
            throw DatabaseError(
                .connection,
                "the state directory path is too long for a Unix socket (\(socketPath.utf8.count) bytes, at most 107): use a shorter --state-dir"
            )
        }
        if isRunning { return false }
        let state = try StateDirectory.open(stateDirectory, create: true)
        let lock = try FileLock(in: state, name: "pg.lock")
        defer { lock.release() }
        if isRunning { return false }
        let binaries = try PostgresBinaries.locate()
        let identity = try ServerIdentity.choose()
        let (pg, layout) = try prepareDirectories(state: state, identity: identity)
        let cluster = EmbeddedCluster(
            directory: pg, layout: layout, identity: identity, binaries: binaries, serverDirectory: serverDirectory)
        try cluster.ensureBuilt(notice: notice)
        try cluster.writeAccessRules(owner: UserIdentity.current.name)
        try start(pg: pg, binaries: binaries, identity: identity, layout: layout)
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
        var socketDirectory: String { serverDirectory + "/run" }
    }

    /// `<state>/pg` and `<state>/pg/run`, owned by the server user, opened without following links.
    private func prepareDirectories(state: SecureDirectory, identity: ServerIdentity) throws -> (
        SecureDirectory, Layout
    ) {
        let pg = try state.subdirectory("pg", mode: 0o700)
        let run = try pg.subdirectory("run", mode: 0o700)
        if identity.dropsPrivileges {
            try pg.changeOwner(uid: identity.uid, gid: identity.gid)
            try run.changeOwner(uid: identity.uid, gid: identity.gid)
        }
        if !identity.dropsPrivileges || identity.canReach(serverDirectory) {
            return (pg, Layout(serverDirectory: serverDirectory, bindMount: nil))
        }
        try FileSystem.makeDirectory(Self.privateMountPoint, mode: 0o755)
        return (
            pg,
            Layout(serverDirectory: Self.privateMountPoint, bindMount: (serverDirectory, Self.privateMountPoint))
        )
    }

    /// Starts the postmaster and waits until it answers.
    ///
    /// The settings that keep it private are given on the command line, where they override whatever the
    /// cluster's own files say: no TCP listener, only the private socket directory, a socket only its
    /// owner can open, and the access rules Sluice wrote.
    private func start(pg: SecureDirectory, binaries: PostgresBinaries, identity: ServerIdentity, layout: Layout)
        throws
    {
        let log = try pg.appendFile("server.log")
        defer { close(log) }
        if identity.dropsPrivileges, fchown(log, identity.uid, identity.gid) != 0 {
            throw SystemError("cannot change the owner of \(logFile)", errno: errno)
        }
        var request = EmbeddedCluster.serverRequest(
            [
                binaries.postgres, "-D", layout.dataDirectory, "-c", "listen_addresses=", "-c",
                "unix_socket_directories=\(layout.socketDirectory)", "-c", "unix_socket_permissions=0700", "-c",
                "unix_socket_group=", "-c", "hba_file=\(layout.dataDirectory)/pg_hba.conf", "-c",
                "ident_file=\(layout.dataDirectory)/pg_ident.conf",
            ], output: log, identity: identity, layout: layout)
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

    private func logTail() -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(8).joined(separator: "\n")
    }

    private func reapIfChild(_ pid: pid_t) {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }
}
