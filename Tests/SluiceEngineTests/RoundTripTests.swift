import Foundation
import SluiceBasics
import SluiceEngine
import SluiceSpec
import SluiceStore
import SluiceTestSupport
import Synchronization
import Testing

@Suite("What a step costs the database, counted exactly", .serialized)
struct RoundTripTests {
    /// What a chain of `steps` trivial steps cost the database: round trips by statement on the engine's
    /// connection (heartbeats left out: they come with time, not with steps), sequential scans of the run
    /// tables, and the WAL flushes the engine's server process waited for.
    private struct Cost {
        var trips: [String: Int]
        var scans: Int
        var flushes: Int
        /// WAL segments crossed while it ran.
        var segments: Int
        /// Attempts recorded without their pid, executor handle or a start before their end, or without a
        /// `starting → running` event before their ending's event.
        var incomplete: Int
        /// Ended attempts without their cost lines once the run has ended.
        var uncosted: Int
    }

    private func cost(chain steps: Int, runningRecordDelay: Double) throws -> Cost {
        let dir = try TempDirectory()
        defer { dir.remove() }
        var yaml = "dag: chain\nsteps:\n  s1: {command: [\"true\"]}\n"
        for i in 2...steps { yaml += "  s\(i): {command: [\"true\"], needs: [s\(i - 1)]}\n" }
        let spec = try SpecLoader.load(path: try dir.write("dags/chain.yaml", yaml))
        // On a server of its own: other tests' commits would flush this one's WAL first.
        let store = try Store.open(.url(TestDatabase.freshConninfo(on: TestDatabase.quietServer())))
        let before = store.connection.roundTrips
        var result: RunResult?
        var options = RunOptions(logRoot: dir.path + "/logs")
        options.runningRecordDelay = runningRecordDelay
        let flushes = try Self.flushes(of: store) {
            result = try RunDriver(store: store, observer: RecordingObserver(), options: options).run(spec)
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
        let incomplete = try store.connection.query(
            """
            SELECT count(*) AS n FROM attempt a
            WHERE a.pid IS NULL OR a.external_id IS NULL OR a.executor_state IS NULL OR a.started_at IS NULL
               OR a.started_at > a.ended_at
               OR NOT EXISTS (
                   SELECT 1 FROM event r JOIN event e ON e.attempt_id = r.attempt_id AND e.id > r.id
                   WHERE r.attempt_id = a.id AND r.from_state = 'starting' AND r.to_state = 'running'
                     AND e.to_state = a.state)
            """
        ).rows[0].int("n")
        let uncosted = try store.connection.query(
            "SELECT count(*) AS n FROM attempt a WHERE NOT EXISTS (SELECT 1 FROM cost_line l WHERE l.attempt_id = a.id)"
        ).rows[0].int("n")
        return Cost(
            trips: counts, scans: Int(scans ?? -1), flushes: flushes.count, segments: flushes.segments,
            incomplete: Int(incomplete ?? -1), uncosted: Int(uncosted ?? -1))
    }

    /// The WAL flushes the engine's server process made from the start of a run of `width` steps that all may
    /// start at once (parallelism `width`) until every one of them runs; each step then waits on a lock the
    /// test holds, so their endings come after the count.
    private func flushesToStart(fanOut width: Int) throws -> (count: Int, segments: Int) {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let gatePath = dir.path + "/gate"
        let gate = open(gatePath, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        try #require(gate >= 0 && flock(gate, LOCK_EX) == 0)
        var yaml = "dag: fan\ndefaults: {resources: {cpus: 0.01, memory: 32Mi}}\nsteps:\n"
        for i in 1...width {
            yaml += "  s\(i): {command: \"touch \(dir.path)/started.$SLUICE_STEP && flock \(gatePath) true\"}\n"
        }
        let spec = try SpecLoader.load(path: try dir.write("dags/fan.yaml", yaml))
        let store = try Store.open(.url(TestDatabase.freshConninfo(on: TestDatabase.quietServer())))
        var options = RunOptions(logRoot: dir.path + "/logs")
        options.runningRecordDelay = 3600
        options.parallelism = width
        let atStart = Mutex<Int?>(nil)
        let directory = dir.path
        var result: RunResult?
        let whole = try Self.flushes(of: store) { trace in
            let watcher = Thread {
                // Once every step runs, its start is on disk: count, then let them end.
                let started = Waiting.until {
                    (1...width).allSatisfy { FileSystem.exists("\(directory)/started.s\($0)") }
                }
                let lines = (try? String(contentsOfFile: trace, encoding: .utf8)) ?? ""
                let count = lines.split(separator: "\n").filter { $0.contains("sync(") }.count
                atStart.withLock { $0 = started ? count : nil }
                close(gate)
            }
            watcher.start()
            result = try RunDriver(store: store, observer: RecordingObserver(), options: options).run(spec)
        }
        #expect(result?.state == .succeeded)
        let count = try #require(atStart.withLock { $0 }, "the steps did not all start")
        return (count, whole.segments)  // the segments the whole run crossed: at least those until the count
    }

    /// The WAL flushes (`fdatasync`/`fsync` calls) the store's own server process makes while `body` runs,
    /// counted with strace (the WAL writer's background flushes and other tests' are other processes), and the
    /// WAL segments the server's WAL crossed meanwhile (a backend that ends a segment, or makes the next
    /// segment's file, flushes it: up to two flushes that are no commit's).
    private static func flushes(of store: Store, _ body: () throws -> Void) throws -> (count: Int, segments: Int) {
        try flushes(of: store) { _ in try body() }
    }

    /// `flushes(of:_:)`, with `body` given the path of the trace, which grows a line per flush as they happen.
    private static func flushes(of store: Store, _ body: (_ trace: String) throws -> Void) throws -> (
        count: Int, segments: Int
    ) {
        let pid = try store.connection.query("SELECT pg_backend_pid() AS pid").rows[0].int("pid") ?? 0
        let trace = "/tmp/sluice-flushes-\(getpid())-\(UUID().uuidString)"
        defer { unlink(trace) }
        let tracer = try SluiceBinary.startProgram(
            ["/usr/bin/strace", "-e", "trace=fdatasync,fsync", "-o", trace, "-p", String(pid)], in: "/")
        guard tracer.waitForLine({ $0.contains("attached") }) != nil else {
            Issue.record("strace could not follow PostgreSQL's process \(pid): \(tracer.transcript)")
            return (-1, 0)
        }
        let segment = """
            SELECT (pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')
                    / (SELECT setting::numeric FROM pg_settings WHERE name = 'wal_segment_size'))::bigint AS n
            """
        let first = try store.connection.query(SQL(stringLiteral: segment)).rows[0].int("n") ?? 0
        try body(trace)
        let last = try store.connection.query(SQL(stringLiteral: segment)).rows[0].int("n") ?? 0
        kill(tracer.process.pid, SIGINT)
        _ = tracer.finish()
        let lines = (try? String(contentsOfFile: trace, encoding: .utf8)) ?? ""
        return (lines.split(separator: "\n").filter { $0.contains("sync(") }.count, Int(last - first))
    }

    /// What each further step of a chain costs: `statements` statements in `trips` round trips (a statement
    /// sent with the next one rides in its round trip), no new kind of statement, exactly one WAL flush, and no
    /// sequential scan of a table that grows with the run.
    private func expectEachStep(costs statements: Int, in trips: Int, runningRecordDelay: Double) throws {
        let shortRun = try cost(chain: 10, runningRecordDelay: runningRecordDelay)
        let longRun = try cost(chain: 30, runningRecordDelay: runningRecordDelay)
        #expect(shortRun.incomplete == 0 && longRun.incomplete == 0, "attempts recorded without their start")
        #expect(shortRun.uncosted == 0 && longRun.uncosted == 0, "attempts left uncosted")
        let (short, shortScans) = (shortRun.trips, shortRun.scans)
        let (long, longScans) = (longRun.trips, longRun.scans)
        // The begin of each attempt waits for its flush; its running and its end commit without waiting (the
        // next begin flushes them). The run's own start and end add the same few to both. The server's WAL
        // writer (every 10 s on this server) can make the count one off: a commit finds its WAL flushed already;
        // and a WAL segment crossed may add two. So 20 more steps must cost 20 flushes give or take those; one
        // more flush per step would cost 40.
        let slack = 2 + 2 * (shortRun.segments + longRun.segments)
        #expect(
            abs(longRun.flushes - shortRun.flushes - 20) <= slack,
            "WAL flushes: \(shortRun.flushes) for 10 steps, \(longRun.flushes) for 30 (give or take \(slack))")
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
        #expect(perStep.values.reduce(0, +) == statements, "statements per step: \(perStep)")
        let own = perStep.filter { !$0.key.hasPrefix(PGConnection.riding) }
        #expect(own.values.reduce(0, +) == trips, "round trips per step: \(own)")
    }

    /// A step that ends before the engine records it running (here every one: the delay is an hour) costs two
    /// statements in one round trip: its attempt begun, and ended (the end also records its start and makes the
    /// next step ready), which goes with the next step's begin. Costing is batched (up to 64 attempts a
    /// statement, at most a second late) and the run's end costs what is left, so these short runs cost none per
    /// step, and every attempt is costed all the same. A change that adds a statement, a round trip or a flush
    /// fails here.
    @Test func aShortStepCostsExactlyTwoStatementsInOneRoundTripAndOneFlush() throws {
        try expectEachStep(costs: 2, in: 1, runningRecordDelay: 3600)
    }

    /// Steps that start in one turn share one WAL flush: each begin but the last commits without waiting, its
    /// step held at its exec, and the last one's flush takes them all to disk. Twelve such starts cost the
    /// flushes of one (each waiting for its own would cost eleven more).
    @Test func stepsThatStartInOneTurnShareOneFlush() throws {
        let one = try flushesToStart(fanOut: 1)
        let twelve = try flushesToStart(fanOut: 12)
        let slack = 1 + 2 * (one.segments + twelve.segments)
        #expect(
            twelve.count - one.count <= slack,
            "WAL flushes until every step ran: \(one.count) for one step, \(twelve.count) for twelve (give or take \(slack))"
        )
    }

    /// A step recorded running before it ends (here every one: no delay) costs exactly one more statement and
    /// round trip.
    @Test func aStepRecordedRunningCostsExactlyThreeStatementsInTwoRoundTripsAndOneFlush() throws {
        try expectEachStep(costs: 3, in: 2, runningRecordDelay: 0)
    }
}
