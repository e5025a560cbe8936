import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceHost
import SluiceModel
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
        /// When its `timeout` runs out, on the monotonic clock.
        let deadline: Double?
        /// When the engine sent SIGTERM for the timeout.
        var terminatedAt: Double?
        /// True once SIGKILL followed.
        var killed = false
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

    /// Plans `spec` with its parameters' defaults and today's logical date, then runs it.
    public func run(_ spec: DAGSpec) throws -> RunResult {
        try run(Planner.plan(spec, logicalDate: Planner.today(timezone: spec.timezone)))
    }

    /// Runs the plan until every step has ended or the run is cancelled by SIGINT/SIGTERM.
    public func run(_ plan: RunPlan) throws -> RunResult {
        let signalFD: Int32? = options.handleSignals ? try SignalPipe.install() : nil
        defer { if signalFD != nil { SignalPipe.restoreDefaults() } }
        if let signalFD { _ = Poller.drain(signalFD) }
        _ = Poller.drain(wake.readFD)
        let spec = plan.spec
        let launcher = StepLauncher(plan: plan, options: options)
        let keys = plan.steps.map(\.key)
        let created = try recorder.createRun(
            dag: spec.name, source: spec.source, sourcePath: FileSystem.absolute(spec.file),
            steps: plan.steps.enumerated().map { i, step in
                NewStep(
                    key: step.key, stepID: step.step.id, item: step.item, position: i,
                    command: StepLauncher.recordedCommand(step), needs: step.needs.map { keys[$0] })
            },
            parallelism: options.parallelism, host: options.host, pid: getpid(), logRoot: options.logRoot,
            params: Dictionary(plan.params.map { ($0.name, $0.value.description) }, uniquingKeysWith: { a, _ in a }),
            logicalDate: plan.logicalDate)
        let runID = created.runID
        let ids = created.stepIDs
        let logDirectory = try launcher.openLogDirectory(runID: runID)
        observer.runStarted(runID: runID, dag: spec.name, steps: keys)
        var runtime = RuntimeValues(runID: runID)

        var machine = RunStateMachine(needs: plan.steps.map(\.needs))
        var ledger = CapacityLedger(options.capacity)
        let requests = plan.steps.map { StepRequest($0.step.resources, defaults: options.defaultResources) }
        var active: [Int: Active] = [:]
        /// Steps between attempts: the next attempt's number and when it is due.
        var waiting: [Int: (due: Double, number: Int)] = [:]
        var cancelSignal: Int32?
        var killDeadline: Double?
        var killed = false
        var nextTick = options.tickInterval.map { MonotonicClock.now() + $0 }
        /// SIGINT/SIGTERM that arrived while a write was being retried, for the main loop to act on.
        var pendingSignals: [Int32] = []
        let wakers = [wake.readFD] + (signalFD.map { [$0] } ?? [])

        /// Waits `seconds` while keeping every running step's logs flowing; signals are stopped on, and kept.
        func waitKeepingStepsAlive(_ seconds: Double) {
            let deadline = MonotonicClock.now() + seconds
            while MonotonicClock.now() < deadline {
                let readable = Poller.wait(
                    wakers + active.values.flatMap(\.running.logFDs), timeout: deadline - MonotonicClock.now())
                for attempt in active.values { attempt.running.pumpLogs() }
                for fd in wakers where readable.contains(fd) {
                    for byte in Poller.drain(fd) where Int32(byte) == SIGINT || Int32(byte) == SIGTERM {
                        if pendingSignals.isEmpty && cancelSignal == nil {
                            stopAll(SIGTERM)
                        } else if !killed {
                            killAllNow()
                        }
                        pendingSignals.append(Int32(byte))
                    }
                }
            }
        }

        /// Performs a write, retrying with backoff while the database cannot take it (the connection is lost,
        /// the disk is full, the server restarts or is read-only): the steps keep running and their logs keep
        /// flowing, and nothing is lost once it is back. If an earlier try committed before its reply was
        /// lost, the retry conflicts with it, and `ifCommitted` gives the result instead.
        func durably(_ what: String, _ write: () throws -> Void) throws {
            try durably(what, write: write, ifCommitted: {})
        }

        func durably<T>(_ what: String, write: () throws -> T, ifCommitted: () throws -> T) throws -> T {
            var delay = 0.5
            var waited = 0.0
            var failedOnce = false
            while true {
                do {
                    let value = try write()
                    if failedOnce { observer.databaseRecovered(after: waited) }
                    return value
                } catch is StateConflict where failedOnce {
                    observer.databaseRecovered(after: waited)
                    return try ifCommitted()
                } catch let error as DatabaseError where error.isTransient {
                    if waited >= options.databaseRetryLimit { throw error }
                    if !failedOnce {
                        observer.databaseUnavailable(
                            "cannot record \(what): \(error.message); retrying until the database is back (at most \(Units.formatDuration(options.databaseRetryLimit))), and running steps keep running"
                        )
                    }
                    failedOnce = true
                    waitKeepingStepsAlive(delay)
                    waited += delay
                    delay = min(delay * 2, 10)
                }
            }
        }

        func record(_ transitions: [StepTransition]) throws {
            let changes = transitions.map { StepChange(id: ids[$0.step], from: $0.from, to: $0.to) }
            try durably("step changes of run \(runID)") {
                try recorder.changeSteps(runID: runID, changes)
            }
            for t in transitions { observer.stepChanged(step: keys[t.step], from: t.from, to: t.to) }
        }

        func remember(_ index: Int, _ state: StepState) {
            let step = plan.steps[index]
            if step.item == nil { runtime.states[step.step.id] = state.rawValue }
        }

        /// Ends a step that will not run (again): `skipped` or `failed`, from `ready` or between attempts.
        func settle(_ index: Int, as final: StepState, message: String) throws {
            let retrying = waiting.removeValue(forKey: index) != nil
            var transitions = retrying ? machine.finish(index, as: final) : machine.settle(index, as: final)
            if retrying { transitions[0] = StepTransition(step: index, from: .retrying, to: final) }
            let changes = transitions.map {
                StepChange(id: ids[$0.step], from: $0.from, to: $0.to, message: $0.step == index ? message : nil)
            }
            try durably("the end of step \(keys[index])") {
                try recorder.changeSteps(runID: runID, changes)
            }
            remember(index, final)
            for t in transitions { observer.stepChanged(step: keys[t.step], from: t.from, to: t.to) }
        }

        /// Decides a ready step's `when`; true when it was settled (skipped, or failed to decide) instead of run.
        func settledByWhen(_ index: Int) throws -> Bool {
            let step = plan.steps[index]
            guard let when = step.when else { return false }
            switch when.evaluate({ runtime.conditionValue($0) }) {
            case false?:
                try settle(index, as: .skipped, message: "skipped: when \(step.step.when ?? when) is false")
                return true
            case nil:
                let missing = when.references.map(\.0).filter { runtime.value($0) == nil && $0.isRuntime }
                let reasons = missing.map { runtime.missingMessage($0) }.joined(separator: "; ")
                try settle(index, as: .failed, message: "step \(step.key) could not decide its when: \(reasons)")
                return true
            case true?: return false
            }
        }

        /// Starts attempt `number` of a step that is `ready` (the first) or `retrying` (a later one).
        func startAttempt(_ index: Int, number: Int, from: StepState) throws {
            let step = plan.steps[index]
            let request = requests[index]
            let gpus = ledger.take(request, for: index)
            let launch: AttemptLaunch
            do {
                launch = try launcher.launch(
                    index, runID: runID, attempt: number, runtime: runtime, request: request, gpus: gpus,
                    logDirectory: logDirectory)
            } catch {
                ledger.release(index)
                return try settle(
                    index, as: .failed,
                    message: "step \(step.key) could not start: \(error.messages.joined(separator: "; "))")
            }
            waiting.removeValue(forKey: index)
            let attemptRequest = AttemptRequest(
                cpus: request.cpus, memoryBytes: request.memoryBytes, gpus: request.gpus,
                maxProcesses: request.maxProcesses, gpuIDs: gpus, enforcement: executor.control.summary)
            let attemptID = try durably(
                "the start of step \(step.key)",
                write: {
                    try recorder.beginAttempt(
                        runID: runID, stepID: ids[index], from: from, number: number, host: options.host,
                        stdoutPath: launch.stdoutPath, stderrPath: launch.stderrPath, command: launch.argv,
                        request: attemptRequest)
                },
                ifCommitted: { try recorder.attemptID(stepID: ids[index], number: number) })
            if from == .ready {
                _ = machine.markRunning(index)
            } else {
                observer.stepChanged(step: step.key, from: .retrying, to: .running)
            }
            do {
                let running = try executor.start(launch)
                // Tracked before the next write: if that write fails, the error path must stop this process.
                active[index] = Active(
                    attemptID: attemptID, number: number, launch: launch, running: running,
                    deadline: step.step.timeout.map { running.startedAt + $0 })
                try durably("the pid of step \(step.key)") {
                    try recorder.attemptRunning(
                        runID: runID, stepID: ids[index], attemptID: attemptID, pid: running.process.pid)
                }
                observer.attemptStarted(step: step.key, attempt: number, pid: running.process.pid)
            } catch let failure as LaunchFailure {
                ledger.release(index)
                let ending = AttemptOutcome.failedToStart(step: step.key, reason: failure.reason)
                try conclude(index, attemptID: attemptID, number: number, ending: ending, succeeded: false)
            }
        }

        /// Records an attempt's ending, and then either the step's end or its wait for the next attempt.
        func conclude(_ index: Int, attemptID: Int64, number: Int, ending: AttemptEnding, succeeded: Bool) throws {
            let policy = plan.steps[index].step.retries
            let attempts = policy.attempts ?? 1
            if !succeeded, cancelSignal == nil, number < attempts, RetryTiming.retries(policy, ending) {
                let delay = RetryTiming.delay(policy, afterAttempt: number, random: Double.random(in: 0...1))
                let outcome = ending.message ?? "attempt \(number) ended \(ending.state.rawValue)"
                let message =
                    "\(outcome); retrying in \(Units.formatDuration(delay.rounded(.up))) (attempt \(number + 1) of \(attempts))"
                let change = StepChange(
                    id: ids[index], from: .running, to: .retrying, exitCode: ending.exitCode, message: message,
                    retryDelay: delay)
                try durably("the end of attempt \(number) of step \(keys[index])") {
                    try recorder.endAttempt(
                        runID: runID, stepID: ids[index], attemptID: attemptID, ending: ending, stepChanges: [change])
                }
                waiting[index] = (MonotonicClock.now() + delay, number + 1)
                observer.attemptEnded(step: keys[index], attempt: number, ending: ending, stepState: .retrying)
                return
            }
            let final: StepState = succeeded ? .succeeded : (cancelSignal != nil ? .cancelled : .failed)
            let transitions = machine.finish(index, as: final)
            let changes = transitions.map { t in
                t.step == index
                    ? StepChange(
                        id: ids[t.step], from: t.from, to: t.to, exitCode: ending.exitCode, message: ending.message)
                    : StepChange(id: ids[t.step], from: t.from, to: t.to)
            }
            try durably("the end of step \(keys[index])") {
                try recorder.endAttempt(
                    runID: runID, stepID: ids[index], attemptID: attemptID, ending: ending, stepChanges: changes)
            }
            remember(index, final)
            if final == .succeeded {
                let step = plan.steps[index]
                if let item = step.item {
                    runtime.instanceOutputs[step.step.id, default: [:]][item] = ending.outputs ?? [:]
                } else if let outputs = ending.outputs {
                    runtime.outputs[step.step.id] = outputs
                }
            }
            observer.attemptEnded(step: keys[index], attempt: number, ending: ending, stepState: final)
            for t in transitions where t.step != index {
                observer.stepChanged(step: keys[t.step], from: t.from, to: t.to)
            }
        }

        func reap() throws {
            for (index, attempt) in active.sorted(by: { $0.key < $1.key }) {
                guard let exit = executor.poll(attempt.running) else { continue }
                active.removeValue(forKey: index)
                ledger.release(index)
                let timeout = plan.steps[index].step.timeout
                let stop =
                    attempt.terminatedAt != nil && cancelSignal == nil
                    ? AttemptOutcome.Stop.timeout(seconds: timeout ?? 0, killed: attempt.killed) : nil
                var ending = AttemptOutcome.ending(
                    step: keys[index], exit: exit, limits: attempt.launch.limits, viaShell: attempt.launch.viaShell,
                    stop: stop)
                if let bytes = exit.outputBytes {
                    let parsed = StepLauncher.parseOutputs(bytes)
                    ending.outputs = parsed.outputs
                    ending.warnings = parsed.warnings
                }
                let succeeded = ending.succeeded
                if !succeeded, let signal = cancelSignal {
                    ending.message =
                        "step \(keys[index]) was stopped: the run was cancelled (\(AttemptOutcome.signalName(signal)))"
                }
                try conclude(
                    index, attemptID: attempt.attemptID, number: attempt.number, ending: ending, succeeded: succeeded)
            }
        }

        /// SIGTERM at a step's timeout, then SIGKILL to its group and cgroup after the grace period.
        func enforceTimeouts(now: Double) {
            for (index, attempt) in active {
                if attempt.terminatedAt == nil, let deadline = attempt.deadline, now >= deadline {
                    executor.signal(attempt.running, SIGTERM)
                    active[index]?.terminatedAt = now
                } else if let terminated = attempt.terminatedAt, !attempt.killed,
                    now >= terminated + options.gracePeriod
                {
                    executor.kill(attempt.running)
                    active[index]?.killed = true
                }
            }
        }

        /// The next moment a timer needs the loop: a timeout, a kill after the grace period, or a due retry.
        func nextTimer() -> Double? {
            var times = [killDeadline, nextTick].compactMap { $0 }
            for attempt in active.values {
                if let terminated = attempt.terminatedAt {
                    if !attempt.killed { times.append(terminated + options.gracePeriod) }
                } else if let deadline = attempt.deadline {
                    times.append(deadline)
                }
            }
            if cancelSignal == nil { times += waiting.values.map(\.due) }
            return times.min()
        }

        func stopAll(_ signal: Int32) {
            for attempt in active.values { executor.signal(attempt.running, signal) }
        }

        func killAllNow() {
            for attempt in active.values { executor.kill(attempt.running) }
            killed = true
            killDeadline = nil
        }

        /// Starts what is due and fits: retries whose backoff is over first, then ready steps in the order they
        /// became ready. The first that does not fit waits, and so does everything behind it.
        func admit() throws {
            while cancelSignal == nil && active.count < options.parallelism {
                let now = MonotonicClock.now()
                if let (index, next) = waiting.filter({ $0.value.due <= now }).min(by: { $0.value.due < $1.value.due })
                {
                    guard ledger.fits(requests[index]) else { return }
                    try startAttempt(index, number: next.number, from: .retrying)
                } else if let index = machine.peekReady() {
                    if try settledByWhen(index) { continue }
                    guard ledger.fits(requests[index]) else {
                        if active.isEmpty {
                            // Nothing runs, so nothing will free capacity: it can never fit here.
                            try settle(
                                index, as: .failed,
                                message:
                                    "step \(keys[index]) asks for more than this host's capacity; it could never start")
                            continue
                        }
                        return
                    }
                    try startAttempt(index, number: 1, from: .ready)
                } else {
                    return
                }
            }
        }

        do {
            try record(machine.start())
            while true {
                try admit()
                if active.isEmpty && (waiting.isEmpty || cancelSignal != nil) {
                    if machine.isComplete { break }
                    throw SystemError("internal error: run \(runID) has no step running or ready but is not complete")
                }
                var timeout = nextTimer().map { max(0, $0 - MonotonicClock.now()) }
                let exitFDs = active.values.compactMap(\.running.exitFD)
                if exitFDs.count < active.count { timeout = min(timeout ?? 0.05, 0.05) }  // no pidfd: poll
                let logFDs = active.values.flatMap(\.running.logFDs)
                let readable = Poller.wait(wakers + exitFDs + logFDs, timeout: pendingSignals.isEmpty ? timeout : 0)
                for attempt in active.values where attempt.running.logFDs.contains(where: readable.contains) {
                    attempt.running.pumpLogs()
                }
                var signals = pendingSignals
                pendingSignals = []
                for fd in wakers where readable.contains(fd) { signals += Poller.drain(fd).map(Int32.init) }
                if let interrupt = signals.first(where: { $0 == SIGINT || $0 == SIGTERM }) {
                    if cancelSignal == nil {
                        cancelSignal = interrupt
                        observer.cancelling(signal: interrupt)
                        try record(machine.cancelPending())
                        for index in waiting.keys.sorted() {
                            try settle(index, as: .cancelled, message: "the run was cancelled before its next attempt")
                        }
                        stopAll(SIGTERM)
                        killDeadline = MonotonicClock.now() + options.gracePeriod
                    } else if !killed {
                        killAllNow()
                    }
                }
                let now = MonotonicClock.now()
                if let deadline = killDeadline, now >= deadline { killAllNow() }
                enforceTimeouts(now: now)
                try reap()
                if let tick = nextTick, let interval = options.tickInterval, MonotonicClock.now() >= tick {
                    observer.tick()
                    nextTick = MonotonicClock.now() + interval
                }
            }
            let state = machine.outcome
            var interrupted: Int32?
            if cancelSignal == nil {
                // Before the run's end is recorded: a run whose handlers are still going is still running.
                let failed = plan.steps.indices.filter { machine.states[$0] == .failed }.map { keys[$0] }
                interrupted = try runHandlers(
                    state == .succeeded ? plan.onSuccess : (state == .failed ? plan.onFailure : []),
                    kind: state == .succeeded ? "on_success" : "on_failure", plan: plan, runID: runID, state: state,
                    failedSteps: failed, logDirectory: logDirectory, signalFD: signalFD,
                    durable: { what, write in try durably(what, write) })
            }
            try durably("the end of run \(runID)") {
                try recorder.finishRun(runID: runID, state: state)
            }
            observer.runFinished(runID: runID, state: state)
            return RunResult(runID: runID, state: state, interruptedBy: interrupted)
        } catch {
            // The database can no longer record this run: stop its processes rather than run unrecorded.
            stopAll(SIGTERM)
            let deadline = MonotonicClock.now() + options.gracePeriod
            while !active.isEmpty {
                for (index, attempt) in active where executor.poll(attempt.running) != nil {
                    active.removeValue(forKey: index)
                }
                if active.isEmpty { break }
                if MonotonicClock.now() >= deadline { killAllNow() }
                _ = Poller.wait(active.values.compactMap(\.running.exitFD), timeout: 0.1)
            }
            throw error
        }
    }

    /// Runs `on_failure`/`on_success` handlers one after another, each recorded as a step instance of role
    /// `handler` with its attempt, logs and usage, so `runs show` and `sluice logs RUN on_failure[0]` see it.
    ///
    /// A handler is stopped like a step: at its timeout, or when SIGINT/SIGTERM arrives (SIGTERM to its
    /// process group, SIGKILL after the grace period; a second signal kills at once). After a signal the
    /// remaining handlers are skipped and the signal is returned. A handler's failure does not change the
    /// run's state.
    private func runHandlers(
        _ handlers: [HandlerSpec], kind: String, plan: RunPlan, runID: Int64, state: RunState, failedSteps: [String],
        logDirectory: SecureDirectory, signalFD: Int32?, durable: (String, () throws -> Void) throws -> Void
    ) throws -> Int32? {
        for (index, handler) in handlers.enumerated() {
            let name = "\(kind)[\(index)]"
            let runtime = RuntimeValues(runID: runID)
            let render: (Template) -> String = { $0.render(quote: false) { runtime.value($0) } }
            let argv: [String]
            let viaShell: Bool
            switch handler.command {
            case .shell(let t):
                argv = ["/bin/sh", "-c", t.render(quote: true) { runtime.value($0) }]
                viaShell = true
            case .argv(let items):
                argv = items.map(render)
                viaShell = false
            }
            var handlerID: Int64 = 0
            try durable("the start of \(name)") {
                handlerID = try recorder.addHandler(runID: runID, key: name, command: argv)
            }
            var launch: AttemptLaunch
            var secrets: [String] = []
            do {
                var environment = options.baseEnvironment
                let resolved = try SecretValues.resolve(
                    handler.env.map { EnvVar(name: $0.name, value: render($0.value), secret: $0.secret) },
                    environment: options.secretEnvironment, owner: name)
                secrets = resolved.secrets
                for (variable, value) in resolved.values { environment[variable] = value }
                environment["SLUICE_RUN_ID"] = String(runID)
                environment["SLUICE_DAG"] = plan.spec.name
                environment["SLUICE_STEP"] = name
                environment["SLUICE_ATTEMPT"] = "1"
                environment["SLUICE_LOGICAL_DATE"] = plan.logicalDate
                environment["SLUICE_RUN_STATE"] = state.rawValue
                environment["SLUICE_FAILED_STEPS"] = failedSteps.joined(separator: ",")
                launch = AttemptLaunch(
                    argv: argv, viaShell: viaShell,
                    environment: environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
                    workdir: handler.workdir.map(render) ?? plan.spec.baseDirectory, logDirectory: logDirectory,
                    logName: "\(StepLauncher.fileName(name)).1", cgroupName: "run\(runID)-\(kind).\(index)")
            } catch {
                let message = "handler \(name) could not start: \(error.messages.joined(separator: "; "))"
                try durable("the end of \(name)") {
                    try recorder.changeSteps(
                        runID: runID, [StepChange(id: handlerID, from: .ready, to: .failed, message: message)])
                }
                observer.handlerEnded(
                    name: name, ending: AttemptEnding(state: .failedToStart, message: message), state: .failed)
                continue
            }
            launch.logLimit = options.logLimit
            launch.logMode = options.logFileMode
            launch.user = options.runAs
            launch.maskedValues = secrets
            var attemptID: Int64 = 0
            try durable("the start of \(name)") {
                attemptID = try recorder.beginAttempt(
                    runID: runID, stepID: handlerID, from: .ready, number: 1, host: options.host,
                    stdoutPath: launch.stdoutPath, stderrPath: launch.stderrPath, command: argv,
                    request: AttemptRequest(enforcement: executor.control.summary))
            }
            if attemptID == 0 { attemptID = try recorder.attemptID(stepID: handlerID, number: 1) }
            var ending: AttemptEnding
            var interruptedBy: Int32?
            do {
                let (exit, stop, signal) = try runToEnd(launch, timeout: handler.timeout, signalFD: signalFD) { pid in
                    try? recorder.attemptRunning(runID: runID, stepID: handlerID, attemptID: attemptID, pid: pid)
                    observer.handlerStarted(name: name, pid: pid)
                }
                interruptedBy = signal
                ending = AttemptOutcome.ending(
                    step: name, exit: exit, limits: launch.limits, viaShell: viaShell, stop: stop, noun: "handler")
                if let signal {
                    ending.message =
                        "handler \(name) was stopped: sluice was interrupted (\(AttemptOutcome.signalName(signal)))"
                }
            } catch {
                ending = AttemptOutcome.failedToStart(step: name, reason: error.reason, noun: "handler")
            }
            let final: StepState = ending.succeeded ? .succeeded : (interruptedBy != nil ? .cancelled : .failed)
            let change = StepChange(
                id: handlerID, from: .running, to: final, exitCode: ending.exitCode, message: ending.message)
            let recorded = ending
            try durable("the end of \(name)") {
                try recorder.endAttempt(
                    runID: runID, stepID: handlerID, attemptID: attemptID, ending: recorded, stepChanges: [change])
            }
            observer.handlerEnded(name: name, ending: ending, state: final)
            if let interruptedBy { return interruptedBy }
        }
        return nil
    }

    /// Runs one process to its end, stopping it at its timeout or on SIGINT/SIGTERM.
    private func runToEnd(
        _ launch: AttemptLaunch, timeout: Double, signalFD: Int32?, started: (Int32) -> Void
    ) throws(LaunchFailure) -> (AttemptExit, AttemptOutcome.Stop?, Int32?) {
        let running = try executor.start(launch)
        started(running.process.pid)
        let deadline = running.startedAt + timeout
        var terminatedAt: Double?
        var killed = false
        var signal: Int32?
        while true {
            if let exit = executor.poll(running) {
                let stop: AttemptOutcome.Stop? =
                    terminatedAt != nil && signal == nil ? .timeout(seconds: timeout, killed: killed) : nil
                return (exit, stop, signal)
            }
            let now = MonotonicClock.now()
            if terminatedAt == nil && now >= deadline {
                executor.signal(running, SIGTERM)
                terminatedAt = now
            } else if let terminated = terminatedAt, !killed, now >= terminated + options.gracePeriod {
                executor.kill(running)
                killed = true
            }
            let next = killed ? nil : (terminatedAt.map { $0 + options.gracePeriod } ?? deadline)
            var wait = next.map { max(0, $0 - MonotonicClock.now()) }
            if running.exitFD == nil { wait = min(wait ?? 0.05, 0.05) }
            let wakers = [wake.readFD] + (signalFD.map { [$0] } ?? [])
            let readable = Poller.wait(
                wakers + (running.exitFD.map { [$0] } ?? []) + running.logFDs, timeout: wait)
            running.pumpLogs()
            var bytes: [UInt8] = []
            for fd in wakers where readable.contains(fd) { bytes += Poller.drain(fd) }
            if let interrupt = bytes.map(Int32.init).first(where: { $0 == SIGINT || $0 == SIGTERM }) {
                if signal == nil {
                    signal = interrupt
                    executor.signal(running, SIGTERM)
                    terminatedAt = MonotonicClock.now()
                } else if !killed {
                    executor.kill(running)
                    killed = true
                }
            }
        }
    }
}
