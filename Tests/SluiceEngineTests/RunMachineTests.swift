import SluiceEngine
import SluiceModel
import SluiceSpec
import Testing

/// The run machine on its own: no database, no processes, no clock but the one passed in.
@Suite("The run machine (pure, time passed in)")
struct RunMachineTests {
    // 0 extract_a, 1 extract_b, 2 join(0,1), 3 report(2), 4 side(0)
    private func diamond(retries: RetryPolicy = .standard) -> [RunMachine.Step] {
        [
            .init(key: "extract_a", needs: [], retries: retries), .init(key: "extract_b", needs: []),
            .init(key: "join", needs: [0, 1]), .init(key: "report", needs: [2]), .init(key: "side", needs: [0]),
        ]
    }

    private let ok = AttemptEnding(state: .exited, exitCode: 0)
    private func failed(_ code: Int32) -> AttemptEnding {
        AttemptEnding(state: .exited, exitCode: code, message: "step failed: exited with code \(code)")
    }

    private func changes(_ actions: [RunMachine.Action]) -> [RunMachine.Change] {
        actions.flatMap { action -> [RunMachine.Change] in
            switch action {
            case .record(let changes), .recordEnd(_, _, _, let changes): return changes
            default: return []
            }
        }
    }

    @Test func rootsBecomeReadyAndLaunchInFileOrder() {
        var machine = RunMachine(steps: diamond())
        let started = machine.start()
        #expect(
            started == [
                .record([.init(step: 0, from: .pending, to: .ready), .init(step: 1, from: .pending, to: .ready)])
            ])
        #expect(machine.nextToLaunch() == 0)
        machine.launched(0)
        #expect(machine.nextToLaunch() == 1)
        #expect(machine.nextAttempt(of: 0) == 2)
    }

    /// A launch taken back (its recorded start was lost) puts the step back as it was, first in line, with the
    /// same attempt number to come; whether another step waits is known without launching it.
    @Test func aLaunchTakenBackIsFirstInLineWithTheSameAttemptNumber() {
        var machine = RunMachine(steps: diamond())
        _ = machine.start()
        #expect(machine.waitsToLaunch(besides: 0))
        machine.launched(0)
        #expect(!machine.waitsToLaunch(besides: 1))
        machine.launched(1)
        machine.unlaunched(0, from: .ready)
        #expect(machine.states[0] == .ready)
        #expect(machine.nextToLaunch() == 0)
        #expect(machine.nextAttempt(of: 0) == 1)
        #expect(!machine.waitsToLaunch(besides: 0))
        machine.launched(0)
        #expect(machine.nextToLaunch() == nil)
        #expect(changes(machine.attemptEnded(0, ending: ok, now: 0)).map(\.step) == [0, 4])
    }

    @Test func aStepIsReadyOnlyWhenEverythingItNeedsSucceeded() {
        var machine = RunMachine(steps: diamond())
        _ = machine.start()
        machine.launched(0)
        machine.launched(1)
        let afterA = machine.attemptEnded(0, ending: ok, now: 0)
        #expect(changes(afterA).map(\.step) == [0, 4])
        #expect(machine.states[2] == .pending)
        let afterB = machine.attemptEnded(1, ending: ok, now: 0)
        #expect(
            changes(afterB) == [
                .init(step: 1, from: .running, to: .succeeded), .init(step: 2, from: .pending, to: .ready),
            ])
        #expect(machine.nextToLaunch() == 4)  // side became ready before join
    }

    @Test func aFailureMarksEverythingDownstreamAndTheRunFails() {
        var machine = RunMachine(steps: diamond())
        _ = machine.start()
        machine.launched(0)
        machine.launched(1)
        let actions = machine.attemptEnded(0, ending: failed(3), now: 0)
        #expect(
            changes(actions).map { "\($0.step) \($0.to.rawValue)" } == [
                "0 failed", "2 upstream_failed", "3 upstream_failed", "4 upstream_failed",
            ])
        #expect(!actions.contains(.finish(.failed)))  // extract_b still runs
        let last = machine.attemptEnded(1, ending: ok, now: 0)
        #expect(last.last == .finish(.failed))
        #expect(machine.outcome == .failed)
    }

    @Test func retriesWaitTheirBackoffOnTheGivenClockWithTheInjectedJitter() {
        let policy = RetryPolicy(attempts: 3, backoff: 10, maxBackoff: 600, on: [.exit(nil)])
        var machine = RunMachine(steps: diamond(retries: policy), random: { 0.5 })
        _ = machine.start()
        machine.launched(0)
        let first = machine.attemptEnded(0, ending: failed(75), now: 100)
        // backoff 10 s, equal jitter at 0.5: 5 + 2.5 = 7.5 s.
        #expect(
            first == [
                .recordEnd(
                    step: 0, attempt: 1, ending: failed(75),
                    changes: [
                        .init(
                            step: 0, from: .running, to: .retrying,
                            message: "step failed: exited with code 75; retrying in 8s (attempt 2 of 3)",
                            retryDelay: 7.5)
                    ])
            ])
        #expect(machine.nextWake == 107.5)
        #expect(machine.nextToLaunch() == 1)  // the retry is not due yet
        machine.tick(now: 107.4)
        machine.launched(1)
        #expect(machine.nextToLaunch() == nil)
        machine.tick(now: 107.5)
        #expect(machine.nextToLaunch() == 0)
        #expect(machine.launchState(of: 0) == .retrying)
        machine.launched(0)
        #expect(machine.nextAttempt(of: 0) == 3)
        _ = machine.attemptEnded(0, ending: failed(75), now: 200)
        // The backoff doubled to 20 s, with the jitter at 0.5: 10 + 5.
        #expect(machine.nextWake.map { $0 - 215 } == 0, "\(String(describing: machine.nextWake))")
        machine.tick(now: 215)
        machine.launched(0)
        let third = machine.attemptEnded(0, ending: failed(75), now: 300)
        #expect(changes(third).first?.to == .failed)  // three attempts, no more
    }

    @Test func anOutcomeNotInOnIsNotRetried() {
        let policy = RetryPolicy(attempts: 3, backoff: 1, maxBackoff: 1, on: [.exit(75)])
        var machine = RunMachine(steps: diamond(retries: policy))
        _ = machine.start()
        machine.launched(0)
        #expect(changes(machine.attemptEnded(0, ending: failed(1), now: 0)).first?.to == .failed)
    }

    @Test func cancellingStopsWhatRunsAndCancelsTheRest() {
        let policy = RetryPolicy(attempts: 2, backoff: 60, maxBackoff: 60, on: [.exit(nil)])
        var machine = RunMachine(steps: diamond(retries: policy))
        _ = machine.start()
        machine.launched(0)
        machine.launched(1)
        _ = machine.attemptEnded(0, ending: failed(1), now: 0)  // retrying
        let actions = machine.cancel()
        #expect(
            changes(actions).map { "\($0.step) \($0.to.rawValue)" } == [
                "0 cancelled", "2 cancelled", "3 cancelled", "4 cancelled",
            ])
        #expect(actions.contains(.stopRunning(now: false)))
        #expect(machine.nextToLaunch() == nil)
        #expect(machine.cancel() == [.stopRunning(now: true)])  // a second cancel kills at once
        let end = machine.attemptEnded(1, ending: AttemptEnding(state: .killed, signal: 15), now: 1)
        #expect(changes(end).first?.to == .cancelled)
        #expect(end.last == .finish(.cancelled))
    }

    @Test func settledStepsLetDownstreamRunWhenSkipped() {
        var machine = RunMachine(steps: diamond())
        _ = machine.start()
        let skipped = machine.settle(0, .skipped("skipped: when x is false"))
        #expect(changes(skipped).map { "\($0.step) \($0.to.rawValue)" } == ["0 skipped", "4 ready"])
        let failedToResolve = machine.settle(1, .failed("cannot resolve"))
        #expect(
            changes(failedToResolve).map { "\($0.step) \($0.to.rawValue)" } == [
                "1 failed", "2 upstream_failed", "3 upstream_failed",
            ])
    }

    @Test func aMachineRebuiltFromRecordsGoesOnWhereTheRunWas() {
        // Recorded: extract_a succeeded, extract_b running (attempt 1), side ready, join/report pending.
        var machine = RunMachine.rebuilt(
            steps: diamond(), states: [.succeeded, .running, .pending, .pending, .ready], attempts: [1, 1, 0, 0, 0],
            retryDue: [:], cancelling: false)
        #expect(machine.nextToLaunch() == 4)
        let end = machine.attemptEnded(1, ending: ok, now: 0)
        #expect(changes(end).map { "\($0.step) \($0.to.rawValue)" } == ["1 succeeded", "2 ready"])
        machine.launched(4)
        machine.launched(2)
        _ = machine.attemptEnded(4, ending: ok, now: 0)
        _ = machine.attemptEnded(2, ending: ok, now: 0)
        machine.launched(3)
        #expect(machine.attemptEnded(3, ending: ok, now: 0).last == .finish(.succeeded))
    }

    @Test func anAttemptThatNeverStartedIsStartedAgainWithoutUsingARetry() {
        // extract_a has no retries: an attempt lost after it ran fails it, one that never started does not.
        var machine = RunMachine(steps: diamond(retries: RetryPolicy(attempts: 1)))
        _ = machine.start()
        machine.launched(0)
        machine.launched(1)
        let never = AttemptEnding(state: .lost, message: "its attempt 1 never started (its engine stopped first)")
        let again = machine.attemptNeverStarted(0, ending: never)
        #expect(
            changes(again) == [
                .init(step: 0, from: .running, to: .retrying, message: "\(never.message!); starting it", retryDelay: 0)
            ])
        #expect(machine.nextToLaunch() == 0, "started again at once")
        #expect(machine.nextAttempt(of: 0) == 2)
        machine.launched(0)
        let lost = machine.attemptEnded(0, ending: AttemptEnding(state: .lost, message: "lost"), now: 0)
        #expect(changes(lost).first == .init(step: 0, from: .running, to: .failed, message: "lost"))
        // Rebuilt from the records, the never-started attempt still does not count.
        var rebuilt = RunMachine.rebuilt(
            steps: diamond(retries: RetryPolicy(attempts: 2, backoff: 0)),
            states: [.running, .pending, .pending, .pending, .pending],
            attempts: [2, 0, 0, 0, 0], neverStarted: [1, 0, 0, 0, 0], retryDue: [:], cancelling: false, random: { 0 })
        let retried = rebuilt.attemptEnded(0, ending: failed(1), now: 0)
        #expect(changes(retried).first?.to == .retrying, "attempt 2 was the first that ran: one retry is left")
    }

    @Test func aRetryingStepRebuiltFromRecordsIsLaunchedWhenDue() {
        var machine = RunMachine.rebuilt(
            steps: diamond(), states: [.retrying, .succeeded, .pending, .pending, .pending],
            attempts: [1, 1, 0, 0, 0], retryDue: [0: 10], cancelling: false)
        #expect(machine.nextToLaunch() == nil)
        #expect(machine.nextWake == 10)
        machine.tick(now: 10)
        #expect(machine.nextToLaunch() == 0)
    }

    @Test func aTenThousandStepChainCostsNoQuadraticWork() {
        let steps = (0..<10_000).map { RunMachine.Step(key: "s\($0)", needs: $0 == 0 ? [] : [$0 - 1]) }
        var machine = RunMachine(steps: steps)
        _ = machine.start()
        var count = 0
        while let next = machine.nextToLaunch() {
            machine.launched(next)
            _ = machine.attemptEnded(next, ending: ok, now: 0)
            count += 1
        }
        #expect(count == 10_000)
        #expect(machine.outcome == .succeeded)
    }
}
