import Foundation
import SluiceEngine
import SluiceSpec
import SluiceStore
import SluiceTestSupport
import Testing

@Suite("Driving runs: PostgreSQL and real processes")
struct RunDriverTests {
    private func run(
        _ yaml: String, parallelism: Int = 2, in directory: TempDirectory,
        observer: RecordingObserver = RecordingObserver(),
        configure: (RunDriver) -> Void = { _ in }
    ) throws -> (RunResult, RunDetail, Store) {
        let file = try directory.write("dags/test.yaml", yaml)
        let spec = try SpecLoader.load(path: file)
        let store = try TestDatabase.freshStore()
        var options = RunOptions(logRoot: directory.path + "/logs")
        options.parallelism = parallelism
        options.gracePeriod = 5
        let driver = try RunDriver(store: store, observer: observer, options: options)
        configure(driver)
        let result = try driver.run(spec)
        let detail = try #require(try RunQueries(store: store).runDetail(id: result.runID))
        return (result, detail, store)
    }

    @Test func stepsRunAfterTheirNeedsInEveryRecordedTimestamp() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (result, detail, _) = try run(
            """
            dag: diamond
            steps:
              a: {command: "echo a >> ../order.txt"}
              b: {command: "echo b >> ../order.txt"}
              join: {command: "echo join >> ../order.txt", needs: [a, b]}
              report: {command: "echo report >> ../order.txt", needs: [join]}
            """, in: dir)
        #expect(result.state == .succeeded)
        #expect(detail.steps.allSatisfy { $0.state == .succeeded && $0.exitCode == 0 && $0.attempts == 1 })
        let byName = Dictionary(uniqueKeysWithValues: detail.steps.map { ($0.step, $0) })
        for (step, needs) in [("join", ["a", "b"]), ("report", ["join"])] {
            for need in needs {
                #expect(try #require(byName[need]?.endedAt) <= (try #require(byName[step]?.startedAt)))
            }
        }
        let order = try String(contentsOfFile: dir.path + "/order.txt", encoding: .utf8).split(separator: "\n")
        #expect(order.suffix(2) == ["join", "report"])
    }

    @Test func failureMarksDownstreamAndIndependentBranchesStillRun() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (result, detail, _) = try run(
            """
            dag: failing
            steps:
              broken: {command: "echo oops >&2; exit 3"}
              after: {command: "true", needs: [broken]}
              after_after: {command: "true", needs: [after]}
              independent: {command: [echo, fine]}
              missing: {command: [no-such-command-xyz]}
            """, in: dir)
        #expect(result.state == .failed)
        let states = Dictionary(uniqueKeysWithValues: detail.steps.map { ($0.step, $0.state) })
        #expect(
            states == [
                "broken": .failed, "after": .upstreamFailed, "after_after": .upstreamFailed, "independent": .succeeded,
                "missing": .failed,
            ])
        let broken = try #require(detail.attempts.first { $0.step == "broken" })
        #expect(broken.state == .exited && broken.exitCode == 3)
        #expect(try String(contentsOfFile: broken.stderrPath, encoding: .utf8) == "oops\n")
        let missing = try #require(detail.attempts.first { $0.step == "missing" })
        #expect(missing.state == .failedToStart)
        #expect(missing.message?.contains("command not found: no-such-command-xyz") == true)
    }

    @Test func neverMoreStepsAtOnceThanTheParallelism() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let steps = (1...6).map { "  s\($0): {command: \"sleep 0.2\"}" }.joined(separator: "\n")
        let (result, detail, _) = try run("dag: wide\nsteps:\n\(steps)\n", parallelism: 2, in: dir)
        #expect(result.state == .succeeded)
        let intervals = detail.steps.map { ($0.startedAt!, $0.endedAt!) }
        let peak = intervals.map { start in intervals.filter { $0.0 <= start.0 && start.0 < $0.1 }.count }.max()
        #expect(peak == 2)
    }

    @Test func stepsSeeTheirEnvironmentAndWorkdir() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try dir.write("work/marker", "here\n")
        setenv("SLUICE_DATABASE_URL", "postgresql://user:secret@/db", 1)
        defer { unsetenv("SLUICE_DATABASE_URL") }
        let (_, detail, _) = try run(
            """
            dag: envcheck
            steps:
              show:
                workdir: ../work
                env: {GREETING: hello}
                command: 'cat marker; echo "$GREETING $SLUICE_DAG $SLUICE_STEP $SLUICE_ATTEMPT $SLUICE_RUN_ID db=${SLUICE_DATABASE_URL:-unset}"'
            """, in: dir)
        let attempt = try #require(detail.attempts.first)
        let output = try String(contentsOfFile: attempt.stdoutPath, encoding: .utf8)
        #expect(output == "here\nhello envcheck show 1 \(detail.run.id) db=unset\n")
    }

    @Test func everyStateChangeIsInTheEventLog() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (result, _, store) = try run("dag: one\nsteps:\n  only: {command: \"true\"}\n", in: dir)
        let events = try store.connection.query(
            """
            SELECT kind, coalesce(from_state, '') || '>' || to_state AS change FROM event
            WHERE run_id = \(result.runID) ORDER BY id
            """
        ).rows.map { "\($0["kind"]!) \($0["change"]!)" }
        #expect(
            events == [
                "run >queued", "run queued>running", "step pending>ready", "step ready>running", "attempt >starting",
                "attempt starting>running", "attempt >exited", "step running>succeeded", "run running>succeeded",
            ])
    }

    @Test func cancellingStopsRunningStepsAndTheirChildren() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let observer = RecordingObserver()
        var driverRef: RunDriver?
        observer.onStart = { step in if step == "sleeper" { driverRef?.cancel() } }
        let (result, detail, _) = try run(
            """
            dag: cancel
            steps:
              sleeper: {command: "sleep 1000 & wait"}
              later: {command: "true", needs: [sleeper]}
            """, parallelism: 1, in: dir, observer: observer
        ) { driverRef = $0 }
        #expect(result.state == .cancelled)
        #expect(detail.steps.map(\.state) == [.cancelled, .cancelled])
        #expect(detail.attempts.first?.state == .killed)
        #expect(detail.attempts.first?.signal == SIGTERM)
        let pid = try #require(observer.pids["sleeper"])
        #expect(ProcessGroupWatch.waitUntilEmpty(pid) == [])
    }

    @Test func aFinishedRunCannotBeChangedAgain() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (result, detail, store) = try run("dag: once\nsteps:\n  only: {command: \"true\"}\n", in: dir)
        let stepID = try #require(
            try store.connection.query(
                "SELECT id FROM step_instance WHERE run_id = \(result.runID)"
            ).rows.first?.int("id"))
        #expect(detail.steps.first?.state == .succeeded)
        #expect(throws: StateConflict.self) {
            try RunRecorder(store: store).changeSteps(
                runID: result.runID, [StepChange(id: stepID, from: .ready, to: .running)])
        }
    }

    @Test func aProcessIsStoppedWhenItsRunningRecordCannotBeWritten() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let file = try dir.write("dags/test.yaml", "dag: orphan\nsteps:\n  sleeper: {command: [sleep, \"987654\"]}\n")
        let store = try TestDatabase.freshStore()
        // A real database failure at exactly that write.
        try store.connection.withSession { session in
            try session.script(
                """
                CREATE FUNCTION refuse_running() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.state = 'running' THEN RAISE EXCEPTION 'injected failure'; END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER refuse_running BEFORE UPDATE ON attempt FOR EACH ROW EXECUTE FUNCTION refuse_running();
                """)
        }
        var options = RunOptions(logRoot: dir.path + "/logs")
        options.gracePeriod = 5
        let driver = try RunDriver(store: store, observer: RecordingObserver(), options: options)
        let error = #expect(throws: DatabaseError.self) { try driver.run(try SpecLoader.load(path: file)) }
        #expect(error?.message.contains("injected failure") == true)
        let survivors = sleepers(withArgument: "987654")
        for pid in survivors { kill(pid, SIGKILL) }
        #expect(survivors == [])
    }

    /// Live `sleep ARG` processes.
    private func sleepers(withArgument argument: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                ProcessGroupWatch.liveMembers(of: pid).contains(pid)
            else { return false }
            return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) } == ["sleep", argument]
        }
    }
}
