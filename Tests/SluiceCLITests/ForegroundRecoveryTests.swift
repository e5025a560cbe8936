import Foundation
import SluiceBasics
import SluiceStore
import SluiceTestSupport
import Testing

/// `sluice run` in a terminal that goes away, killed outright, or beside other runs on the same host.
@Suite("End to end: foreground runs survive hang-ups, are recovered when killed, and share the host")
struct ForegroundRecoveryTests {
    private func waitingDAG(_ project: Project, marker: String) throws {
        try project.dag(
            "held",
            """
            dag: held
            steps:
              hold: {command: "touch ../hold.started; while [ ! -e ../hold.go ]; do sleep 0.05; done; echo held", env: {MARK: "\(marker)"}}
              next: {command: "echo next", needs: [hold]}
            """)
    }

    /// `sluice run` of the held DAG, once its first step has started.
    private func startHeldRun(_ project: Project, marker: String) throws -> LiveCommand {
        try waitingDAG(project, marker: marker)
        let live = try SluiceBinary.start(
            ["run", "dags/held.yaml"], in: project.path, env: ["SLUICE_DATABASE_URL": project.databaseURL])
        #expect(Waiting.forFile(project.path + "/hold.started"))
        return live
    }

    @Test func aHangUpDoesNotStopTheRun() throws {
        let project = try Project()
        defer { project.remove() }
        let marker = UUID().uuidString
        let live = try startHeldRun(project, marker: marker)
        kill(live.process.pid, SIGHUP)
        _ = try project.directory.write("hold.go", "")
        #expect(live.finish() == 0, "\(live.transcript)")
        let show = try project.sluice("runs", "show", "latest", "--json").json()
        #expect((show["run"] as? [String: Any])?["state"] as? String == "succeeded")
    }

    @Test func aClosedStdoutDoesNotStopTheRun() throws {
        let project = try Project()
        defer { project.remove() }
        let marker = UUID().uuidString
        try waitingDAG(project, marker: marker)
        _ = try project.directory.write("hold.go", "")
        // `| head -1` closes the pipe after the first line; the run goes on to its end, silently.
        let piped = try SluiceBinary.runProgram(
            ["/bin/sh", "-c", "'\(SluiceBinary.path)' run dags/held.yaml | head -1"],
            in: project.path, env: ["SLUICE_DATABASE_URL": project.databaseURL])
        #expect(piped.code == 0)
        #expect(piped.stdout.split(separator: "\n").count == 1)
        // The shell waited for sluice too: the run has ended, and ended well.
        let show = try project.sluice("runs", "show", "latest", "--json").json()
        #expect((show["steps"] as? [[String: Any]])?.map { $0["state"] as? String } == ["succeeded", "succeeded"])
    }

    @Test func aKilledRunIsRecordedByTheNextCommandAndItsStepsAreNotOrphaned() throws {
        let project = try Project()
        defer { project.remove() }
        let marker = UUID().uuidString
        let live = try startHeldRun(project, marker: marker)
        kill(live.process.pid, SIGKILL)
        _ = live.finish()
        // The step goes on under its watcher; while it runs, the run is shown running.
        #expect(!ProcessScan.withEnvironment("MARK=\(marker)").isEmpty)
        let during = try project.sluice("status")
        #expect(during.stdout.contains("running"), "\(during.stdout)")
        _ = try project.directory.write("hold.go", "")
        #expect(Waiting.until { ProcessScan.withEnvironment("MARK=\(marker)").isEmpty })
        // The next command records how it ended; what had not started is cancelled, and says how to go on.
        let status = try project.sluice("status")
        #expect(status.code == 0)
        let show = try project.sluice("runs", "show", "latest", "--json").json()
        let run = try #require(show["run"] as? [String: Any])
        #expect(run["state"] as? String == "failed")
        #expect((show["message"] as? String)?.contains("sluice retry 1") == true, "\(show)")
        let steps = try #require(show["steps"] as? [[String: Any]])
        #expect(steps.map { $0["state"] as? String } == ["succeeded", "cancelled"])
        #expect((show["attempts"] as? [[String: Any]])?.first?["exit_code"] as? Int == 0)
        // And a service (or --once) can finish it.
        #expect(try project.sluice("retry", "1").code == 0)
        #expect(try project.sluice("serve", "--once").code == 0)
        let done = try project.sluice("runs", "show", "1", "--json").json()
        #expect((done["run"] as? [String: Any])?["state"] as? String == "succeeded")
        #expect((done["steps"] as? [[String: Any]])?.map { $0["attempts"] as? Int } == [1, 1])
    }

