import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceHost
import SluiceModel
import SluiceSpec
import SluiceStore

extension Engine {
    /// Starts a run's next handler, or records the run's end when there is none (or a signal skipped them).
    ///
    /// Handlers run one after another, each recorded as a step instance of role `handler` with its attempt,
    /// logs and usage, watched like a step (timeout, signals). Their outcome does not change the run's state.
    func nextHandlerOrFinish(_ handle: RunHandle) throws {
        while handle.activeHandler == nil && !leaseStale && runs[handle.runID] === handle {
            guard handle.interruptedBy == nil, handle.nextHandler < handle.handlers.count else {
                return try finishRun(handle)
            }
            let index = handle.nextHandler
            handle.nextHandler += 1
            try startHandler(handle.handlers[index], index: index, of: handle)
        }
    }

    private func startHandler(_ handler: HandlerSpec, index: Int, of handle: RunHandle) throws {
        let kind = handle.handlerKind
        let name = "\(kind)[\(index)]"
        let runID = handle.runID
        let plan = handle.plan
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
        let handlerID = try durably("the start of \(name)") {
            try recorder.addHandler(
                runID: runID, key: name, command: argv,
                tags: TagPolicy.handler(name, dag: plan.spec, hostClass: options.hostClass))
        }
        var launch: AttemptLaunch
        do {
            var environment = options.baseEnvironment
            let resolved = try SecretValues.resolve(
                handler.env.map { EnvVar(name: $0.name, value: render($0.value), secret: $0.secret) },
                environment: options.secretEnvironment, owner: name)
            for (variable, value) in resolved.values { environment[variable] = value }
            let failed = plan.steps.indices.filter { handle.machine.states[$0] == .failed }.map { handle.keys[$0] }
            environment["SLUICE_RUN_ID"] = String(runID)
            environment["SLUICE_DAG"] = plan.spec.name
            environment["SLUICE_STEP"] = name
            environment["SLUICE_ATTEMPT"] = "1"
            environment["SLUICE_LOGICAL_DATE"] = plan.logicalDate
            environment["SLUICE_RUN_STATE"] = (handle.outcome ?? .failed).rawValue
            environment["SLUICE_FAILED_STEPS"] = failed.joined(separator: ",")
            launch = AttemptLaunch(
                argv: argv, viaShell: viaShell,
                environment: environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
                workdir: handler.workdir.map(render) ?? plan.spec.baseDirectory, logDirectory: handle.logDirectory,
                logName: "\(StepLauncher.fileName(name)).1",
                cgroupName: "run\(runID)-\(kind).\(index)-\(cgroupTag ?? "untagged")")
            launch.maskedValues = resolved.secrets
        } catch {
            let message = "handler \(name) could not start: \(error.messages.joined(separator: "; "))"
            try durably("the end of \(name)") {
                try recorder.changeSteps(
                    runID: runID, [StepChange(id: handlerID, from: .ready, to: .failed, message: message)])
            }
            handle.observer.handlerEnded(
                name: name, ending: AttemptEnding(state: .failedToStart, message: message), state: .failed)
            return
        }
        launch.logLimit = options.logLimit
        launch.logMode = options.logFileMode
        launch.user = options.runAs
        launch.timeout = handler.timeout
        launch.gracePeriod = options.gracePeriod
        let begun: (id: Int64, gpus: [Int])?
        do {
            begun = try durably(
                "the start of \(name)",
                write: {
                    try recorder.beginAttempt(
                        runID: runID, stepID: handlerID, from: .ready, number: 1, host: options.host,
                        stdoutPath: launch.stdoutPath, stderrPath: launch.stderrPath, command: argv,
                        request: AttemptRequest(enforcement: executor.enforcementSummary), owner: ownerID)
                },
                ifCommitted: { try recorder.attempt(stepID: handlerID, number: 1) })
        } catch let lost as LeaseLost {
            handle.nextHandler -= 1  // its row stays ready, and is started once the lease is renewed
            if lost.takenOver {
                release(runID: runID)
            } else {
                leaseStale = true
                nextHeartbeat = MonotonicClock.now()
            }
            return
        }
        guard let attemptID = begun?.id else { return }
        do {
            let running = try executor.start(launch)
            handle.activeHandler = RunHandle.ActiveHandler(
                name: name, stepID: handlerID, attemptID: attemptID, running: running, viaShell: viaShell,
                timeout: handler.timeout)
            try durably("the pid of \(name)") {
                try recorder.attemptRunning(
                    runID: runID, stepID: handlerID, attemptID: attemptID, pid: running.pid,
                    externalID: running.externalID, executorState: Self.encode(running.record))
            }
            handle.observer.handlerStarted(name: name, pid: running.pid)
        } catch let failure as LaunchFailure {
            let ending = AttemptOutcome.failedToStart(step: name, reason: failure.reason, noun: "handler")
            try recordHandlerEnd(handle, name: name, stepID: handlerID, attemptID: attemptID, ending: ending)
        }
    }

