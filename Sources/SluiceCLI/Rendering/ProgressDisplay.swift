import Foundation
import SluiceBasics
import SluiceEngine
import SluiceExecutor
import SluiceModel
import SluiceStore

/// Shows a run as it happens: plain timestamped lines in a pipe, plus a live status line on a terminal.
final class ProgressDisplay: RunObserver {
    private let interactive: Bool
    private let output: Int32
    private let parallelism: Int
    private var runID: Int64 = 0
    private var dag = ""
    private var total = 0
    private var finished = 0
    private var running: [String] = []
    private var width = 8
    private var started = Date()

    init(interactive: Bool, output: Int32, parallelism: Int) {
        self.interactive = interactive
        self.output = output
        self.parallelism = parallelism
    }

    func runStarted(runID: Int64, dag: String, steps: [String]) {
        self.runID = runID
        self.dag = dag
        total = steps.count
        width = min(24, steps.map(\.count).max() ?? 8)
        started = Date()
        emit(
            "run \(runID) of \(Terminal.safe(dag)) started: \(steps.count) step\(steps.count == 1 ? "" : "s"), parallelism \(parallelism)"
        )
    }

    func stepChanged(step: String, from: StepState, to: StepState) {
        guard to.isTerminal else { return }
        finished += 1
        emit(line(step, paint(to.rawValue, for: to)))
    }

    func attemptStarted(step: String, attempt: Int, pid: Int32) {
        running.append(step)
        emit(line(step, "started (attempt \(attempt), pid \(pid))"))
    }

    func attemptEnded(step: String, attempt: Int, ending: AttemptEnding, stepState: StepState) {
        running.removeAll { $0 == step }
        if stepState != .retrying { finished += 1 }
        var text = paint(
            stepState == .retrying ? "attempt \(attempt) \(ending.state.rawValue)" : stepState.rawValue, for: stepState)
        if let wall = ending.wallSeconds { text += " in \(Formatting.duration(wall))" }
        if stepState == .failed || stepState == .cancelled || stepState == .retrying, let message = ending.message {
            text += ": \(Terminal.safe(message, multiline: false))"
            if stepState == .failed && ending.state != .failedToStart {
                text += " (see: sluice logs \(runID) \(step) --stderr)"
            }
        }
        emit(line(step, text))
        for warning in ending.warnings { emit(line(step, "warning: \(Terminal.safe(warning, multiline: false))")) }
    }

    func handlerStarted(name: String, pid: Int32) {
        emit(line(name, "started (pid \(pid))"))
    }

    func handlerEnded(name: String, ending: AttemptEnding, state: StepState) {
        var text = paint(state.rawValue, for: state)
        if let wall = ending.wallSeconds { text += " in \(Formatting.duration(wall))" }
        if state != .succeeded, let message = ending.message {
            text += ": \(Terminal.safe(message, multiline: false))"
            if ending.state != .failedToStart { text += " (see: sluice logs \(runID) '\(name)' --stderr)" }
        }
        emit(line(name, text))
    }

    func cancelling(signal: Int32) {
        emit(
            "cancelling run \(runID) (\(AttemptOutcome.signalName(signal))): stopping running steps; press Ctrl-C again to kill them now"
        )
    }

    func databaseUnavailable(_ message: String) {
        clearStatus()
        Terminal.printError("sluice: \(message)")
        drawStatus()
    }

    func databaseRecovered(after seconds: Double) {
        emit("the database is back after \(Formatting.duration(seconds)); recording resumed")
    }

    func tick() {
        clearStatus()
        drawStatus()
    }

    func runFinished(runID: Int64, state: RunState) {
        clearStatus()
    }

    /// The end-of-run table, from what the database recorded.
    func printSummary(_ detail: RunDetail) {
        var table = TextTable("STEP", "STATE", "ATTEMPTS", "EXIT", "DURATION")
        for step in detail.steps {
            table.add([
                step.step, step.state.rawValue, String(step.attempts), step.exitCode.map(String.init) ?? "-",
                Formatting.duration(step.durationSeconds),
            ])
        }
        for handler in detail.handlers {
            table.add([
                handler.step, handler.state.rawValue, String(handler.attempts),
                handler.exitCode.map(String.init) ?? "-",
                Formatting.duration(handler.durationSeconds),
            ])
        }
        let run = detail.run
        write(
            "\n" + table.render()
                + "\n\nrun \(run.id) \(paint(run.state.rawValue, forRun: run.state)) in \(Formatting.duration(run.durationSeconds)): \(StepCounts.sentence(run))\n"
        )
    }

    private func line(_ step: String, _ text: String) -> String {
        let name = Terminal.safe(step, multiline: false)
        return "\(name.padding(toLength: max(width, name.count), withPad: " ", startingAt: 0))  \(text)"
    }

    private func emit(_ text: String) {
        clearStatus()
        write("[\(Formatting.clock())] \(text)\n")
        drawStatus()
    }

    private func drawStatus() {
        guard interactive else { return }
        let elapsed = Formatting.duration(Date().timeIntervalSince(started))
        let names =
            Terminal.safe(running.prefix(4).joined(separator: ", "), multiline: false)
            + (running.count > 4 ? ", …" : "")
        write(
            "\u{1B}[2m\(finished)/\(total) done · \(running.count) running\(names.isEmpty ? "" : ": \(names)") · \(elapsed)\u{1B}[0m"
        )
    }

    private func clearStatus() {
        if interactive { write("\r\u{1B}[2K") }
    }

    private func paint(_ text: String, for state: StepState) -> String {
        guard interactive else { return text }
        switch state {
        case .succeeded, .cached: return "\u{1B}[32m\(text)\u{1B}[0m"
        case .failed, .upstreamFailed: return "\u{1B}[31m\(text)\u{1B}[0m"
        case .cancelled, .skipped, .retrying: return "\u{1B}[33m\(text)\u{1B}[0m"
        default: return text
        }
    }

    private func paint(_ text: String, forRun state: RunState) -> String {
        switch state {
        case .succeeded: return paint(text, for: .succeeded)
        case .failed: return paint(text, for: .failed)
        case .cancelled: return paint(text, for: .cancelled)
        default: return text
        }
    }

    /// Writes without ever failing the run: a closed stdout (`sluice run … | head`) only stops the output.
    private func write(_ text: String) { Terminal.write(output, text) }

    func waiting(runID: Int64, reason: String) {
        emit("waiting: \(Terminal.safe(reason, multiline: false))")
    }
}
