import Foundation
import Logging
import SluiceExecutor
import SluiceModel

/// Reports a served run's progress to the service log: one entry per start, end and failure.
final class LoggingObserver: RunObserver {
    private let logger: Logger
    private let runID: Int64
    private let dag: String

    init(logger: Logger, runID: Int64, dag: String) {
        var logger = logger
        logger[metadataKey: "run"] = "\(runID)"
        logger[metadataKey: "dag"] = "\(dag)"
        self.logger = logger
        self.runID = runID
        self.dag = dag
    }

    func runStarted(runID: Int64, dag: String, steps: [String]) {
        logger.debug("run started", metadata: ["steps": "\(steps.count)"])
    }

    func stepChanged(step: String, from: StepState, to: StepState) {
        if to.isTerminal { logger.info("\(step) \(to.rawValue)", metadata: ["step": "\(step)"]) }
    }

    func attemptStarted(step: String, attempt: Int, pid: Int32) {
        logger.debug("\(step) started", metadata: ["step": "\(step)", "attempt": "\(attempt)", "pid": "\(pid)"])
    }

    func attemptEnded(step: String, attempt: Int, ending: AttemptEnding, stepState: StepState) {
        var metadata: Logger.Metadata = [
            "step": "\(step)", "attempt": "\(attempt)", "state": "\(ending.state.rawValue)",
        ]
        if let wall = ending.wallSeconds { metadata["wall_seconds"] = "\(wall)" }
        if stepState == .succeeded {
            logger.info("\(step) succeeded", metadata: metadata)
        } else {
            logger.warning(
                "\(step) \(stepState.rawValue): \(ending.message ?? ending.state.rawValue)", metadata: metadata)
        }
    }

    func cancelling(signal: Int32) { logger.info("cancelling") }
    func tick() {}

    func handlerStarted(name: String, pid: Int32) {
        logger.debug("\(name) started", metadata: ["pid": "\(pid)"])
    }

    func handlerEnded(name: String, ending: AttemptEnding, state: StepState) {
        logger.info("\(name) \(state.rawValue)\(ending.message.map { ": \($0)" } ?? "")")
    }

    func databaseUnavailable(_ message: String) { logger.error("\(message)") }
    func databaseRecovered(after seconds: Double) {
        logger.notice("the database is back after \(Units.formatDuration(seconds)); recording resumes")
    }

    func runFinished(runID: Int64, state: RunState) {
        logger.info("run \(state.rawValue)", metadata: ["state": "\(state.rawValue)"])
    }
}
