import Foundation
import SluiceEngine
import SluiceModel
import SluiceStore

/// Collects what the driver reports, and can act on a step start (for cancellation tests).
final class RecordingObserver: RunObserver, @unchecked Sendable {
    var events: [String] = []
    var pids: [String: Int32] = [:]
    var onStart: ((String) -> Void)?
    var ticks = 0

    func runStarted(runID: Int64, dag: String, steps: [String]) { events.append("run started") }
    func stepChanged(step: String, from: StepState, to: StepState) { events.append("\(step) \(to.rawValue)") }
    func attemptStarted(step: String, attempt: Int, pid: Int32) {
        pids[step] = pid
        events.append("\(step) started")
        onStart?(step)
    }
    func attemptEnded(step: String, attempt: Int, ending: AttemptEnding, stepState: StepState) {
        events.append("\(step) \(stepState.rawValue)")
    }
    func cancelling(signal: Int32) { events.append("cancelling") }
    func tick() { ticks += 1 }
    func handlerStarted(name: String, pid: Int32) { events.append("\(name) started") }
    func handlerEnded(name: String, ending: AttemptEnding, state: StepState) {
        events.append("\(name) \(state.rawValue)")
    }
    func databaseUnavailable(_ message: String) { events.append("database unavailable") }
    func databaseRecovered(after seconds: Double) { events.append("database recovered") }
    func runFinished(runID: Int64, state: RunState) { events.append("run \(state.rawValue)") }
}