    /// A second `sluice run` of the same DAG waits for the first (max_active_runs 1); when the first `sluice`
    /// was killed, the waiting one records the dead run's end once its step ends, and then runs.
    @Test func aRunWaitingForAKilledRunsSlotStartsOnceTheKilledRunsStepEnds() throws {
        let project = try Project()
        defer { project.remove() }
        let marker = UUID().uuidString
        let first = try startHeldRun(project, marker: marker)
        kill(first.process.pid, SIGKILL)
        _ = first.finish()
        let second = try SluiceBinary.start(
            ["run", "dags/held.yaml"], in: project.path, env: ["SLUICE_DATABASE_URL": project.databaseURL])
        #expect(second.waitForLine { $0.contains("run 2 starts when one ends") } != nil, "\(second.transcript)")
        _ = try project.directory.write("hold.go", "")
        // Without the wait's own recovery, the second run would wait for ever: stop it then, and fail. (Read
        // in SQL: a `sluice` command would itself record what ended of the killed run.)
        let database = try PGConnection(conninfo: project.databaseURL)
        let started = Waiting.until {
            (try? database.query("SELECT state FROM run WHERE id = 2").rows.first?["state"]) == "succeeded"
        }
        if !started { kill(second.process.pid, SIGKILL) }
        #expect(started, "\(second.transcript)")
        #expect(second.finish() == 0, "\(second.transcript)")
        let runs = try #require(try project.sluice("runs", "--json").json()["runs"] as? [[String: Any]])
        #expect(Set(runs.compactMap { $0["state"] as? String }) == ["failed", "succeeded"], "\(runs)")
    }

    /// A `sluice run` killed while it waits for its DAG's slot leaves no run queued for a service to start
    /// later, unasked: the next command cancels it, and says why.
    @Test func aRunKilledWhileItWaitsForItsSlotIsCancelledNotLeftQueued() throws {
        let project = try Project()
        defer { project.remove() }
        let first = try startHeldRun(project, marker: UUID().uuidString)
        let second = try SluiceBinary.start(
            ["run", "dags/held.yaml"], in: project.path, env: ["SLUICE_DATABASE_URL": project.databaseURL])
        #expect(second.waitForLine { $0.contains("run 2 starts when one ends") } != nil, "\(second.transcript)")
        kill(second.process.pid, SIGKILL)
        _ = second.finish()
        let status = try project.sluice("status")
        #expect(status.code == 0, "\(status.stderr)")
        let show = try project.sluice("runs", "show", "2", "--json").json()
        let run = try #require(show["run"] as? [String: Any])
        #expect(run["state"] as? String == "cancelled", "\(run)")
        let database = try PGConnection(conninfo: project.databaseURL)
        let why = try database.query("SELECT message FROM run WHERE id = 2").rows.first?["message"]
        #expect(why?.contains("ended while the run waited for its slot") == true, "\(why ?? "no message")")
        // The first run is untouched, and a service finds nothing to start.
        _ = try project.directory.write("hold.go", "")
        #expect(first.finish() == 0, "\(first.transcript)")
        #expect(try project.sluice("serve", "--once").code == 0)
        let runs = try #require(try project.sluice("runs", "--json").json()["runs"] as? [[String: Any]])
        #expect(runs.map { $0["state"] as? String } == ["cancelled", "succeeded"], "\(runs)")
    }

    @Test func runsInSeparateProcessesShareTheHostsCapacityAndMaxActiveRuns() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("sluice.yaml", "capacity: {cpus: 2, memory: 4Gi}\n")
        try project.dag(
            "big",
            """
            dag: big
            max_active_runs: 5
            steps:
              whole: {command: "sleep 0.5", resources: {cpus: 2}}
            """)
        try project.dag(
            "single",
            """
            dag: single
            steps:
              one: {command: "sleep 0.5", resources: {cpus: 0.1}}
            """)
        let env = ["SLUICE_DATABASE_URL": project.databaseURL]
        // Known to the database first, so the racing processes do not also race to record it.
        #expect(try project.sluice("run", "dags/big.yaml").code == 0)
        #expect(try project.sluice("run", "dags/single.yaml").code == 0)
        var live: [LiveCommand] = []
        for _ in 0..<3 { live.append(try SluiceBinary.start(["run", "dags/big.yaml"], in: project.path, env: env)) }
        for _ in 0..<2 { live.append(try SluiceBinary.start(["run", "dags/single.yaml"], in: project.path, env: env)) }
        for command in live { #expect(command.finish() == 0, "\(command.transcript)") }
        let connection = try PGConnection(conninfo: project.databaseURL)
        func intervals(_ dag: String, _ table: String) throws -> [(Double, Double)] {
            let sql: SQL =
                table == "attempt"
                ? """
                SELECT extract(epoch FROM a.started_at)::float8 AS s, extract(epoch FROM a.ended_at)::float8 AS e
                FROM attempt a JOIN step_instance si ON si.id = a.step_instance_id JOIN run r ON r.id = si.run_id
                JOIN dag d ON d.id = r.dag_id WHERE d.name = \(dag) ORDER BY a.started_at
                """
                : """
                SELECT extract(epoch FROM r.started_at)::float8 AS s, extract(epoch FROM r.ended_at)::float8 AS e
                FROM run r JOIN dag d ON d.id = r.dag_id WHERE d.name = \(dag) ORDER BY r.started_at
                """
            return try connection.query(sql).rows.map { ($0.double("s") ?? 0, $0.double("e") ?? 0) }
        }
        // Each asks for 2 of 2 CPUs: the host runs one at a time, whichever process started it.
        let big = try intervals("big", "attempt")
        #expect(big.count == 4)
        for (a, b) in zip(big, big.dropFirst()) { #expect(b.0 >= a.1, "attempts overlap: \(big)") }
        // max_active_runs 1 holds between processes: the second run starts when the first ends.
        let single = try intervals("single", "run")
        #expect(single.count == 3)
        for (a, b) in zip(single, single.dropFirst()) { #expect(b.0 >= a.1, "runs overlap: \(single)") }
    }
}
