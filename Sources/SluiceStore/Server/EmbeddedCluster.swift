import Foundation
import SluiceBasics

/// Creates the embedded server's cluster atomically and keeps its access rules Sluice's own.
///
/// A cluster is built by initdb in `pg/data.new-<pid>`, configured there, and only then renamed to
/// `pg/data`: a `data` directory is complete or absent, whatever interrupted its making. Every write
/// here goes through descriptors that never follow a link, because `pg` belongs to the server user.
struct EmbeddedCluster {
    /// `<state>/pg`, opened without following links.
    let directory: SecureDirectory
    /// Paths as the server sees them.
    let layout: EmbeddedServer.Layout
    /// Who the server and its tools run as.
    let identity: ServerIdentity
    /// Where initdb and postgres are.
    let binaries: PostgresBinaries
    /// `<state>/pg` as Sluice sees it, for messages.
    let serverDirectory: String

    /// The line that marks a configured cluster; clusters made by every Sluice version carry it.
    static let marker = "# Added by sluice: a private server, reachable only through its Unix socket."

    /// Makes `pg/data` when it is missing, and rebuilds one that an interrupted first start left half-made.
    func ensureBuilt(notice: (String) -> Void) throws {
        for entry in directory.entries() where entry.hasPrefix("data.new-") {
            // Left by a setup that was killed outright: its initdb died with it (PR_SET_PDEATHSIG).
            try directory.removeTree(entry)
        }
        if directory.contains("data") {
            if isComplete() { return }
            notice(
                "sluice: the embedded PostgreSQL cluster in \(serverDirectory)/data was left half-made by an interrupted first start; rebuilding it"
            )
            stopStrayServer()
            try directory.removeTree("data")
        }
        let building = "data.new-\(getpid())"
        let fresh = try directory.subdirectory(building, mode: 0o700)
        do {
            if identity.dropsPrivileges { try fresh.changeOwner(uid: identity.uid, gid: identity.gid) }
            try initdb(into: layout.serverDirectory + "/" + building)
            try configure(fresh)
            try directory.rename(building, to: "data")
        } catch {
            try? directory.removeTree(building)
            throw error
        }
    }

    /// True when `data` holds a cluster that was configured by Sluice.
    private func isComplete() -> Bool {
        guard let data = try? directory.openSubdirectory("data"), data.contains("PG_VERSION"),
            let conf = try? data.readFile("postgresql.conf", limit: 1 << 20)
        else { return false }
        return String(decoding: conf, as: UTF8.self).contains(Self.marker)
    }

