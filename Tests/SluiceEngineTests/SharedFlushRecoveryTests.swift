import Foundation
import SluiceBasics
import SluiceEngine
import SluiceSpec
import SluiceStore
import SluiceTestSupport
import Synchronization
import Testing

/// Starts that share a flush (each begin but the last of a turn commits without waiting) and a database server
/// that goes away before that flush: the held steps run once each, none unrecorded.
@Suite("Starts that share a flush, when the server goes before it", .serialized)
struct SharedFlushRecoveryTests {
    /// How the server goes while it records the last start of the turn.
    enum Loss: CaseIterable {
        /// The engine's own server process is terminated; the server stays up.
        case connection
        /// The engine's server process is killed, and PostgreSQL restarts every process and recovers from its
        /// WAL: a crash of the server.
        case crash
    }

    /// Steps a and b are begun without waiting for their flush, held at their exec; the begin of c, which would
    /// flush them, loses its server. Meanwhile a's begin is taken out of the database, as a crash before the
    /// flush would lose it (b's is left, as one the WAL writer flushed in time; after the crash, whether b's
    /// own begin survived is up to the WAL writer, and either way it must run once). The engine records c again,
    /// finds b's start there and a's not, and starts b and c and launches a again: each runs exactly once, and
    /// every attempt that ran is recorded.
    @Test(arguments: Loss.allCases)
    func aStartLostBeforeTheSharedFlushIsLaunchedAgainAndNothingRunsTwice(_ loss: Loss) throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let server = EmbeddedServer(stateDirectory: dir.path + "/server")
        _ = try server.ensureRunning(notice: { _ in })
        defer { _ = try? server.stop() }
        let conninfo = server.conninfo
        let store = try Store.open(.url(conninfo))
        // The begin of c waits in its trigger while the gate is armed: the test loses a's start meanwhile.
        try store.connection.withSession { session in
            try session.script(
                """
                CREATE TABLE test_gate (armed boolean);
                INSERT INTO test_gate VALUES (true);
                CREATE FUNCTION test_hold_c() RETURNS trigger LANGUAGE plpgsql AS $f$
                BEGIN
                    IF (SELECT step_key FROM step_instance WHERE id = NEW.step_instance_id) = 'c'
                       AND EXISTS (SELECT 1 FROM test_gate) THEN
                        PERFORM pg_sleep(600);
                    END IF;
                    RETURN NULL;
                END $f$;
                CREATE TRIGGER test_hold_c AFTER INSERT ON attempt FOR EACH ROW EXECUTE FUNCTION test_hold_c();
                """)
        }
        let failure = Mutex<String?>(nil)
        let loser = Thread {
            do {
                let admin = try PGConnection(conninfo: conninfo)
                var held: Int64?
                let found = Waiting.until {
                    held = try? admin.query(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()"
                    ).rows.first?.int("pid")
                    return held != nil
                }
                try admin.withSession { session in
                    try session.script(
                        """
                        BEGIN;
                        DELETE FROM event WHERE step_instance_id = (SELECT id FROM step_instance WHERE step_key = 'a')
                          AND to_state IN ('running', 'starting');
                        DELETE FROM attempt WHERE step_instance_id = (SELECT id FROM step_instance WHERE step_key = 'a');
                        UPDATE step_instance SET state = 'ready', attempts = 0, started_at = NULL WHERE step_key = 'a';
                        DELETE FROM test_gate;
                        COMMIT;
                        """)
                }
                guard found, let pid = held else {
                    failure.withLock { $0 = "c's begin never waited in its trigger" }
                    return
                }
                switch loss {
                case .connection: try admin.query("SELECT pg_terminate_backend(\(pid)::integer)")
                case .crash: kill(pid_t(pid), SIGKILL)
                }
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
        }
        loser.start()
        let ran = dir.path + "/ran"
        var yaml = "dag: fan\ndefaults: {resources: {cpus: 0.01, memory: 32Mi}}\nsteps:\n"
        for key in ["a", "b", "c"] { yaml += "  \(key): {command: \"echo \(key) >> \(ran)\"}\n" }
        let spec = try SpecLoader.load(path: try dir.write("dags/fan.yaml", yaml))
        var options = RunOptions(logRoot: dir.path + "/logs")
        options.parallelism = 3
        let observer = RecordingObserver()
        let result = try RunDriver(store: store, observer: observer, options: options).run(spec)

        #expect(failure.withLock { $0 } == nil, "\(failure.withLock { $0 } ?? "")")
        #expect(observer.events.contains("database unavailable"), "\(observer.events)")
        #expect(result.state == .succeeded)
        let lines = ((try? String(contentsOfFile: ran, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(lines.sorted() == ["a", "b", "c"], "each step runs exactly once: \(lines)")
        let rows = try PGConnection(conninfo: conninfo).query(
            """
            SELECT s.step_key, s.state, s.attempts, count(a.id) AS recorded,
                   count(a.id) FILTER (WHERE a.state = 'exited' AND a.exit_code = 0) AS succeeded
            FROM step_instance s LEFT JOIN attempt a ON a.step_instance_id = s.id
            GROUP BY s.step_key, s.state, s.attempts ORDER BY s.step_key
            """
        ).rows
        #expect(rows.map { $0["step_key"] } == ["a", "b", "c"])
        for row in rows {
            #expect(row["state"] == "succeeded" && row.int("attempts") == 1, "\(row)")
            #expect(row.int("recorded") == 1 && row.int("succeeded") == 1, "\(row)")
        }
    }
}
