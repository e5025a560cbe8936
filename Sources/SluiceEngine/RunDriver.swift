import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceSpec
import SluiceStore

/// Drives one run of a DAG to its end: the same engine for `sluice run` and, later, the service.
///
/// Every state change is committed before it is shown or acted on: a step is recorded `running` with a
/// `starting` attempt before its process is spawned, and an attempt's ending is committed with the
/// downstream changes it causes before the next steps start.
public final class RunDriver {
    private let recorder: RunRecorder
    private let executor: LocalExecutor
    private let observer: RunObserver
    private let options: RunOptions
    private let wake: WakePipe

    private struct Active {
        let attemptID: Int64
        let number: Int
        let launch: AttemptLaunch
        let running: RunningAttempt
    }

    /// Creates a driver that records into `store` and reports to `observer`.
    public init(
        store: Store, executor: LocalExecutor = LocalExecutor(), observer: RunObserver, options: RunOptions
    ) throws {
        recorder = RunRecorder(store: store)
        self.executor = executor
        self.observer = observer
        self.options = options
        wake = try WakePipe()
    }

    /// Cancels the run from any thread, as SIGTERM would: running steps get SIGTERM, then SIGKILL after the grace period.
    public func cancel(signal: Int32 = SIGTERM) {
        wake.wake(UInt8(truncatingIfNeeded: signal))
    }

