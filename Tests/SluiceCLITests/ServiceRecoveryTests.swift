import Foundation
import SluiceBasics
import SluiceStore
import SluiceTestSupport
import Testing

/// `sluice serve` killed, restarted, raced and cut off from its database: no step runs twice, none is lost.
@Suite("End to end: the service keeps every promise across crashes, restarts and outages")
struct ServiceRecoveryTests {
    /// Lines of the counter file, each "<run> <step>", counted.
    private func counted(_ path: String) -> [String: Int] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") { counts[String(line), default: 0] += 1 }
        return counts
    }

    private func lineCount(_ path: String) -> Int {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test func killedOverAndOverTheServiceRunsEveryStepExactlyOnce() throws {
        let served = ServedProject(try Project())
        defer { served.remove() }
        let counter = served.path + "/counter"
        var steps = ""
        for i in 0..<8 {
            let needs = i < 2 ? "" : ", needs: [s\(i - 2)]"
            steps +=
                "  s\(i): {command: \"sleep 0.1; echo \\\"$SLUICE_RUN_ID $SLUICE_STEP\\\" >> \(counter)\"\(needs)}\n"
        }
        try served.project.dag("soak", "dag: soak\nmax_active_runs: 3\nsteps:\n" + steps)
        #expect(try served.sluice("run", "dags/soak.yaml").code == 0)  // known to the database, one run done
        let runs = 12
        for _ in 1..<runs { #expect(try served.sluice("trigger", "soak").code == 0) }
        var generator = SystemRandomNumberGenerator()
        var kills = 0
        try served.start()
        while try !served.allRunsEnded(count: runs) {
            // Kill it at a random moment: after 1 to 4 more steps have ended.
            let seen = lineCount(counter)
            let more = Int.random(in: 1...4, using: &generator)
            _ = Waiting.until(timeout: 20) {
                self.lineCount(counter) >= seen + more || (try? served.allRunsEnded(count: runs)) == true
            }
            if try served.allRunsEnded(count: runs) { break }
            // Fault injection, not synchronisation: land the kill anywhere in the next fifth of a second.
            _ = Poller.wait([], timeout: Double.random(in: 0...0.2, using: &generator))
            served.kill9()
            kills += 1
            try served.start()
        }
        served.stop()
        #expect(kills >= 5, "the soak killed the service only \(kills) times")
        let lines = counted(counter)
        #expect(lines.count == runs * 8, "steps that ran: \(lines.count) of \(runs * 8)")
        #expect(lines.values.allSatisfy { $0 == 1 }, "steps that ran twice: \(lines.filter { $0.value > 1 })")
        let unfinished = try served.ints("SELECT id AS n FROM run WHERE state <> 'succeeded'")
        let shown = try unfinished.map { try served.sluice("runs", "show", String($0)).stdout }.joined()
        #expect(unfinished.isEmpty, "\(shown)\n\(served.log)")
        #expect(try served.ints("SELECT count(*) AS n FROM attempt WHERE state IN ('starting', 'running')") == [0])
        #expect(try served.ints("SELECT count(*) AS n FROM step_instance WHERE state <> 'succeeded'") == [0])
        // An attempt recorded lost was one whose watcher had not started it: it never ran, so it is not a line.
        let attempts = try served.ints("SELECT count(*) AS n FROM attempt WHERE state = 'exited'")
        #expect(attempts == [Int64(runs * 8)])
    }

    @Test func aLongStepSurvivesRestartsAndAStepThatEndedWhileNoServiceRanIsRecordedAsItEnded() throws {
        let served = ServedProject(try Project())
        defer { served.remove() }
        let marker = UUID().uuidString
        try served.project.dag(
            "long",
            """
            dag: long
            steps:
              train:
                # Two seconds of user CPU (however busy the host), then a line every 0.1 s for 28 s: output flows unwatched.
                command: "touch ../train.started; python3 -c 'import os\\nwhile os.times().user < 2:\\n    for _ in range(100000): pass'; for i in $(seq 280); do echo line $i; sleep 0.1; done"
                env: {MARK: "\(marker)"}
            """)
        try served.project.dag(
            "quick",
            """
            dag: quick
            steps:
              q:
                command: "touch ../q.started; while [ ! -e ../q.go ]; do sleep 0.05; done; echo bye; exit 3"
                env: {MARK: "q-\(marker)"}
            """)
        try served.start()
        #expect(served.waitForLog("loaded quick"))
        #expect(try served.sluice("trigger", "long").code == 0)
        #expect(try served.sluice("trigger", "quick").code == 0)
        #expect(Waiting.forFile(served.path + "/train.started"))
        #expect(Waiting.forFile(served.path + "/q.started"))
        served.kill9()
        // With no service up, q ends (exit 3) and train goes on writing its log.
        _ = try served.project.directory.write("q.go", "")
        #expect(Waiting.until { ProcessScan.withEnvironment("MARK=q-\(marker)").isEmpty })
        #expect(!ProcessScan.withEnvironment("MARK=\(marker)").isEmpty, "train died with its service")
        try served.start()
        #expect(Waiting.until { (try? served.ints("SELECT count(*) AS n FROM run WHERE state = 'failed'")) == [1] })
        let quick = try served.sluice("runs", "show", "2", "--json").json()
        let attempts = try #require(quick["attempts"] as? [[String: Any]])
        #expect(attempts.count == 1, "an attempt that ended unwatched must not run again")
        #expect(attempts.first?["state"] as? String == "exited")
        #expect(attempts.first?["exit_code"] as? Int == 3)
        // A graceful stop leaves train running too; the next service adopts it.
        #expect(served.stop(SIGTERM) == 0)
        #expect(served.log.contains("stopped; running steps go on"))
        #expect(!ProcessScan.withEnvironment("MARK=\(marker)").isEmpty, "train died with a graceful stop")
        try served.start()
        #expect(
            Waiting.until(timeout: 120) {
                (try? served.ints("SELECT count(*) AS n FROM run WHERE state = 'succeeded'")) == [1]
            })
        served.stop()
        let long = try served.sluice("runs", "show", "1", "--json").json()
        let train = try #require((long["attempts"] as? [[String: Any]])?.first)
        #expect((long["attempts"] as? [[String: Any]])?.count == 1)
        #expect(train["state"] as? String == "exited")
        #expect((train["wall_seconds"] as? Double ?? 0) >= 30)
        #expect((train["user_cpu_seconds"] as? Double ?? 0) >= 1.5, "real usage: \(train)")
        #expect((train["max_rss_bytes"] as? Int ?? 0) > 0)
        let log = try String(contentsOfFile: train["stdout_path"] as? String ?? "", encoding: .utf8)
        #expect(log.split(separator: "\n").count == 280, "every line reached the log, none was lost")
    }

    @Test func twoServicesRaceOn200QueuedRunsAndOneDiesWithoutAStepRunningTwice() throws {
        let served = ServedProject(try Project())
        defer { served.remove() }
        let counter = served.path + "/counter"
        try served.project.dag(
            "race",
            """
            dag: race
            schedule: "* * * * *"
            max_active_runs: 40
            steps:
              a: {command: "echo \\"$SLUICE_RUN_ID a\\" >> \(counter)"}
              b: {command: "echo \\"$SLUICE_RUN_ID b\\" >> \(counter)", needs: [a]}
            """)
        #expect(try served.sluice("serve", "--once").code == 0)
        #expect(try served.sluice("dags", "pause", "race").code == 0)  // only the backfilled runs
        let dry = try served.sluice(
            "backfill", "race", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T03:19:00Z", "--dry-run")
        #expect(dry.stdout.hasSuffix("200 fire times in the range\n"), "\(dry.stdout)")
        #expect(try served.ints("SELECT count(*) AS n FROM run") == [0], "a dry run queues nothing")
        let queued = try served.sluice(
            "backfill", "race", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T03:19:00Z", "--json")
        #expect(queued.code == 0, "\(queued.stderr)")
        #expect(try queued.json()["queued"] as? Int == 200)
        #expect(try served.ints("SELECT count(*) AS n FROM run WHERE state = 'queued'") == [200])
        let other = ServedProject(served.project)
        try served.start()
        try other.start()
        defer { other.stop() }
        // One dies half-way; the other takes its runs over and finishes everything.
        #expect(Waiting.until { self.lineCount(counter) >= 100 })
        served.kill9()
        #expect(Waiting.until(timeout: 180) { (try? served.allRunsEnded(count: 200)) == true })
        let lines = counted(counter)
        #expect(lines.count == 400)
        #expect(lines.values.allSatisfy { $0 == 1 }, "ran twice: \(lines.filter { $0.value > 1 })")
        #expect(try served.ints("SELECT count(*) AS n FROM run WHERE state = 'succeeded'") == [200])
        // Both took part.
        #expect(try served.ints("SELECT count(DISTINCT owner_id) AS n FROM run")[0] >= 2)
    }

    @Test func aPostgreSQLRestartMidRunLosesNothing() throws {
        let dir = try TempDirectory("sluice-pg")
        defer { dir.remove() }
        let server = EmbeddedServer(stateDirectory: dir.path + "/state")
        try server.ensureRunning()
        defer { _ = try? server.stop() }
        let project = try Project(databaseURL: server.conninfo)
        let served = ServedProject(project)
        defer { served.remove() }
        try project.dag(
            "outage",
            """
            dag: outage
            steps:
              first: {command: "touch ../first.started; while [ ! -e ../first.go ]; do sleep 0.05; done; echo done"}
              second: {command: "echo second", needs: [first]}
            """)
        try served.start()
        #expect(served.waitForLog("loaded outage"))
        #expect(try served.sluice("trigger", "outage").code == 0)
        #expect(Waiting.forFile(project.path + "/first.started"))
        #expect(try server.stop())
        _ = try project.directory.write("first.go", "")
        #expect(served.waitForLog("the database is unreachable"), "\(served.log)")
        #expect(try server.ensureRunning())
        #expect(served.waitForLog("the database is back"), "\(served.log)")
        #expect(Waiting.until(timeout: 90) { (try? served.allRunsEnded(count: 1)) == true })
        served.stop()
        let show = try served.sluice("runs", "show", "1", "--json").json()
        #expect((show["run"] as? [String: Any])?["state"] as? String == "succeeded")
        let attempts = try #require(show["attempts"] as? [[String: Any]])
        #expect(attempts.map { $0["step"] as? String } == ["first", "second"])
        #expect(attempts.allSatisfy { $0["exit_code"] as? Int == 0 })
    }
}
