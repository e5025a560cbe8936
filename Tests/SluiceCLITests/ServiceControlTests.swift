import Foundation
import SluiceBasics
import SluiceStore
import SluiceTestSupport
import Testing

/// Schedules, catch-up, the DAG folder, triggers, cancel and retry, as a user drives them.
@Suite("End to end: schedules, the DAG folder, triggers and control")
struct ServiceControlTests {
    private static let perMinute = """
        schedule: "* * * * *"
        max_active_runs: 2
        steps:
          work: {command: "echo run $SLUICE_RUN_ID"}
        """

    /// Pretends the service stopped `minutes` minutes ago (before the minute began): the schedule's position
    /// goes back, as it would have stood then.
    private func stoppedFor(_ minutes: Int, dag: String, served: ServedProject) throws {
        try served.connection().query(
            """
            UPDATE dag SET schedule_from = date_trunc('minute', clock_timestamp()) - make_interval(mins => \(minutes))
            WHERE name = \(dag)
            """)
    }

    @Test(arguments: [true, false])
    func aStopSpanningSeveralFireTimesIsCaughtUpAsTheDAGSays(catchup: Bool) throws {
        let served = ServedProject(try Project())
        defer { served.remove() }
        try served.project.dag("minutely", "dag: minutely\ncatchup: \(catchup)\n" + Self.perMinute)
        #expect(try served.sluice("serve", "--once").code == 0)
        // First seen: it starts from now, with nothing to catch up.
        #expect(try served.ints("SELECT count(*) AS n FROM run") == [0])
        try stoppedFor(5, dag: "minutely", served: served)
        let from = try #require(
            try served.connection().query(
                "SELECT extract(epoch FROM schedule_from)::float8 AS t FROM dag WHERE name = 'minutely'"
            ).rows.first?.double("t"))
        let passStarted = Date().timeIntervalSince1970
        let once = try served.sluice("serve", "--once")
        let passEnded = Date().timeIntervalSince1970
        #expect(once.code == 0, "\(once.stderr)")
        let rows = try served.connection().query(
            """
            SELECT id, extract(epoch FROM scheduled_for)::float8 AS fire, extract(epoch FROM data_interval_start)::float8 AS s,
                   extract(epoch FROM data_interval_end)::float8 AS e, state, trigger,
                   extract(epoch FROM started_at)::float8 AS started, extract(epoch FROM ended_at)::float8 AS ended
            FROM run ORDER BY id
            """
        ).rows
        let fires = rows.compactMap { $0.double("fire") }
        // Whole minutes since the stop: 5, or 6 when a minute turned during the test.
        let missed = Int((Date().timeIntervalSince1970 - from) / 60)
        if catchup {
            #expect(fires.count >= 5 && fires.count <= missed, "queued \(fires.count) of \(missed) missed")
            #expect(fires.first == from + 60, "the oldest missed fire time first")
            #expect(zip(fires, fires.dropFirst()).allSatisfy { $1 - $0 == 60 }, "every missed minute, in order")
            // Within max_active_runs 2: never three at once.
            for row in rows {
                let start = row.double("started") ?? 0
                let overlapping = rows.filter {
                    ($0.double("started") ?? 0) <= start && ($0.double("ended") ?? 0) > start
                }
                #expect(overlapping.count <= 2)
            }
        } else {
            // Only the latest missed fire time, and each minute that turned while that pass ran (then due too).
            let turned = Int(passEnded / 60) - Int(passStarted / 60)
            #expect(fires.count >= 1 && fires.count <= 1 + turned, "only the latest missed fire time: \(fires)")
            #expect(fires.first.map { $0 >= from + 5 * 60 } == true)
            #expect(zip(fires, fires.dropFirst()).allSatisfy { $1 - $0 == 60 }, "then each minute as it came")
        }
        for row in rows {
            #expect(row["state"] == "succeeded")
            #expect(row["trigger"] == "schedule")
            #expect(row.double("s") == row.double("fire"))
            #expect(
                row.double("e") == row.double("fire").map { $0 + 60 }, "the data interval runs to the next fire time")
        }
        // Queued once: another pass, or another service, never queues a fire time again.
        #expect(try served.sluice("serve", "--once").code == 0)
        #expect(try served.ints("SELECT count(*) AS n FROM run") == [Int64(fires.count)])
        let duplicate = try? served.connection().query(
            """
            INSERT INTO run (dag_id, dag_version_id, state, trigger, scheduled_for)
            SELECT dag_id, dag_version_id, 'queued', 'schedule', scheduled_for FROM run LIMIT 1
            """)
        #expect(duplicate == nil, "the database refuses a fire time twice")
        let shown = try served.sluice("runs", "show", String(rows[0].int("id") ?? 0))
        #expect(shown.stdout.contains("trigger:   schedule by scheduler"))
        #expect(shown.stdout.contains("interval:  "))
        if !catchup {
            // A stop of two weeks (20,160 fire times, more than one pass computes) still queues only the latest.
            try served.project.dag("weekslong", "dag: weekslong\n" + Self.perMinute)
            #expect(try served.sluice("serve", "--once").code == 0)
            try stoppedFor(20_160, dag: "weekslong", served: served)
            #expect(try served.sluice("serve", "--once").code == 0)
            let latest = try served.connection().query(
                """
                SELECT count(*) AS n, extract(epoch FROM max(scheduled_for))::float8 AS fire
                FROM run r JOIN dag d ON d.id = r.dag_id WHERE d.name = 'weekslong'
                """
            ).rows[0]
            #expect(latest.int("n") == 1)
            #expect((latest.double("fire") ?? 0) > Date().timeIntervalSince1970 - 120)
        }
    }

    @Test func nextShowsDaylightSavingTimeAsDocumented() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let file = try dir.write(
            "dst.yaml",
            "dag: dst\nschedule: \"30 2 * * *\"\ntimezone: Europe/Berlin\nsteps:\n  a: {command: \"true\"}\n")
        let spring = try SluiceBinary.run(
            ["next", file, "--after", "2026-03-28T12:00:00Z", "--count", "2", "--json"], in: dir.path)
        #expect(spring.code == 0, "\(spring.stderr)")
        let springFires = try #require(try spring.json()["fire_times"] as? [[String: Any]])
        // 02:30 does not exist on 29 March: it runs once, at the first instant after the gap (03:00 CEST).
        #expect(springFires.map { $0["utc"] as? String } == ["2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"])
        #expect(springFires.map { $0["offset"] as? String } == ["+02:00", "+02:00"])
        let autumn = try SluiceBinary.run(
            ["next", file, "--after", "2026-10-24T12:00:00Z", "--count", "2", "--json"], in: dir.path)
        let autumnFires = try #require(try autumn.json()["fire_times"] as? [[String: Any]])
        // 02:30 happens twice on 25 October: it runs once, the first time (CEST).
        #expect(autumnFires.map { $0["utc"] as? String } == ["2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"])
        let text = try SluiceBinary.run(
            ["next", file, "--after", "2026-03-28T12:00:00Z", "--count", "1"], in: dir.path)
        #expect(text.stdout.contains("2026-03-29 03:00"), "\(text.stdout)")
    }

    @Test func aBrokenEditKeepsTheLastGoodVersionAndSaysWhereItIsBroken() throws {
        let served = ServedProject(try Project())
        defer { served.remove() }
        try served.project.dag(
            "edited", "dag: edited\nschedule: \"0 3 * * *\"\nsteps:\n  a: {command: \"echo version one\"}\n")
        try served.start()
        #expect(served.waitForLog("loaded edited"))
        try served.project.dag(
            "edited", "dag: edited\nschedule: \"0 3 * * *\"\nsteps:\n  a: {command: \"echo two\", needz: [b]}\n")
        #expect(served.waitForLog("edited.yaml does not load"), "\(served.log)")
        #expect(served.log.contains("dags/edited.yaml:4:28: unknown key 'needz' in steps.a"), "\(served.log)")
        let status = try served.sluice("status")
        #expect(status.stdout.contains("edited (still runs version 1)"), "\(status.stdout)")
        #expect(status.stdout.contains("edited.yaml:4:28: unknown key 'needz' in steps.a — did you mean 'needs'?"))
        let json = try served.sluice("status", "--json").json()
        let entry = try #require((json["dags"] as? [[String: Any]])?.first)
        #expect((entry["load_error"] as? String)?.contains(":4:28:") == true)
        #expect(entry["next_fire_time"] != nil, "the schedule goes on with the last good version")
        // A trigger runs the last good version.
        #expect(try served.sluice("trigger", "edited", "--wait").code == 0)
        let log = try served.sluice("logs", "latest", "a")
        #expect(log.stdout == "version one\n")
        // Fixed: the new version loads. Removed: the schedule stops, the history stays.
        try served.project.dag(
            "edited", "dag: edited\nschedule: \"0 3 * * *\"\nsteps:\n  a: {command: \"echo three\"}\n")
        #expect(served.waitForLog("loaded edited", count: 2))
        unlink(served.path + "/dags/edited.yaml")
        #expect(served.waitForLog("edited.yaml was removed"))
        let after = try served.sluice("status", "--json").json()
        let removed = try #require((after["dags"] as? [[String: Any]])?.first)
        #expect(removed["removed"] as? Bool == true)
        #expect(removed["next_fire_time"] == nil)
        #expect(removed["runs"] as? Int == 1)
    }

    @Test func editingAnIncludedTemplateMakesANewVersion() throws {
        let served = ServedProject(try Project())
        defer { served.remove() }
        try served.project.directory.write(
            "templates/part.yaml", "template: part\nsteps:\n  work: {command: \"echo one\"}\n")
        try served.project.dag(
            "whole",
            "dag: whole\ninclude:\n  - {file: ../templates/part.yaml, as: p}\nsteps:\n  last: {command: \"true\", needs: [p.work]}\n"
        )
        try served.start()
        #expect(served.waitForLog("loaded whole"))
        try served.project.directory.write(
            "templates/part.yaml", "template: part\nsteps:\n  work: {command: \"echo two\"}\n")
        #expect(served.waitForLog("loaded whole", count: 2), "\(served.log)")
        #expect(served.log.contains("loaded whole file=\(served.path)/dags/whole.yaml version=2"), "\(served.log)")
        #expect(try served.sluice("trigger", "whole", "--wait").code == 0)
        #expect(try served.sluice("logs", "latest", "p.work").stdout == "two\n")
    }

    @Test func triggerMistakesGetOneClearLineAndTheirExitCode() throws {
        let served = ServedProject(try Project())
        defer { served.remove() }
        try served.project.dag(
            "train", "dag: train\nparams:\n  epochs: {type: int, default: 3}\nsteps:\n  a: {command: \"true\"}\n")
        let once = try served.sluice("serve", "--once", "--log-format", "json")
        #expect(once.code == 0)
        let entries = try once.stderr.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String], "\($0)")
        }
        #expect(entries.contains { $0["message"] == "loaded train" && $0["level"] == "info" && $0["version"] != nil })
        #expect(entries.allSatisfy { $0["time"] != nil })
        let unknown = try served.sluice("trigger", "trian")
        #expect(unknown.code == 5)
        #expect(
            unknown.stderr
                == "sluice: no DAG 'trian' is known — did you mean 'train'?: a DAG is known once it has run or a service has loaded it (known: train)\n"
        )
        let bad = try served.sluice("trigger", "train", "--param", "epochs=many")
        #expect(bad.code == 2)
        #expect(bad.stderr.contains("parameter 'epochs' expects an integer, got 'many'"), "\(bad.stderr)")
        #expect(bad.stderr.split(separator: "\n").count == 1)
        #expect(try served.ints("SELECT count(*) AS n FROM run") == [0], "nothing queued by a refused trigger")
        #expect(try served.sluice("dags", "pause", "train").code == 0)
        let paused = try served.sluice("trigger", "train")
        #expect(paused.code == 0)
        #expect(paused.stdout.contains("note: train is paused (its schedule waits); a triggered run starts anyway"))
        #expect(
            paused.stderr.contains("no service is running, so nothing starts it yet: start one with `sluice serve`"))
        let listed = try served.sluice("dags", "--json").json()
        #expect((listed["dags"] as? [[String: Any]])?.first?["paused"] as? Bool == true)
        #expect(try served.sluice("serve", "--once").code == 0)
        #expect(try served.ints("SELECT count(*) AS n FROM run WHERE state = 'succeeded'") == [1])
        #expect(try served.sluice("dags", "pause", "nope").code == 5)
        #expect(try served.sluice("dags", "unpause", "train").code == 0)
        #expect(
            (try served.sluice("dags", "--json").json()["dags"] as? [[String: Any]])?.first?["paused"] as? Bool == false
        )
        // What a run was given and what it reported is shown with it.
        try served.project.dag(
            "train",
            "dag: train\nparams:\n  epochs: {type: int, default: 3}\nsteps:\n  a: {command: \"echo auc=0.9${{ params.epochs }} >> $SLUICE_OUTPUT\"}\n"
        )
        #expect(try served.sluice("serve", "--once").code == 0)
        #expect(try served.sluice("trigger", "train", "--param", "epochs=7", "--logical-date", "2026-11-01").code == 0)
        #expect(try served.sluice("serve", "--once").code == 0)
        let shown = try served.sluice("runs", "show", "latest")
        #expect(shown.stdout.contains("trigger:   manual by \(UserIdentity.current.name)"), "\(shown.stdout)")
        #expect(shown.stdout.contains("params:    epochs=7"))
        #expect(shown.stdout.contains("logical:   2026-11-01"))
        #expect(shown.stdout.contains("outputs:\n  a.auc = 0.97"))
        let json = try served.sluice("runs", "show", "latest", "--json").json()
        #expect(json["params"] as? [String: String] == ["epochs": "7"])
        #expect((json["steps"] as? [[String: Any]])?.first?["outputs"] as? [String: String] == ["auc": "0.97"])
    }

    @Test func cancelStopsQueuedRunningAndOrphanedRunsAndRetryRunsTheFailedStepsAgain() throws {
        let served = ServedProject(try Project())
        defer { served.remove() }
        let marker = UUID().uuidString
        try served.project.dag(
            "slow",
            """
            dag: slow
            max_active_runs: 5
            steps:
              wait: {command: "touch ../started.$SLUICE_RUN_ID; sleep 1000", env: {MARK: "\(marker)"}}
            """)
        try served.project.dag(
            "fix",
            """
            dag: fix
            steps:
              good: {command: "echo good >> ../good.count"}
              flaky: {command: "test -e ../fixed", needs: [good]}
              after: {command: "true", needs: [flaky]}
            """)
        #expect(try served.sluice("serve", "--once").code == 0)
        // Queued, with no service: cancelled at once.
        #expect(try served.sluice("trigger", "slow").code == 0)
        let queued = try served.sluice("cancel", "1", "--json")
        #expect(queued.code == 0)
        #expect(try queued.json()["how"] as? String == "queued")
        #expect(try queued.json()["state"] as? String == "cancelled")
        // Running under a service: its engine stops it.
        try served.start()
        #expect(try served.sluice("trigger", "slow").code == 0)
        #expect(Waiting.forFile(served.path + "/started.2"))
        let running = try served.sluice("cancel", "2", "--wait")
        #expect(running.code == 0, "\(running.stderr)")
        #expect(running.stdout.contains("run 2 cancelled"), "\(running.stdout)")
        // Orphaned: its service was killed; cancel takes it over and stops it.
        #expect(try served.sluice("trigger", "slow").code == 0)
        #expect(Waiting.forFile(served.path + "/started.3"))
        served.kill9()
        let orphan = try served.sluice("cancel", "3")
        #expect(
            orphan.stdout.contains("run 3 cancelled (its engine was gone; this command stopped it)"), "\(orphan.stdout)"
        )
        #expect(Waiting.until { ProcessScan.withEnvironment("MARK=\(marker)").isEmpty })
        #expect(try served.ints("SELECT id AS n FROM run WHERE state = 'cancelled' ORDER BY id") == [1, 2, 3])
        #expect(try served.sluice("cancel", "3").code == 64)
        // Retry: only the failed step and what follows it run again, in the same run.
        #expect(try served.sluice("trigger", "fix").code == 0)
        #expect(try served.sluice("serve", "--once").code == 0)
        #expect(
            try served.sluice("runs", "show", "4", "--json").json()["run"].map {
                ($0 as? [String: Any])?["state"] as? String
            } == "failed")
        _ = try served.project.directory.write("fixed", "")
        let retried = try served.sluice("retry", "4", "--json")
        #expect(retried.code == 0)
        #expect(try retried.json()["steps"] as? [String] == ["flaky", "after"], "\(retried.stdout)")
        #expect(try served.sluice("serve", "--once").code == 0)
        let show = try served.sluice("runs", "show", "4", "--json").json()
        #expect((show["run"] as? [String: Any])?["state"] as? String == "succeeded")
        let steps = try #require(show["steps"] as? [[String: Any]])
        #expect(steps.map { $0["attempts"] as? Int } == [1, 2, 1])
        #expect((try String(contentsOfFile: served.path + "/good.count", encoding: .utf8)) == "good\n")
        #expect(try served.sluice("retry", "4").code == 64, "nothing left to retry")
    }
}

/// The systemd unit shipped in docker/: valid, and never kills the steps on a stop or restart.
@Suite("The systemd unit")
struct SystemdUnitTests {
    private static let unit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docker/sluice.service").path

    @Test func itStopsTheServiceOnlyAndRestartsIt() throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        let settings = Set(text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") })
        for line in [
            "KillMode=process", "Restart=always", "OOMPolicy=continue", "KillSignal=SIGTERM",
            "ExecStart=/usr/local/bin/sluice serve dags --log-format json",
        ] {
            #expect(settings.contains(line), "missing \(line)")
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze")))
    func systemdAcceptsIt() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        // Verified as installed, with this build's binary and an existing user and directory.
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/sluice", with: SluiceBinary.path)
            .replacingOccurrences(of: "User=sluice", with: "User=root")
            .replacingOccurrences(of: "Group=sluice", with: "Group=root")
            .replacingOccurrences(of: "/srv/sluice", with: dir.path)
        let file = try dir.write("sluice.service", text)
        let result = try SluiceBinary.runProgram(["/usr/bin/systemd-analyze", "verify", file], in: dir.path)
        #expect(result.code == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "\(result.stderr)")
    }
}
