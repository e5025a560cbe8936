import Foundation
import SluiceModel
import SluiceStore
import SluiceTestSupport
import Testing

@Suite("Recording runs against a real PostgreSQL")
struct RunRecorderTests {
    private struct CreatedRun {
        let runID: Int64
        let stepIDs: [Int64]
    }

    /// A run queued, claimed by a registered engine, and given its steps.
    private func createRun(_ store: Store, maxActiveRuns: Int = 1) throws -> CreatedRun {
        let recorder = RunRecorder(store: store)
        let version = try recorder.recordVersion(
            dag: "rec", source: "dag: rec\n", templates: [:], sourcePath: "/x/rec.yaml", maxActiveRuns: maxActiveRuns)
        let owner = try Schedulers(store: store).register(kind: "foreground", host: "testhost", pid: 1, pidStart: nil)
        let queue = RunQueue(store: store)
        let id = try #require(
            try queue.enqueue(
                RunRequest(versionID: version, params: [:], logicalDate: nil, trigger: "manual", triggeredBy: "test")))
        _ = try #require(try queue.claim(owner: owner, runID: id))
        let steps = try recorder.createSteps(
            runID: id,
            steps: [
                NewStep(key: "a", position: 0, command: ["true"], needs: []),
                NewStep(key: "b", position: 1, command: ["true"], needs: ["a"]),
            ], parallelism: 1, host: "testhost", pid: 1, logRoot: "/tmp/logs")
        return CreatedRun(runID: id, stepIDs: steps)
    }

    /// A run whose first step is running its first attempt (recorded `starting`).
    private func startFirstStep(_ store: Store, maxActiveRuns: Int = 1) throws -> (CreatedRun, Int64) {
        let recorder = RunRecorder(store: store)
        let run = try createRun(store, maxActiveRuns: maxActiveRuns)
        try recorder.changeSteps(runID: run.runID, [StepChange(id: run.stepIDs[0], from: .pending, to: .ready)])
        let attempt = try #require(
            try recorder.beginAttempt(
                runID: run.runID, stepID: run.stepIDs[0], from: .ready, number: 1, host: "testhost",
                stdoutPath: "/tmp/a.out", stderrPath: "/tmp/a.err"))
        return (run, attempt.id)
    }

    @Test func admissionCountsEveryLiveAttemptOnTheHostWhateverProcessStartedIt() throws {
        let store = try TestDatabase.freshStore()
        let recorder = RunRecorder(store: store)
        let capacity = HostLimits(cpus: 2, memoryBytes: 4 << 30, gpus: 2)
        var begun: [Int64] = []
        for _ in 0..<3 {
            let run = try createRun(store, maxActiveRuns: 5)
            try recorder.changeSteps(runID: run.runID, [StepChange(id: run.stepIDs[0], from: .pending, to: .ready)])
            let attempt = try recorder.beginAttempt(
                runID: run.runID, stepID: run.stepIDs[0], from: .ready, number: 1, host: "testhost",
                stdoutPath: "/tmp/a.out", stderrPath: "/tmp/a.err",
                request: AttemptRequest(cpus: 1.5, memoryBytes: 1 << 30, gpus: 1), capacity: capacity)
            if let attempt { begun.append(attempt.id) }
            // Refused: nothing of it was written, the step is still ready.
            if attempt == nil {
                let state = try store.connection.query(
                    "SELECT state FROM step_instance WHERE id = \(run.stepIDs[0])"
                ).rows[0]["state"]
                #expect(state == "ready")
            }
        }
        #expect(begun.count == 1)  // 1.5 + 1.5 cpus exceed 2
        let gpus = try store.connection.query("SELECT gpu_ids FROM attempt WHERE id = \(begun[0])").rows[0]["gpu_ids"]
        #expect(gpus == "0")
    }

    @Test func maxActiveRunsHoldsBackAClaim() throws {
        let store = try TestDatabase.freshStore()
        let first = try createRun(store)  // max_active_runs 1, running
        let recorder = RunRecorder(store: store)
        let version = try recorder.recordVersion(
            dag: "rec", source: "dag: rec\n", templates: [:], sourcePath: "/x/rec.yaml", maxActiveRuns: 1)
        let queue = RunQueue(store: store)
        let second = try #require(
            try queue.enqueue(
                RunRequest(versionID: version, params: [:], logicalDate: nil, trigger: "manual", triggeredBy: "test")))
        let owner = try Schedulers(store: store).register(kind: "service", host: "testhost", pid: 2, pidStart: nil)
        #expect(try queue.claim(owner: owner) == nil)
        try recorder.finishRun(runID: first.runID, state: .succeeded)
        #expect(try queue.claim(owner: owner)?.id == second)
    }

    /// Rows and index entries of `run` a claim that finds nothing to start reads, with `queued` runs of a DAG
    /// waiting behind its max_active_runs (2, both running) and 100 runs of it that ended (until a vacuum,
    /// their entries stay in the indexes of running runs).
    private func rowsReadByAFailingClaim(queued: Int) throws -> Int {
        let store = try TestDatabase.freshStore()
        let recorder = RunRecorder(store: store)
        for _ in 0..<100 {
            try recorder.finishRun(runID: try createRun(store, maxActiveRuns: 2).runID, state: .succeeded)
        }
        _ = try createRun(store, maxActiveRuns: 2)
        _ = try createRun(store, maxActiveRuns: 2)
        let version = try recorder.recordVersion(
            dag: "rec", source: "dag: rec\n", templates: [:], sourcePath: "/x/rec.yaml", maxActiveRuns: 2)
        let queue = RunQueue(store: store)
        for _ in 0..<queued {
            _ = try queue.enqueue(
                RunRequest(versionID: version, params: [:], logicalDate: nil, trigger: "manual", triggeredBy: "test"))
        }
        let owner = try Schedulers(store: store).register(kind: "service", host: "testhost", pid: 2, pidStart: nil)
        try store.connection.query("ANALYZE run")  // planned as a long-lived database's statistics would have it
        // The counts below are this session's not yet reported: report the earlier ones first.
        try store.connection.query("SELECT pg_stat_force_next_flush()")
        return try store.connection.transaction { session in
            let claimed = try session.query("SELECT sluice_claim_run(\(owner), NULL) AS id").rows[0]["id"]
            #expect(claimed == nil)
            // This transaction's reads: rows by sequential scans of the table, entries by scans of its indexes.
            let row = try session.query(
                """
                SELECT pg_stat_get_xact_tuples_returned('run'::regclass)
                       + (SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index
                          WHERE indrelid = 'run'::regclass) AS n
                """
            ).rows[0]
            return Int(row.int("n") ?? -1)
        }
    }

    /// A claim that finds nothing reads each queued run a few times (here twice: a scan for the full DAGs and
    /// one for the candidates), not once per run of its DAG: with 1,000 runs of a DAG queued behind its limit,
    /// the claim after each run's end read a million index entries (here: 80,600 more for 200 more queued).
    @Test func aClaimThatFindsNothingReadsEachQueuedRunAFewTimes() throws {
        let few = try rowsReadByAFailingClaim(queued: 50)
        let many = try rowsReadByAFailingClaim(queued: 250)
        #expect(few > 0)
        #expect(many - few <= 800, "rows and index entries of run read: \(few) with 50 queued, \(many) with 250")
    }

    @Test func theRunningRecordRelaxesDurabilityForItsOwnTransactionOnly() throws {
        let store = try TestDatabase.freshStore()
        let recorder = RunRecorder(store: store)
        let (run, attempt) = try startFirstStep(store)
        try recorder.attemptRunning(runID: run.runID, stepID: run.stepIDs[0], attemptID: attempt, pid: 4242)
        #expect(try store.connection.query("SHOW synchronous_commit").rows[0]["synchronous_commit"] == "on")
        let row = try store.connection.query("SELECT state, pid FROM attempt WHERE id = \(attempt)").rows[0]
        #expect(row["state"] == "running" && row.int("pid") == 4242)
        #expect(throws: StateConflict.self) {
            try recorder.attemptRunning(runID: run.runID, stepID: run.stepIDs[0], attemptID: attempt, pid: 1)
        }
    }

    /// Caught by profiling: the ending's step changes were joined to `jsonb_to_recordset` (guessed at 100
    /// rows), and the planner scanned every step instance ever recorded at every step's end.
    @Test func anEndingFindsItsStepsByPrimaryKeyNotByScanningHistory() throws {
        let store = try TestDatabase.freshStore()
        let recorder = RunRecorder(store: store)
        let (run, attempt) = try startFirstStep(store)
        try store.connection.query(
            """
            INSERT INTO step_instance (run_id, step_key, step_id, position, state, command)
            SELECT \(run.runID), 'old' || g, 'old' || g, g + 10, 'succeeded', '["true"]'
            FROM generate_series(1, 2000) g
            """)
        try store.connection.query(
            """
            INSERT INTO attempt (step_instance_id, number, state, host, stdout_path, stderr_path, ended_at)
            SELECT id, 1, 'exited', 'testhost', '', '', now() FROM step_instance WHERE step_key LIKE 'old%'
            """)
        // Cost lines and summaries of earlier attempts: the ending's trigger must not read them either.
        try store.connection.query(
            """
            INSERT INTO cost_line (attempt_id, resource, unit, basis, hours, quantity, unused, ended_at)
            SELECT 1000000 + g, r, 'core-hour', 'max', 1, 1, 0, now()
            FROM generate_series(1, 2000) g, unnest(ARRAY['cpu', 'memory']) r
            """)
        try store.connection.query(
            """
            INSERT INTO attempt_cost (attempt_id, ended_at, state, waste, hours, amount, unused_amount, unpriced)
            SELECT 1000000 + g, now(), 'exited', false, 1, 0, 0, 0 FROM generate_series(1, 2000) g
            """)
        try store.connection.query("ANALYZE step_instance, attempt, cost_line, attempt_cost")
        let scans = {
            _ = try store.connection.query("SELECT pg_stat_force_next_flush()")
            return try store.connection.query(
                """
                SELECT sum(seq_scan) AS n FROM pg_stat_user_tables
                WHERE relname IN ('step_instance', 'attempt', 'cost_line', 'attempt_cost')
                """
            ).rows[0].int("n") ?? -1
        }
        let before = try scans()
        try recorder.endAttempt(
            runID: run.runID, stepID: run.stepIDs[0], attemptID: attempt,
            ending: AttemptEnding(state: .exited, exitCode: 0, wallSeconds: 0.1),
            stepChanges: [
                StepChange(id: run.stepIDs[0], from: .running, to: .succeeded, exitCode: 0),
                StepChange(id: run.stepIDs[1], from: .pending, to: .ready),
            ], withNext: true)
        try recorder.sendQueued()
        #expect(try scans() == before)
        #expect(try store.connection.query("SHOW synchronous_commit").rows[0]["synchronous_commit"] == "on")
        let lines = try store.connection.query("SELECT count(*) AS n FROM cost_line WHERE attempt_id = \(attempt)")
        #expect(lines.rows[0].int("n") == 2)  // CPU and memory, unpriced
        #expect(
            try store.connection.query("SELECT count(*) AS n FROM attempt_cost WHERE attempt_id = \(attempt)").rows[0]
                .int("n") == 1)
    }

    /// An ending recorded with `costLater` is not costed by its statement; `costAttempts` costs it as the trigger
    /// would have, and a run's end costs whatever of it was left (an engine that died before costing).
    /// An ending found after the engine that watched it died (its watcher's status file said when it ended) is
    /// dated when it ended, and so is its step's end: a step's duration is not how long nobody looked.
    @Test func anEndingFoundLateIsDatedWhenItEnded() throws {
        let store = try TestDatabase.freshStore()
        let recorder = RunRecorder(store: store)
        let (run, attempt) = try startFirstStep(store)
        // It began two hours ago, and ended one hour ago while no engine watched.
        try store.connection.query(
            "UPDATE step_instance SET started_at = clock_timestamp() - interval '2 hours' WHERE id = \(run.stepIDs[0])")
        var ending = AttemptEnding(state: .exited, exitCode: 0, wallSeconds: 2)
        ending.endedSecondsAgo = 3600
        try recorder.endAttempt(
            runID: run.runID, stepID: run.stepIDs[0], attemptID: attempt, ending: ending,
            stepChanges: [
                StepChange(id: run.stepIDs[0], from: .running, to: .succeeded, exitCode: 0),
                StepChange(id: run.stepIDs[1], from: .pending, to: .ready),
            ],
            started: AttemptStart(pid: 1, externalID: "shim:1:1", executorState: nil))
        let row = try store.connection.query(
            """
            SELECT extract(epoch FROM clock_timestamp() - a.ended_at)::float8 AS ago,
                   extract(epoch FROM a.ended_at - a.started_at)::float8 AS ran,
                   extract(epoch FROM a.ended_at - s.ended_at)::float8 AS apart,
                   (SELECT ended_at IS NULL FROM step_instance WHERE id = \(run.stepIDs[1])) AS next_open
            FROM attempt a JOIN step_instance s ON s.id = a.step_instance_id WHERE a.id = \(attempt)
            """
        ).rows[0]
        #expect(abs((row.double("ago") ?? 0) - 3600) < 60, "ended \(row.double("ago") ?? 0) s ago")
        #expect(abs((row.double("ran") ?? 0) - 2) < 0.01, "ran \(row.double("ran") ?? 0) s")
        #expect(abs(row.double("apart") ?? 1) < 0.01, "the step's end is the attempt's")
        #expect(row.bool("next_open") == true)
    }

    @Test func anEndingCostedLaterIsCostedByTheEngineOrAtTheRunsEnd() throws {
        let store = try TestDatabase.freshStore()
        let recorder = RunRecorder(store: store)
        let (run, first) = try startFirstStep(store, maxActiveRuns: 2)
        let lines = { (attempt: Int64) in
            try store.connection.query(
                """
                SELECT (SELECT count(*) FROM cost_line WHERE attempt_id = \(attempt)) AS lines,
                       (SELECT count(*) FROM attempt_cost WHERE attempt_id = \(attempt)) AS summaries
                """
            ).rows[0]
        }
        let ending = AttemptEnding(state: .exited, exitCode: 0, wallSeconds: 0.1)
        try recorder.endAttempt(
            runID: run.runID, stepID: run.stepIDs[0], attemptID: first, ending: ending,
            stepChanges: [
                StepChange(id: run.stepIDs[0], from: .running, to: .succeeded, exitCode: 0),
                StepChange(id: run.stepIDs[1], from: .pending, to: .ready),
            ], costLater: true)
        #expect(try lines(first).int("lines") == 0)
        try recorder.costAttempts([first])
        #expect(try lines(first).int("lines") == 2 && lines(first).int("summaries") == 1)
        try recorder.costAttempts([first])  // again: kept as it was
        #expect(try lines(first).int("lines") == 2 && lines(first).int("summaries") == 1)
        // The same ending costed by the trigger (another run's first step) gives the same lines and summary.
        let (other, byTrigger) = try startFirstStep(store, maxActiveRuns: 2)
        try recorder.endAttempt(
            runID: other.runID, stepID: other.stepIDs[0], attemptID: byTrigger, ending: ending,
            stepChanges: [StepChange(id: other.stepIDs[0], from: .running, to: .succeeded, exitCode: 0)])
        let costs = { (attempt: Int64) in
            try store.connection.query(
                """
                SELECT (SELECT string_agg(concat_ws(' ', resource, unit, basis, requested, used, round(hours::numeric, 6),
                                                    round(quantity::numeric, 6), unused, amount), '; ' ORDER BY resource)
                        FROM cost_line WHERE attempt_id = \(attempt)) AS lines,
                       (SELECT concat_ws(' ', state, waste, cpu_requested, cpu_used, memory_requested, memory_peak,
                                         amount, unused_amount, unpriced)
                        FROM attempt_cost WHERE attempt_id = \(attempt)) AS summary
                """
            ).rows[0]
        }
        let engine = try costs(first)
        let trigger = try costs(byTrigger)
        #expect(engine["lines"] != nil && engine["lines"] == trigger["lines"])
        #expect(engine["summary"] != nil && engine["summary"] == trigger["summary"])

        let second = try #require(
            try recorder.beginAttempt(
                runID: run.runID, stepID: run.stepIDs[1], from: .ready, number: 1, host: "testhost",
                stdoutPath: "/tmp/b.out", stderrPath: "/tmp/b.err")
        ).id
        try recorder.endAttempt(
            runID: run.runID, stepID: run.stepIDs[1], attemptID: second, ending: ending,
            stepChanges: [StepChange(id: run.stepIDs[1], from: .running, to: .succeeded, exitCode: 0)],
            costLater: true)
        #expect(try lines(second).int("lines") == 0)
        try recorder.finishRun(runID: run.runID, state: .succeeded)
        #expect(try lines(second).int("lines") == 2 && lines(second).int("summaries") == 1)
    }

    /// Lineage pins are written once: a second pin keeps the first (an engine that adopted the attempt
    /// records its end again), and a direct rewrite is refused by the database.
    @Test func lineagePinsAreWrittenOnceAndNeverRewritten() throws {
        let store = try TestDatabase.freshStore()
        let lineage = LineageRecords(store: store)
        let (_, attempt) = try startFirstStep(store)
        let input = DataVersion(
            kind: .path, name: "/d/in.csv", path: "/d/in.csv", version: "sha256:1", method: "content", sizeBytes: 1)
        let output = DataVersion(
            kind: .dataset, name: "model", path: "/d/m.json", version: "sha256:2", method: "content", sizeBytes: 2)
        try lineage.pinInputs(attemptID: attempt, [input])
        try lineage.pinEnd(attemptID: attempt, outputs: [output], changedInputs: [], metrics: ["auc": 0.9])
        try lineage.pinEnd(attemptID: attempt, outputs: [output], changedInputs: [input], metrics: ["auc": 0.1])
        let row = try store.connection.query("SELECT lineage, metrics::text AS m FROM attempt WHERE id = \(attempt)")
            .rows[0]
        #expect(row["lineage"] == "complete" && row["m"] == "{\"auc\": 0.9}")
        #expect(try lineage.versions(attemptID: attempt, role: "output") == [output])
        #expect(throws: DatabaseError.self) {
            try store.connection.query("UPDATE attempt SET lineage = 'input_changed' WHERE id = \(attempt)")
        }
        #expect(throws: DatabaseError.self) {
            try store.connection.query("DELETE FROM attempt_data WHERE attempt_id = \(attempt)")
        }
    }

    @Test func anEndingAndItsStepChangesCommitTogetherOrNotAtAll() throws {
        let store = try TestDatabase.freshStore()
        let recorder = RunRecorder(store: store)
        let (run, attempt) = try startFirstStep(store)
        let ending = AttemptEnding(state: .exited, exitCode: 0, wallSeconds: 0.1)
        // The second change names the wrong from-state: nothing of the statement may commit.
        #expect(throws: StateConflict.self) {
            try recorder.endAttempt(
                runID: run.runID, stepID: run.stepIDs[0], attemptID: attempt, ending: ending,
                stepChanges: [
                    StepChange(id: run.stepIDs[0], from: .running, to: .succeeded),
                    StepChange(id: run.stepIDs[1], from: .ready, to: .running),
                ])
        }
        let state = try store.connection.query("SELECT state FROM attempt WHERE id = \(attempt)").rows[0]["state"]
        #expect(state == "starting")
        try recorder.endAttempt(
            runID: run.runID, stepID: run.stepIDs[0], attemptID: attempt, ending: ending,
            stepChanges: [
                StepChange(id: run.stepIDs[0], from: .running, to: .succeeded, exitCode: 0),
                StepChange(id: run.stepIDs[1], from: .pending, to: .ready),
            ])
        let steps = try store.connection.query(
            "SELECT state FROM step_instance WHERE run_id = \(run.runID) ORDER BY position"
        ).rows.map { $0["state"] }
        #expect(steps == ["succeeded", "ready"])
        #expect(throws: StateConflict.self) {
            try recorder.endAttempt(
                runID: run.runID, stepID: run.stepIDs[0], attemptID: attempt, ending: ending, stepChanges: [])
        }
    }

    /// A paused DAG's fire time is not queued, even by a service that has not heard of the pause yet (its
    /// scheduled runs would never be claimed); unpaused, it is, once.
    @Test func aPausedDAGsFireTimeIsNotQueued() throws {
        let store = try TestDatabase.freshStore()
        let version = try RunRecorder(store: store).recordVersion(
            dag: "tick", source: "dag: tick\n", templates: [:], sourcePath: "/x/tick.yaml", maxActiveRuns: 1)
        let catalog = DagCatalog(store: store)
        let fire = Date(timeIntervalSince1970: 1_795_000_000)
        let request = RunRequest(
            versionID: version, params: [:], logicalDate: nil, trigger: "schedule", triggeredBy: "scheduler",
            scheduledFor: fire, intervalEnd: fire.addingTimeInterval(60))
        #expect(try catalog.setPaused("tick", true))
        #expect(try catalog.enqueueFireTime(request) == nil)
        #expect(try store.connection.query("SELECT count(*) AS n FROM run").rows[0].int("n") == 0)
        #expect(try catalog.setPaused("tick", false))
        #expect(try catalog.enqueueFireTime(request) != nil)
        #expect(try catalog.enqueueFireTime(request) == nil)
    }
}
