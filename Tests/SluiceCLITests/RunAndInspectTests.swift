import Foundation
import SluiceTestSupport
import Testing

@Suite("End to end: run, status, runs, logs (the built binary)")
struct RunAndInspectTests {
    /// Logs and `$SLUICE_OUTPUT` are made on the first byte: a silent step leaves only its watcher's status
    /// file, and its logs read back as empty; a stale file under the same name is not taken for its log.
    @Test func aSilentStepMakesNoFilesAndItsLogsAreEmpty() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "quiet",
            """
            dag: quiet
            steps:
              hush: {command: "true"}
              talk: {command: "echo k=v >> $SLUICE_OUTPUT; echo said"}
            """)
        #expect(try project.sluice("run", "dags/quiet.yaml").code == 0)
        let directory = project.path + "/.sluice/logs/quiet/1"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names == ["hush.1.status", "talk.1.out", "talk.1.output", "talk.1.status"])
        let hush = try project.sluice("logs", "latest", "hush")
        #expect(hush.code == 0 && hush.stdout.isEmpty, "\(hush.stderr)")
        #expect(try project.sluice("logs", "latest", "hush", "--stderr").code == 0)
        #expect(try project.sluice("logs", "latest", "talk").stdout == "said\n")
        let show = try project.sluice("runs", "show", "latest", "--json").json()
        let steps = try #require(show["steps"] as? [[String: Any]])
        #expect((steps.first { $0["step"] as? String == "talk" }?["outputs"] as? [String: String]) == ["k": "v"])
        // The logs of a run whose directory is gone are reported as gone, not as empty.
        try FileManager.default.removeItem(atPath: directory)
        let gone = try project.sluice("logs", "latest", "hush")
        #expect(gone.code == 5 && gone.stderr.contains("is gone"), "\(gone.stderr)")
    }

    /// With `SLUICE_PROFILE` set, `sluice run` says where its wall time went, phase by phase, each counted
    /// once per attempt; without it, nothing is said.
    @Test func aProfiledRunSaysWhereItsTimeWent() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "three",
            """
            dag: three
            steps:
              a: {command: "true"}
              b: {command: "true", needs: [a]}
              c: {command: "true", needs: [b]}
            """)
        let run = try project.sluice(["run", "dags/three.yaml"], env: ["SLUICE_PROFILE": "1"])
        #expect(run.code == 0, "\(run.stderr)")
        #expect(run.stderr.contains("where the engine's wall time went (SLUICE_PROFILE), 3 steps:"), "\(run.stderr)")
        for phase in [
            "begin: the attempt recorded", "spawn: until the watcher reports", "step: runs", "end: the attempt's end",
        ] {
            let line = run.stderr.split(separator: "\n").first { $0.contains(phase) }.map(String.init)
            #expect(line?.split(separator: " ").first == "3", "\(phase): \(line ?? "missing")")
        }
        let plain = try project.sluice("run", "dags/three.yaml")
        #expect(plain.code == 0 && !plain.stderr.contains("SLUICE_PROFILE"), "\(plain.stderr)")
    }

    @Test func aRunIsRecordedAndReadBack() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "pipe",
            """
            dag: pipe
            steps:
              produce:
                command: [sh, -c, "echo produced rows; echo note >&2"]
              consume:
                needs: [produce]
                command: echo consumed
            """)
        let run = try project.sluice("run", "dags/pipe.yaml")
        #expect(run.code == 0, "\(run.stderr)")
        #expect(run.stdout.contains("produce  succeeded  1         0"))
        #expect(run.stdout.contains("2 of 2 steps succeeded"))

        let show = try project.sluice("runs", "show", "latest", "--json").json()
        let summary = try #require(show["run"] as? [String: Any])
        #expect(summary["state"] as? String == "succeeded")
        #expect(summary["dag"] as? String == "pipe")
        let steps = try #require(show["steps"] as? [[String: Any]])
        #expect(steps.map { $0["step"] as? String } == ["produce", "consume"])
        #expect(steps.allSatisfy { $0["exit_code"] as? Int == 0 && $0["attempts"] as? Int == 1 })
        #expect(
            steps.allSatisfy {
                $0["started_at"] is String && $0["ended_at"] is String && $0["duration_seconds"] is Double
            })

        let runID = try #require(summary["id"] as? Int)
        #expect(try project.sluice("logs", String(runID), "produce").stdout == "produced rows\n")
        #expect(try project.sluice("logs", String(runID), "produce", "--stderr").stdout == "note\n")
        #expect(try project.sluice("logs", String(runID), "produce", "--attempt", "2").code == 5)
        let unknown = try project.sluice("logs", String(runID), "produse")
        #expect(unknown.code == 5)
        #expect(unknown.stderr.contains("did you mean 'produce'?"))

        let status = try project.sluice("status", "--json").json()
        let dags = try #require(status["dags"] as? [[String: Any]])
        #expect(dags.count == 1)
        #expect((dags[0]["latest_run"] as? [String: Any])?["state"] as? String == "succeeded")

        #expect(try project.sluice("run", "dags/pipe.yaml").code == 0)
        let runs = try #require(
            try project.sluice("runs", "--dag", "pipe", "--limit", "1", "--json").json()["runs"] as? [[String: Any]])
        #expect(runs.count == 1)
        #expect(runs[0]["id"] as? Int == runID + 1)
        let table = try project.sluice("runs")
        #expect(table.stdout.split(separator: "\n").count == 3)
        #expect(try project.sluice("runs", "show", "999999").code == 5)
    }

    @Test func runJSONDescribesTheRunOnStdoutAndProgressOnStderr() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag("one", "dag: one\nsteps:\n  only: {command: \"true\"}\n")
        let result = try project.sluice("run", "dags/one.yaml", "--json")
        #expect(result.code == 0)
        let run = try #require(try result.json()["run"] as? [String: Any])
        #expect(run["state"] as? String == "succeeded")
        #expect(result.stderr.contains("only  started"))
    }

    @Test func aFailingStepFailsTheRunWithExitCode1() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "bad",
            """
            dag: bad
            steps:
              typo: {command: "pyhton train.py"}
              downstream: {command: "true", needs: [typo]}
              fine: {command: "true"}
            """)
        let result = try project.sluice("run", "dags/bad.yaml")
        #expect(result.code == 1)
        #expect(result.stdout.contains("command not found"))
        let steps = try #require(
            try project.sluice("runs", "show", "latest", "--json").json()["steps"] as? [[String: Any]])
        #expect(steps.map { $0["state"] as? String } == ["failed", "upstream_failed", "succeeded"])
        #expect((steps[0]["message"] as? String)?.contains("command not found") == true)
        #expect(try project.sluice("logs", "latest", "typo", "--stderr").stdout.contains("pyhton: not found"))
    }

    @Test func ctrlCCancelsTheRunAndStopsItsSteps() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "long",
            """
            dag: long
            steps:
              sleeper: {command: "sleep 1000 & wait"}
              after: {command: "true", needs: [sleeper]}
            """)
        let live = try SluiceBinary.start(
            ["run", "dags/long.yaml", "--grace-period", "5"], in: project.path,
            env: ["SLUICE_DATABASE_URL": project.databaseURL])
        let started = try #require(live.waitForLine { $0.contains("sleeper") && $0.contains("started") })
        let pid = try #require(started.split(separator: "pid ").last.flatMap { pid_t($0.dropLast()) })
        kill(live.process.pid, SIGINT)
        #expect(live.finish() == 130, "\(live.transcript)")
        #expect(ProcessGroupWatch.waitUntilEmpty(pid) == [])
        let show = try project.sluice("runs", "show", "latest", "--json").json()
        #expect((show["run"] as? [String: Any])?["state"] as? String == "cancelled")
        let steps = try #require(show["steps"] as? [[String: Any]])
        #expect(steps.map { $0["state"] as? String } == ["cancelled", "cancelled"])
    }
}