    /// Records how a handler ended; the next one starts on the engine's next turn.
    func concludeHandler(_ handle: RunHandle, _ handler: RunHandle.ActiveHandler, exit: AttemptExit) throws {
        handle.activeHandler = nil
        var ending = AttemptOutcome.ending(
            step: handler.name, exit: exit, limits: AttemptLimits(), viaShell: handler.viaShell,
            timeout: handler.timeout, noun: "handler")
        if exit.stop == "cancel", let signal = handle.interruptedBy {
            ending.message =
                "handler \(handler.name) was stopped: sluice was interrupted (\(AttemptOutcome.signalName(signal)))"
        }
        try recordHandlerEnd(
            handle, name: handler.name, stepID: handler.stepID, attemptID: handler.attemptID, ending: ending)
        executor.release(handler.running)
    }

    private func recordHandlerEnd(
        _ handle: RunHandle, name: String, stepID: Int64, attemptID: Int64, ending: AttemptEnding
    ) throws {
        let final: StepState = ending.succeeded ? .succeeded : (handle.interruptedBy != nil ? .cancelled : .failed)
        let change = StepChange(
            id: stepID, from: .running, to: final, exitCode: ending.exitCode, message: ending.message)
        try durably("the end of \(name)") {
            try recorder.endAttempt(
                runID: handle.runID, stepID: stepID, attemptID: attemptID, ending: ending, stepChanges: [change])
        }
        handle.observer.handlerEnded(name: name, ending: ending, state: final)
    }
}

extension Engine {
    /// Performs a write, retrying with backoff while the database cannot take it (the connection is lost,
    /// the disk is full, the server restarts or is read-only). Attempts keep running meanwhile (their
    /// watchers do not need this process), and signals are kept for the loop. If an earlier try committed
    /// before its reply was lost, the retry conflicts with it, and `ifCommitted` gives the result instead.
    func durably<T>(_ what: String, write: () throws -> T, ifCommitted: () throws -> T) throws -> T {
        var delay = 0.5
        var waited = 0.0
        var failedOnce = false
        while true {
            do {
                let value = try write()
                if failedOnce { for handle in runs.values { handle.observer.databaseRecovered(after: waited) } }
                return value
            } catch is StateConflict where failedOnce {
                for handle in runs.values { handle.observer.databaseRecovered(after: waited) }
                return try ifCommitted()
            } catch let error as DatabaseError where error.isTransient {
                // A shutdown during an outage leaves what is unrecorded to the next engine, as a crash would.
                if waited >= options.databaseRetryLimit || stopping { throw error }
                if !failedOnce {
                    let limit =
                        options.databaseRetryLimit.isFinite
                        ? " (at most \(Units.formatDuration(options.databaseRetryLimit)))" : ""
                    let message =
                        "the database is unreachable: cannot record \(what): \(error.message); retrying until the database is back\(limit), and running steps keep running"
                    if runs.isEmpty {
                        Terminal.printError("sluice: \(message)")
                    } else {
                        for handle in runs.values { handle.observer.databaseUnavailable(message) }
                    }
                }
                failedOnce = true
                let readable = Poller.wait([wake.readFD] + (signalFD.map { [$0] } ?? []), timeout: delay)
                for fd in readable {
                    pendingSignals += Poller.drain(fd).map(Int32.init).filter { $0 == SIGINT || $0 == SIGTERM }
                }
                if stopping { throw error }
                if pendingSignals.count > 1 {
                    // A second Ctrl-C while the database is away: stop what runs at once.
                    for handle in runs.values {
                        for attempt in handle.active.values { executor.stop(attempt.running, now: true) }
                    }
                }
                waited += delay
                delay = min(delay * 2, 10)
            }
        }
    }

    /// `durably` for a state change: a retry that finds it made already (its reply was lost) is done.
    func durably(_ what: String, _ write: () throws -> Void) throws {
        try durably(what, write: write, ifCommitted: {})
    }

    /// `durably` for a read, or an insert that cannot conflict with itself.
    func durably<T>(_ what: String, _ write: () throws -> T) throws -> T {
        try durably(what, write: write, ifCommitted: { try write() })
    }
}
