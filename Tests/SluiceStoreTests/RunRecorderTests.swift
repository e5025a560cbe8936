import Foundation
import SluiceModel
import SluiceStore
import SluiceTestSupport
import Testing

@Suite("Recording runs against a real PostgreSQL")
struct RunRecorderTests {
    private func createRun(_ store: Store) throws -> CreatedRun {
        try RunRecorder(store: store).createRun(
            dag: "rec", source: "dag: rec\n", sourcePath: "/x/rec.yaml",
            steps: [
                NewStep(key: "a", position: 0, command: ["true"], needs: []),
                NewStep(key: "b", position: 1, command: ["true"], needs: ["a"]),
            ],
            parallelism: 1, host: "testhost", pid: 1, logRoot: "/tmp/logs")
    }

    /// A run whose first step is running its first attempt (recorded `starting`).
    private func startFirstStep(_ store: Store) throws -> (CreatedRun, Int64) {
        let recorder = RunRecorder(store: store)
        let run = try createRun(store)
        try recorder.changeSteps(runID: run.runID, [StepChange(id: run.stepIDs[0], from: .pending, to: .ready)])
        let attempt = try recorder.beginAttempt(
            runID: run.runID, stepID: run.stepIDs[0], from: .ready, number: 1, host: "testhost",
            stdoutPath: "/tmp/a.out", stderrPath: "/tmp/a.err")
        return (run, attempt)
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
}