    /// Runs the DAG until every step has ended or the run is cancelled by SIGINT/SIGTERM.
    public func run(_ spec: DAGSpec) throws -> RunResult {
        let signalFD: Int32? = options.handleSignals ? try SignalPipe.install() : nil
        defer { if signalFD != nil { SignalPipe.restoreDefaults() } }
        if let signalFD { _ = Poller.drain(signalFD) }
        _ = Poller.drain(wake.readFD)
        let launcher = StepLauncher(spec: spec, options: options)
        let graph = DAGGraph(steps: spec.steps)
        let created = try recorder.createRun(
            dag: spec.name, source: spec.source, sourcePath: FileSystem.absolute(spec.file),
            steps: spec.steps.enumerated().map { i, step in
                NewStep(key: step.id, position: i, command: step.command.arguments, needs: step.needs)
            },
            parallelism: options.parallelism, host: options.host, pid: getpid(), logRoot: options.logRoot)
        let runID = created.runID
        let ids = created.stepIDs
        try FileSystem.makeDirectory(launcher.logDirectory(runID: runID))
        observer.runStarted(runID: runID, dag: spec.name, steps: spec.steps.map(\.id))

        var machine = RunStateMachine(needs: graph.needs)
        var active: [Int: Active] = [:]
        var cancelSignal: Int32?
        var killDeadline: Double?
        var killed = false
        var nextTick = options.tickInterval.map { MonotonicClock.now() + $0 }

        func record(_ transitions: [StepTransition]) throws {
            try recorder.changeSteps(
                runID: runID, transitions.map { StepChange(id: ids[$0.step], from: $0.from, to: $0.to) })
            for t in transitions { observer.stepChanged(step: spec.steps[t.step].id, from: t.from, to: t.to) }
        }

        func startStep(_ index: Int) throws {
            let step = spec.steps[index]
            let number = 1
            let launch = launcher.launch(step: step, runID: runID, attempt: number)
            let attemptID = try recorder.beginAttempt(
                runID: runID, stepID: ids[index], from: .ready, number: number, host: options.host,
                stdoutPath: launch.stdoutPath, stderrPath: launch.stderrPath)
            _ = machine.markRunning(index)
            do {
                let running = try executor.start(launch)
                // Tracked before the next write: if that write fails, the error path must stop this process.
                active[index] = Active(attemptID: attemptID, number: number, launch: launch, running: running)
                try recorder.attemptRunning(
                    runID: runID, stepID: ids[index], attemptID: attemptID, pid: running.process.pid)
                observer.attemptStarted(step: step.id, attempt: number, pid: running.process.pid)
            } catch let failure as LaunchFailure {
                let ending = AttemptOutcome.failedToStart(step: step.id, reason: failure.reason)
                try end(index, attemptID: attemptID, number: number, ending: ending, final: .failed)
            }
        }

        func end(_ index: Int, attemptID: Int64, number: Int, ending: AttemptEnding, final: StepState) throws {
            let transitions = machine.finish(index, as: final)
            let changes = transitions.map { t in
                t.step == index
                    ? StepChange(
                        id: ids[t.step], from: t.from, to: t.to, exitCode: ending.exitCode, message: ending.message)
                    : StepChange(id: ids[t.step], from: t.from, to: t.to)
            }
            try recorder.endAttempt(
                runID: runID, stepID: ids[index], attemptID: attemptID, ending: ending, stepChanges: changes)
            observer.attemptEnded(step: spec.steps[index].id, attempt: number, ending: ending, stepState: final)
            for t in transitions where t.step != index {
                observer.stepChanged(step: spec.steps[t.step].id, from: t.from, to: t.to)
            }
        }

        func reap() throws {
            for (index, attempt) in active.sorted(by: { $0.key < $1.key }) {
                guard let status = executor.poll(attempt.running) else { continue }
                active.removeValue(forKey: index)
                let wall = MonotonicClock.now() - attempt.running.startedAt
                var ending = AttemptOutcome.ending(
                    step: spec.steps[index].id, status: status, viaShell: attempt.launch.viaShell, wall: wall)
                var final: StepState = status.succeeded ? .succeeded : .failed
                if let signal = cancelSignal, !status.succeeded {
                    final = .cancelled
                    ending.message =
                        "step \(spec.steps[index].id) was stopped: the run was cancelled (\(AttemptOutcome.signalName(signal)))"
                }
                try end(index, attemptID: attempt.attemptID, number: attempt.number, ending: ending, final: final)
            }
        }

        func stopAll(_ signal: Int32) {
            for attempt in active.values { executor.signal(attempt.running, signal) }
        }

        func killAllNow() {
            stopAll(SIGKILL)
            killed = true
            killDeadline = nil
        }

        do {
            try record(machine.start())
            while true {
                if cancelSignal == nil {
                    while active.count < options.parallelism, let next = machine.peekReady() {
                        try startStep(next)
                    }
                }
                if active.isEmpty {
                    if machine.isComplete { break }
                    throw SystemError("internal error: run \(runID) has no step running or ready but is not complete")
                }
                var timeout = [killDeadline, nextTick].compactMap { $0 }.min().map { max(0, $0 - MonotonicClock.now()) }
                let exitFDs = active.values.compactMap(\.running.exitFD)
                if exitFDs.count < active.count { timeout = min(timeout ?? 0.05, 0.05) }  // no pidfd: poll
                let wakers = [wake.readFD] + (signalFD.map { [$0] } ?? [])
                let readable = Poller.wait(wakers + exitFDs, timeout: timeout)
                var signals: [UInt8] = []
                for fd in wakers where readable.contains(fd) { signals += Poller.drain(fd) }
                if let interrupt = signals.map(Int32.init).first(where: { $0 == SIGINT || $0 == SIGTERM }) {
                    if cancelSignal == nil {
                        cancelSignal = interrupt
                        observer.cancelling(signal: interrupt)
                        try record(machine.cancelPending())
                        stopAll(SIGTERM)
                        killDeadline = MonotonicClock.now() + options.gracePeriod
                    } else if !killed {
                        killAllNow()
                    }
                }
                if let deadline = killDeadline, MonotonicClock.now() >= deadline { killAllNow() }
                try reap()
                if let tick = nextTick, let interval = options.tickInterval, MonotonicClock.now() >= tick {
                    observer.tick()
                    nextTick = MonotonicClock.now() + interval
                }
            }
            let state = machine.outcome
            try recorder.finishRun(runID: runID, state: state)
            observer.runFinished(runID: runID, state: state)
            return RunResult(runID: runID, state: state)
        } catch {
            // The database can no longer record this run: stop its processes rather than run unrecorded.
            stopAll(SIGTERM)
            let deadline = MonotonicClock.now() + options.gracePeriod
            while !active.isEmpty {
                for (index, attempt) in active where executor.poll(attempt.running) != nil {
                    active.removeValue(forKey: index)
                }
                if active.isEmpty { break }
                if MonotonicClock.now() >= deadline { stopAll(SIGKILL) }
                _ = Poller.wait(active.values.compactMap(\.running.exitFD), timeout: 0.1)
            }
            throw error
        }
    }
}
