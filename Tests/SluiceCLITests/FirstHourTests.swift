import Foundation
import SluiceBasics
import SluiceTestSupport
import Testing

/// The frictions found by trying Sluice as a new user would, each shown gone.
@Suite("End to end: the first hour of a data scientist")
struct FirstHourTests {
    // MARK: Records that say what happened

    @Test func aStepThatSucceededOnARetryKeepsNoFailureMessage() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "flaky",
            """
            dag: flaky
            steps:
              flaky:
                command: "test -f ../tried || { touch ../tried; exit 75; }"
                retries: {attempts: 3, backoff: 1s}
            """)
        #expect(try project.sluice("run", "dags/flaky.yaml").code == 0)
        let show = try project.sluice("runs", "show", "latest")
        #expect(!show.stdout.contains("problems:"), "\(show.stdout)")
        let step = try #require(
            (try project.sluice("runs", "show", "latest", "--json").json()["steps"] as? [[String: Any]])?.first)
        #expect(step["state"] as? String == "succeeded")
        #expect(step["message"] == nil)
        #expect(step["attempts"] as? Int == 2)
    }

    @Test func skippedStepsAreTheirOwnStateNotProblems() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "when",
            """
            dag: when
            params:
              full: {type: bool, default: false}
            steps:
              a: {command: "true"}
              b: {command: "true", needs: [a]}
              c: {command: "true", when: "params.full", needs: [a]}
              d: {command: "true", when: "params.full", needs: [c]}
            """)
        #expect(try project.sluice("run", "dags/when.yaml").code == 0)
        let runs = try project.sluice("runs")
        #expect(runs.stdout.contains("2 ok, 2 skipped of 4"), "\(runs.stdout)")
        #expect(try project.sluice("status").stdout.contains("2 ok, 2 skipped of 4"))
        let show = try project.sluice("runs", "show", "latest")
        #expect(!show.stdout.contains("problems:"))
        #expect(show.stdout.contains("skipped:\n  c: skipped: when params.full is false"), "\(show.stdout)")
        let summary = try #require(try project.sluice("runs", "--json").json()["runs"] as? [[String: Any]]).first
        #expect(summary?["skipped"] as? Int == 2)
        #expect(summary?["failed"] as? Int == 0)
    }

    @Test func runsShowTheCommandThatRanAndPlanTheResourcesThatApply() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("sluice.yaml", "default_resources: {memory: 1Gi}\n")
        try project.dag(
            "cmd",
            """
            dag: cmd
            steps:
              a:
                command: "echo candidate_${{ run.id }}.json"
                resources: {cpus: 0.5}
            """)
        #expect(try project.sluice("run", "dags/cmd.yaml").code == 0)
        let step = try #require(
            (try project.sluice("runs", "show", "1", "--json").json()["steps"] as? [[String: Any]])?.first)
        #expect(step["command"] as? [String] == ["/bin/sh", "-c", "echo candidate_1.json"])
        let text = try project.sluice("runs", "show", "1")
        #expect(text.stdout.contains("commands (as run):\n  a  /bin/sh -c 'echo candidate_1.json'"), "\(text.stdout)")
        let plan = try project.sluice("plan", "dags/cmd.yaml")
        #expect(
            plan.stdout.contains(
                "resources: 0.5 cpu (step), 1.0 GiB (default_resources in \(project.path)/sluice.yaml), 0 GPUs (Sluice's default), max_processes 4096 (Sluice's default)"
            ), "\(plan.stdout)")
        let planned = try #require(
            (try project.sluice("plan", "dags/cmd.yaml", "--json").json()["steps"] as? [[String: Any]])?.first)
        let applied = try #require(planned["applied_resources"] as? [String: [String: Any]])
        #expect(applied["memory_bytes"]?["value"] as? Int == 1 << 30)
        #expect(applied["cpus"]?["source"] as? String == "step")
    }

    // MARK: Every problem at once, in words that say what to fix

    @Test func keyTyposUnknownNeedsAndEveryCycleComeInOneRound() throws {
        let project = try Project()
        defer { project.remove() }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let result = try project.sluice("validate", repository + "/examples/mistakes/typos.yaml")
        #expect(result.code == 1)
        let lines = result.stderr.split(separator: "\n").map {
            $0.split(separator: ": ", maxSplits: 1).last.map(String.init) ?? ""
        }
        #expect(lines.contains("unknown key 'comand' in steps.features — did you mean 'command'?"), "\(result.stderr)")
        #expect(lines.contains("steps.train.needs[0]: unknown step 'featurs' — did you mean 'features'?"))
        #expect(lines.contains { $0.contains("found '8GB' — did you mean '8Gi'?") })
        #expect(lines.contains("dependency cycle: report -> publish -> report"))
    }

    @Test func indentationAndTabMistakesSayWhatToFix() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("dags/tab.yaml", "dag: x\nsteps:\n\ta: {command: \"true\"}\n")
        let tab = try project.sluice("validate", "dags/tab.yaml")
        #expect(tab.stderr.contains("dags/tab.yaml:3:1: a tab character: YAML indents with spaces only"))
        try project.directory.write("dags/colon.yaml", "dag: x\nsteps:\n  a:\n    command \"true\"\n    timeout: 1m\n")
        let colon = try project.sluice("validate", "dags/colon.yaml")
        #expect(colon.stderr.contains("dags/colon.yaml:4:5: 'command' needs a colon after it to be a key"))
    }

    // MARK: Silent traps

    @Test func tagsAreTemplatedAndNumbersCompareAsNumbers() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "traps",
            """
            dag: traps
            steps:
              count: {command: "echo rows=10 >> $SLUICE_OUTPUT; echo 'auc: 0.91' >> $SLUICE_OUTPUT"}
              big:
                needs: [count]
                when: steps.count.outputs.rows > '5'
                command: "true"
              score:
                foreach: [ah, albert]
                command: "echo rows=${#SLUICE_ITEM} >> $SLUICE_OUTPUT"
                tags: {brand: "${{ item }}"}
              collect:
                needs: [score]
                command: "echo ${{ steps.score[ah].outputs.rows }} ${{ steps.score[*].outputs.rows }} > ../collected.txt"
            """)
        let plan = try project.sluice("plan", "dags/traps.yaml")
        #expect(plan.stdout.contains("tags: brand=albert"), "\(plan.stdout)")
        let run = try project.sluice("run", "dags/traps.yaml")
        #expect(run.code == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("warning: $SLUICE_OUTPUT line 2 is not key=value and was ignored: 'auc: 0.91'"))
        let show = try project.sluice("runs", "show", "latest", "--json").json()
        let steps = try #require(show["steps"] as? [[String: Any]])
        #expect(steps.first { $0["step"] as? String == "big" }?["state"] as? String == "succeeded")
        let attempts = try #require(show["attempts"] as? [[String: Any]])
        #expect((attempts.first?["warnings"] as? [String])?.count == 1)
        #expect(
            try String(contentsOfFile: project.path + "/collected.txt", encoding: .utf8)
                == "2 {\"ah\":\"2\",\"albert\":\"6\"}\n")
    }

    @Test func aParameterGivenTwiceIsRefusedUnlessItIsAList() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "twice",
            """
            dag: twice
            params:
              epochs: {type: int, default: 1}
              brands: {type: list, default: [ah]}
            steps:
              a:
                foreach: ${{ params.brands }}
                command: "echo ${{ params.epochs }}"
            """)
        let refused = try project.sluice("plan", "dags/twice.yaml", "--param", "epochs=5", "--param", "epochs=50")
        #expect(refused.code == 2)
        #expect(refused.stderr.contains("--param epochs is given twice ('5' and '50'); give it once"))
        let list = try project.sluice(
            "plan", "dags/twice.yaml", "--param", "brands=ah", "--param", "brands=albert,jumbo")
        #expect(list.code == 0, "\(list.stderr)")
        #expect(list.stdout.contains("a[albert]") && list.stdout.contains("a[jumbo]"))
    }

    @Test func aConfigurationTypoIsReportedOnceAsSuch() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("sluice.yaml", "capacty: {cpus: 2}\n")
        for name in ["a", "b", "c"] { try project.dag(name, "dag: \(name)\nsteps:\n  s: {command: \"true\"}\n") }
        let result = try project.sluice("validate", "dags")
        #expect(result.code == 1)
        #expect(result.stderr.components(separatedBy: "unknown key 'capacty'").count == 2, "\(result.stderr)")
        #expect(
            result.stdout.contains(
                "3 files: 3 valid, 0 invalid (0 problems); configuration \(project.path)/sluice.yaml: 1 problem"))
        let json = try project.sluice("validate", "dags", "--json").json()
        let files = try #require(json["files"] as? [[String: Any]])
        #expect(files.filter { $0["kind"] as? String == "config" }.count == 1)
        #expect(files.filter { $0["kind"] as? String == "dag" }.allSatisfy { $0["valid"] as? Bool == true })
    }

    @Test func runAndPlanPrintTheirDiagnosticsAsJSON() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag("bad", "dag: bad\nsteps:\n  a: {comand: x}\n")
        for command in ["run", "plan"] {
            let result = try project.sluice(command, "dags/bad.yaml", "--json")
            #expect(result.code == 2)
            let json = try result.json()
            #expect(json["valid"] as? Bool == false)
            let diagnostic = try #require(
                ((json["files"] as? [[String: Any]])?.first?["diagnostics"] as? [[String: Any]])?.first)
            #expect(diagnostic["code"] as? String == "unknown-key")
            #expect(diagnostic["line"] as? Int == 3)
        }
        try project.dag("param", "dag: param\nparams:\n  n: {type: int}\nsteps:\n  a: {command: \"true\"}\n")
        let missing = try project.sluice("plan", "dags/param.yaml", "--json").json()
        #expect((missing["errors"] as? [String])?.first?.contains("parameter 'n' (int) has no default") == true)
        // The plan's keys are sorted, as the JSON docs say.
        try project.dag("ok", "dag: ok\nsteps:\n  a: {command: \"true\"}\n")
        let plan = try project.sluice("plan", "dags/ok.yaml", "--json").stdout
        let topKeys = plan.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.split(separator: "\"")[1] }
        #expect(topKeys == topKeys.sorted() && topKeys.count > 3)
    }

    // MARK: Commands that do not surprise

    @Test func readOnlyCommandsNeverCreateADatabase() throws {
        let directory = try TempDirectory("sluice-empty")
        defer { directory.remove() }
        for arguments in [["runs"], ["status"], ["logs", "1", "a"], ["runs", "show", "latest"]] {
            let result = try SluiceBinary.run(arguments, in: directory.path)
            #expect(result.code == 4, "\(arguments): \(result.stderr)")
            #expect(
                result.stderr.contains(
                    "sluice: no Sluice state found: no .sluice directory in \(directory.path) or any directory above it"
                ))
            #expect(result.stderr.contains("--state-dir"))
        }
        #expect(!FileSystem.exists(directory.path + "/.sluice"))
    }

    @Test func logsFollowWaitsForAStepThatHasNotStartedYet() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "later",
            """
            dag: later
            steps:
              first: {command: "while [ ! -f ../go ]; do sleep 0.05; done"}
              second: {command: "echo from-second", needs: [first]}
            """)
        let run = try SluiceBinary.start(
            ["run", "dags/later.yaml"], in: project.path, env: ["SLUICE_DATABASE_URL": project.databaseURL])
        #expect(run.waitForLine { $0.contains("first") && $0.contains("started") } != nil)
        let follow = try SluiceBinary.start(
            ["logs", "-f", "1", "second"], in: project.path, env: ["SLUICE_DATABASE_URL": project.databaseURL])
        // It waits (the step has not started); once it may start, its output arrives and follow ends.
        try "".write(toFile: project.path + "/go", atomically: true, encoding: .utf8)
        #expect(follow.waitForLine { $0 == "from-second" } != nil, "\(follow.transcript)")
        #expect(follow.finish() == 0)
        #expect(run.finish() == 0)
    }

    @Test func handlersGetDefaultsShowTheirResultsAndHaveReadableLogs() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write(
            "scripts/notify.sh", "#!/bin/sh\necho notified $SLUICE_RUN_STATE; echo oops >&2; exit 3\n")
        chmod(project.path + "/scripts/notify.sh", 0o755)
        try project.dag(
            "notify",
            """
            dag: notify
            defaults: {workdir: ../scripts}
            steps:
              a: {command: "exit 1"}
            on_failure:
              - command: ./notify.sh
            """)
        let run = try project.sluice("run", "dags/notify.yaml")
        #expect(run.code == 1)
        #expect(run.stdout.contains("on_failure[0]  failed"), "\(run.stdout)")
        #expect(run.stdout.contains("handler on_failure[0] failed: exited with code 3"))
        let show = try project.sluice("runs", "show", "latest")
        #expect(show.stdout.contains("handlers:"))
        #expect(show.stdout.contains("on_failure[0]  failed"), "\(show.stdout)")
        let logs = try project.sluice("logs", "latest", "on_failure[0]")
        #expect(logs.code == 0)
        #expect(logs.stdout == "notified failed\n")
        #expect(try project.sluice("logs", "latest", "on_failure[0]", "--stderr").stdout == "oops\n")
    }

    @Test func gracePeriodAndDoctorAcceptWhatUsersWrite() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag("x", "dag: x\nsteps:\n  a: {command: \"true\"}\n")
        for value in ["5", "5s", "1m"] {
            #expect(try project.sluice("run", "dags/x.yaml", "--grace-period", value).code == 0, "\(value)")
        }
        #expect(try project.sluice("run", "dags/x.yaml", "--grace-period", "soon").code == 64)
        for value in ["5", "5s"] {
            try project.directory.write("sluice.yaml", "grace_period: \(value)\n")
            #expect(try project.sluice("run", "dags/x.yaml").code == 0, "grace_period: \(value)")
        }
        try project.directory.write("sluice.yaml", "grace_period: 5\ncapacty: {}\n")
        let doctor = try project.sluice("doctor")
        #expect(doctor.code == 1)
        #expect(
            doctor.stdout.contains("config:      BROKEN: \(project.path)/sluice.yaml has 1 problem"), "\(doctor.stdout)"
        )
        #expect(doctor.stdout.contains("database:    ok"))
        let json = try project.sluice("doctor", "--json").json()
        #expect((json["config_problems"] as? [String])?.count == 1)
    }
}