    /// Stops a postmaster a half-made cluster may have been started with (by an older Sluice, with defaults).
    private func stopStrayServer() {
        guard let data = try? directory.openSubdirectory("data"),
            let text = try? data.readFile("postmaster.pid", limit: 4096),
            let first = String(decoding: text, as: UTF8.self).split(separator: "\n").first, let pid = pid_t(first),
            pid > 1, let cmdline = try? FileSystem.readBytes("/proc/\(pid)/cmdline", limit: 1 << 16),
            String(decoding: cmdline, as: UTF8.self).contains("postgres")
        else { return }
        kill(pid, SIGQUIT)
        let deadline = MonotonicClock.now() + 10
        while kill(pid, 0) == 0 && MonotonicClock.now() < deadline {
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)
            usleep(20_000)
        }
        kill(pid, SIGKILL)
    }

    /// Runs initdb into `target` (as the server sees it); a SIGINT or SIGTERM stops it and cleans up.
    private func initdb(into target: String) throws {
        let output = try runTool([
            binaries.initdb, "-D", target, "-U", "sluice", "--auth-local=peer", "--auth-host=reject", "-E", "UTF8",
            "--locale=C.UTF-8",
        ])
        guard output.status.succeeded else {
            throw DatabaseError(.connection, "initdb failed for \(serverDirectory)/data:\n\(output.text)")
        }
    }

    /// Appends Sluice's settings to the new cluster's configuration.
    private func configure(_ data: SecureDirectory) throws {
        let settings = """

            \(Self.marker)
            listen_addresses = ''
            unix_socket_directories = '../run'
            unix_socket_permissions = 0700
            max_connections = 100
            shared_buffers = 64MB
            log_min_messages = warning

            """
        let fd = try data.appendFile("postgresql.conf")
        defer { close(fd) }
        try Self.writeAll(fd, settings, path: data.path + "/postgresql.conf")
    }

    /// Writes the access rules: peer authentication on the socket only, for one operating-system user.
    ///
    /// Rewritten at every start, so rules edited since (or by someone else) never survive a restart.
    func writeAccessRules(owner: String) throws {
        let data = try directory.openSubdirectory("data")
        let rules: [(String, String)] = [
            (
                "pg_hba.conf",
                """
                # Written by sluice at every start: only the state directory's owner, through the private socket.
                local all all peer map=owner

                """
            ),
            ("pg_ident.conf", "# Written by sluice at every start.\nowner \(owner) sluice\n"),
        ]
        for (name, text) in rules {
            let fd = try data.createFile(name, mode: 0o600)
            defer { close(fd) }
            try Self.writeAll(fd, text, path: data.path + "/" + name)
            if identity.dropsPrivileges, fchown(fd, identity.uid, identity.gid) != 0 {
                throw SystemError("cannot change the owner of \(data.path)/\(name)", errno: errno)
            }
        }
    }

    /// Runs a server tool to completion and returns its combined output; SIGINT/SIGTERM stop it.
    private func runTool(_ argv: [String]) throws -> (status: ProcessExit, text: String) {
        let outputName = "tool-output.log"
        let fd = try directory.createFile(outputName, mode: 0o600)
        defer {
            close(fd)
            try? directory.removeTree(outputName)
        }
        if identity.dropsPrivileges, fchown(fd, identity.uid, identity.gid) != 0 {
            throw SystemError("cannot change the owner of \(serverDirectory)/\(outputName)", errno: errno)
        }
        var request = Self.serverRequest(argv, output: fd, identity: identity, layout: layout)
        request.dieWithParent = true
        let status: ProcessExit = try SignalPipe.scoped { signals in
            let child: ChildProcess
            do {
                child = try ChildProcess.spawn(request)
            } catch {
                throw DatabaseError(.connection, "cannot run \(argv[0]): \(error)")
            }
            let exitFD = child.exitDescriptor()
            defer { if let exitFD { close(exitFD) } }
            while true {
                if let status = child.poll() { return status }
                let ready = Poller.wait([signals] + (exitFD.map { [$0] } ?? []), timeout: exitFD == nil ? 0.05 : nil)
                if ready.contains(signals), let signal = Poller.drain(signals).first {
                    child.signalGroup(SIGKILL)
                    _ = child.wait()
                    throw Interrupted(signal: Int32(signal), during: "creating the embedded PostgreSQL cluster")
                }
            }
        }
        let text = (try? directory.readFile(outputName, limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) }
        return (status, text ?? "")
    }

    /// A server program run as the server user, through the bind mount when one is needed, output to `output`.
    static func serverRequest(
        _ argv: [String], output: Int32, identity: ServerIdentity, layout: EmbeddedServer.Layout
    ) -> SpawnRequest {
        var request = SpawnRequest(
            executable: argv[0], arguments: argv, environment: serverEnvironment, workdir: "/")
        request.stdout = output
        request.stderr = output
        if identity.dropsPrivileges { request.credentials = (identity.uid, identity.gid) }
        request.bindMount = layout.bindMount
        return request
    }

    private static func writeAll(_ fd: Int32, _ text: String, path: String) throws {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemError("cannot write \(path)", errno: errno) }
            bytes = bytes.dropFirst(n)
        }
    }

    private static let serverEnvironment = [
        "PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C.UTF-8", "LANG=C.UTF-8", "TZ=UTC",
    ]
}
