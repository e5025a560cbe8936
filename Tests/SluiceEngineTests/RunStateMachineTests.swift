import SluiceEngine
import SluiceStore
import Testing

@Suite("The run state machine (pure)")
struct RunStateMachineTests {
    // 0 extract_a, 1 extract_b, 2 join(0,1), 3 report(2), 4 side(0)
    private let diamond: [[Int]] = [[], [], [0, 1], [2], [0]]

    @Test func rootsBecomeReadyInFileOrder() {
        var machine = RunStateMachine(needs: diamond)
        let started = machine.start()
        #expect(
            started == [
                StepTransition(step: 0, from: .pending, to: .ready),
                StepTransition(step: 1, from: .pending, to: .ready),
            ])
        #expect(machine.peekReady() == 0)
    }

    @Test func aStepBecomesReadyOnlyWhenAllItsNeedsSucceeded() {
        var machine = RunStateMachine(needs: diamond)
        _ = machine.start()
        _ = machine.markRunning(0)
        _ = machine.markRunning(1)
        let afterA = machine.finish(0, as: .succeeded)
        #expect(afterA.map(\.step) == [0, 4])
        #expect(machine.states[2] == .pending)
        let afterB = machine.finish(1, as: .succeeded)
        #expect(
            afterB == [
                StepTransition(step: 1, from: .running, to: .succeeded),
                StepTransition(step: 2, from: .pending, to: .ready),
            ])
    }

    @Test func failureMarksEveryDownstreamStepButNotIndependentOnes() {
        var machine = RunStateMachine(needs: diamond)
        _ = machine.start()
        _ = machine.markRunning(0)
        _ = machine.markRunning(1)
        _ = machine.finish(0, as: .succeeded)
        let failed = machine.finish(1, as: .failed)
        #expect(
            failed == [
                StepTransition(step: 1, from: .running, to: .failed),
                StepTransition(step: 2, from: .pending, to: .upstreamFailed),
                StepTransition(step: 3, from: .pending, to: .upstreamFailed),
            ])
        #expect(machine.states[4] == .ready)
        #expect(!machine.isComplete)
        _ = machine.markRunning(4)
        _ = machine.finish(4, as: .succeeded)
        #expect(machine.isComplete)
        #expect(machine.outcome == .failed)
    }

    @Test func cancellingStopsEverythingNotYetRunning() {
        var machine = RunStateMachine(needs: diamond)
        _ = machine.start()
        _ = machine.markRunning(0)
        let cancelled = machine.cancelPending()
        #expect(cancelled.map(\.step) == [1, 2, 3, 4])
        #expect(cancelled.allSatisfy { $0.to == .cancelled })
        _ = machine.finish(0, as: .cancelled)
        #expect(machine.outcome == .cancelled)
    }

    @Test func allSucceededIsASucceededRun() {
        var machine = RunStateMachine(needs: [[], [0]])
        _ = machine.start()
        _ = machine.markRunning(0)
        _ = machine.finish(0, as: .succeeded)
        #expect(machine.peekReady() == 1)
        _ = machine.markRunning(1)
        #expect(machine.outcome == .running)
        _ = machine.finish(1, as: .succeeded)
        #expect(machine.outcome == .succeeded)
        #expect(machine.peekReady() == nil)
    }
}
