import Foundation
import SluiceBasics
import SluiceStore
import Synchronization

/// A real PostgreSQL server for the tests: one embedded cluster per test process, one fresh database per test.
///
/// The cluster lives in a temporary directory, is started on first use and stopped (and deleted) when
/// the test process exits, so a test run leaves no server behind.
public enum TestDatabase {
    private static let state = Mutex<EmbeddedServer?>(nil)
    private static let counter = Atomic<Int>(0)

    /// The shared server, started on first use.
    public static func server() throws -> EmbeddedServer {
        try state.withLock { server in
            if let server { return server }
            let directory = "/tmp/sluice-test-\(getpid())"
            try? FileManager.default.removeItem(atPath: directory)
            try FileSystem.makeDirectory(directory, mode: 0o755)
            let created = EmbeddedServer(stateDirectory: directory)
            try created.ensureRunning()
            server = created
            atexit { TestDatabase.shutdown() }
            return created
        }
    }

    private static let quiet = Mutex<EmbeddedServer?>(nil)

    /// A second server for tests that count what one server process does (its WAL flushes): no other test
    /// uses it, and its WAL writer flushes at most every 10 s, so that it seldom flushes a test's WAL first.
    public static func quietServer() throws -> EmbeddedServer {
        try quiet.withLock { server in
            if let server { return server }
            let directory = "/tmp/sluice-test-quiet-\(getpid())"
            try? FileManager.default.removeItem(atPath: directory)
            try FileSystem.makeDirectory(directory, mode: 0o755)
            let created = EmbeddedServer(stateDirectory: directory)
            try created.ensureRunning()
            let admin = try PGConnection(
                conninfo: "host=\(ConnInfo.quote(created.socketDirectory)) dbname=sluice user=sluice")
            try admin.withSession { session in
                try session.script("ALTER SYSTEM SET wal_writer_delay = '10s'")
                try session.script("ALTER SYSTEM SET wal_writer_flush_after = '1GB'")
                try session.script("SELECT pg_reload_conf()")
            }
            server = created
            atexit {
                TestDatabase.quiet.withLock { server in
                    guard let current = server else { return }
                    _ = try? current.stop()
                    try? FileManager.default.removeItem(atPath: current.stateDirectory)
                    server = nil
                }
            }
            return created
        }
    }

    /// A conninfo string for a new, empty database on the shared server (or on `server`).
    public static func freshConninfo(on chosen: EmbeddedServer? = nil) throws -> String {
        let server = try chosen ?? server()
        let name = "t\(getpid())_\(counter.add(1, ordering: .relaxed).newValue)"
        let admin = try PGConnection(
            conninfo: "host=\(ConnInfo.quote(server.socketDirectory)) dbname=sluice user=sluice")
        try admin.query("SELECT 1")
        try admin.withSession { session in try session.script("CREATE DATABASE \(name)") }
        return "host=\(ConnInfo.quote(server.socketDirectory)) dbname=\(name) user=sluice"
    }

    /// A migrated store on a new, empty database.
    public static func freshStore() throws -> Store {
        try Store.open(.url(freshConninfo()))
    }

    /// Stops the shared server and removes its directory.
    public static func shutdown() {
        state.withLock { server in
            guard let current = server else { return }
            _ = try? current.stop()
            try? FileManager.default.removeItem(atPath: current.stateDirectory)
            server = nil
        }
    }
}
