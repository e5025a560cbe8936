import Foundation
import SluiceEngine
import SluiceSpec
import SluiceStore
import SluiceTestSupport
import Testing

@Suite("What a step costs the database, counted exactly")
struct RoundTripTests {
    /// What a chain of `steps` trivial steps cost the database: round trips by statement on the engine's
    /// connection (heartbeats left out: they come with time, not with steps), sequential scans of the run
    /// tables, and the WAL flushes the engine's server process waited for.
    private struct Cost {
        var trips: [String: Int]
        var scans: Int
        var flushes: Int
    }

    private func cost(chain steps: Int) throws -> Cost {
        let dir = try TempDirectory()
        defer { dir.remove() }
        var yaml = "dag: chain\nsteps:\n  s1: {command: [\"true\"]}\n"
        for i in 2...steps { yaml += "  s\(i): {command: [\"true\"], needs: [s\(i - 1)]}\n" }
        let spec = try SpecLoader.load(path: try dir.write("dags/chain.yaml", yaml))
        let store = try TestDatabase.freshStore()
        let before = store.connection.roundTrips
        var result: RunResult?
        let flushes = try Self.flushes(of: store) {
            result = try RunDriver(
                store: store, observer: RecordingObserver(), options: RunOptions(logRoot: dir.path + "/logs")
            ).run(spec)
        }
        #expect(result?.state == .succeeded)
        var counts: [String: Int] = [:]
        for (text, count) in store.connection.roundTrips where !text.contains("SET heartbeat_at") {
            let added = count - (before[text] ?? 0)
            if added > 0 { counts[text] = added }
        }
        _ = try store.connection.query("SELECT pg_stat_force_next_flush()")
        let scans = try store.connection.query(
            """
            SELECT coalesce(sum(seq_scan), 0) AS n FROM pg_stat_user_tables
            WHERE relname IN ('run', 'step_instance', 'attempt', 'event', 'cost_line', 'attempt_cost')
            """
        ).rows[0].int("n")
        return Cost(trips: counts, scans: Int(scans ?? -1), flushes: flushes)
    }

    /// The WAL flushes (`fdatasync`/`fsync` calls) the store's own server process makes while `body` runs,
    /// counted with strace: the WAL writer's background flushes and other tests' are other processes. A flush
    /// that closes a full WAL segment is not a commit's: a run whose WAL crossed a segment is measured again.
    private static func flushes(of store: Store, _ body: () throws -> Void) throws -> Int {
        let pid = try store.connection.query("SELECT pg_backend_pid() AS pid").rows[0].int("pid") ?? 0
        for _ in 0..<5 {
            let trace = "/tmp/sluice-flushes-\(getpid())-\(UUID().uuidString)"
            defer { unlink(trace) }
            let tracer = try SluiceBinary.startProgram(
                ["/usr/bin/strace", "-e", "trace=fdatasync,fsync", "-o", trace, "-p", String(pid)], in: "/")
            guard tracer.waitForLine({ $0.contains("attached") }) != nil else {
                Issue.record("strace could not follow PostgreSQL's process \(pid): \(tracer.transcript)")
                return -1
            }
            let first = try store.connection.query("SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS s").rows[0][
                "s"]
            try body()
            let last = try store.connection.query("SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS s").rows[0][
                "s"]
            kill(tracer.process.pid, SIGINT)
            _ = tracer.finish()
            let lines = (try? String(contentsOfFile: trace, encoding: .utf8)) ?? ""
            if first == last { return lines.split(separator: "\n").filter { $0.contains("sync(") }.count }
        }
        Issue.record("every measured run crossed a WAL segment")
        return -1
    }

    /// Each further step of a chain costs exactly three statements (its attempt begun, running, ended: the
    /// end also makes the next step ready, and the trigger that costs the attempt runs inside it), no new
    /// kind of statement, and exactly one WAL flush; a change that adds a round trip or a flush per step fails
    /// here.
    @Test func eachStepOfAChainCostsExactlyThreeStatementsAndOneFlush() throws {
        let shortRun = try cost(chain: 10)
        let longRun = try cost(chain: 30)
        let (short, shortScans) = (shortRun.trips, shortRun.scans)
        let (long, longScans) = (longRun.trips, longRun.scans)
        // The begin of each attempt waits for its flush; its running and its end commit without waiting (the
        // next begin flushes them). The run's own start and end add the same few to both.
        #expect(
            longRun.flushes - shortRun.flushes == 20,
            "WAL flushes: \(shortRun.flushes) for 10 steps, \(longRun.flushes) for 30")
        // On a fresh database every table starts empty, and the per-step statements are planned once then:
        // none may scan a table whose rows grow with the run (a sequential scan there makes each step O(steps)).
        #expect(longScans == shortScans, "sequential scans: \(shortScans) for 10 steps, \(longScans) for 30")
        #expect(Set(long.keys) == Set(short.keys), "the same statements, whatever the length")
        var perStep: [String: Int] = [:]
        for (text, count) in long where count != short[text] {
            let extra = count - (short[text] ?? 0)
            #expect(extra % 20 == 0, "\(extra) more of: \(text.prefix(120))")
            perStep[String(text.prefix(80))] = extra / 20
        }
        #expect(perStep.values.reduce(0, +) == 3, "round trips per step: \(perStep)")
    }
}
