import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceHost
import SluiceModel
import SluiceSpec
import SluiceStore

extension Engine {
    /// Starts driving a run this engine claimed: a fresh run gets its step instances; a run that has them
    /// (resumed after a crash, taken over, retried) is rebuilt from its rows, and its live attempts adopted.
    public func start(
        _ claimed: ClaimedRun, plan: RunPlan, observer: RunObserver, logRoot: String, parallelism: Int? = nil
    ) throws {
        var runOptions = options
        runOptions.logRoot = logRoot
        let width = parallelism ?? options.parallelism
        let launcher = StepLauncher(plan: plan, options: runOptions)
        let keys = plan.steps.map(\.key)
        let steps = plan.steps.map {
            RunMachine.Step(key: $0.key, needs: $0.needs, retries: $0.step.retries)
        }
        let logDirectory = try launcher.openLogDirectory(runID: claimed.id)
        var runtime = RuntimeValues(runID: claimed.id)
        let handle: RunHandle
        var adopt: [LiveAttemptRow] = []
        if !claimed.hasSteps {
            let stepIDs = try durably("the steps of run \(claimed.id)") {
                try recorder.createSteps(
                    runID: claimed.id,
                    steps: plan.steps.enumerated().map { i, step in
                        NewStep(
                            key: step.key, stepID: step.step.id, item: step.item, position: i,
                            command: StepLauncher.recordedCommand(step), needs: step.needs.map { keys[$0] },
                            tags: TagPolicy.effective(
                                step.step, tags: step.tags, dag: plan.spec, hostClass: options.hostClass))
                    }, parallelism: width, host: options.host, pid: getpid(), logRoot: logRoot)
            }
            handle = RunHandle(
                runID: claimed.id, plan: plan, stepIDs: stepIDs, parallelism: width, logDirectory: logDirectory,
                launcher: launcher, observer: observer, machine: RunMachine(steps: steps), runtime: runtime,
                defaults: options.defaultResources)
        } else {
            let recorded = try rows.steps(runID: claimed.id).filter { $0.role == "step" }
            guard recorded.map(\.key) == keys else {
                throw SystemError(
                    "run \(claimed.id) was recorded with other steps than its DAG version plans now; it cannot be resumed"
                )
            }
            try recorder.moveRun(
                runID: claimed.id, host: options.host, pid: getpid(), logRoot: logRoot, parallelism: width)
            let now = MonotonicClock.now()
            var due: [Int: Double] = [:]
            for (i, row) in recorded.enumerated() where row.state == .retrying {
                due[i] = now + max(0, row.retryIn ?? 0)
            }
            let outputs = try rows.outputs(runID: claimed.id)
            for (i, row) in recorded.enumerated() where row.state.isTerminal || row.state == .running {
                let step = plan.steps[i]
                if let item = step.item {
                    if row.state == .succeeded || row.state == .cached {
                        runtime.instanceOutputs[step.step.id, default: [:]][item] = outputs[row.key] ?? [:]
                    }
                } else {
                    if row.state.isTerminal { runtime.states[step.step.id] = row.state.rawValue }
                    if row.state == .succeeded || row.state == .cached, let values = outputs[row.key] {
                        runtime.outputs[step.step.id] = values
                    }
                }
            }
            // Steps put back to pending by a retry wait for their needs again.
            let machine = RunMachine.rebuilt(
                steps: steps, states: recorded.map(\.state), attempts: recorded.map(\.attempts),
                neverStarted: recorded.map(\.neverStarted), retryDue: due, cancelling: false)
            handle = RunHandle(
                runID: claimed.id, plan: plan, stepIDs: recorded.map(\.id), parallelism: width,
                logDirectory: logDirectory, launcher: launcher, observer: observer, machine: machine, runtime: runtime,
                defaults: options.defaultResources)
            adopt = try rows.liveAttempts(runID: claimed.id)
        }
        if launches { handle.lineage = try makeLineage(versionID: claimed.versionID, plan: plan) }
        runs[claimed.id] = handle
        order.append(claimed.id)
        observer.runStarted(runID: claimed.id, dag: plan.spec.name, steps: keys)
        if !claimed.hasSteps {
            emitRunEvent("START", handle: handle)
            try perform(handle.machine.start(), on: handle)
        } else {
            // Ready steps left by a crash or put back by a retry (the rebuilt machine queued them).
            let ready = handle.machine.states.indices.filter {
                handle.machine.states[$0] == .pending
                    && plan.steps[$0].needs.allSatisfy {
                        handle.machine.states[$0].letsDownstreamRun
                    }
            }
            if !ready.isEmpty || handle.machine.isComplete {
                var fresh = handle.machine
                let actions = fresh.start()
                handle.machine = fresh
                try perform(actions, on: handle)
            }
            for row in adopt { try adoptAttempt(row, of: handle) }
        }
        if claimed.cancelRequested && handle.outcome == nil { try perform(handle.machine.cancel(), on: handle) }
    }

    /// An attempt recorded as not ended: still watched (adopt it), ended while nobody watched (record its
    /// real ending), or gone without a word (`lost`, retried per its policy).
    func adoptAttempt(_ row: LiveAttemptRow, of handle: RunHandle) throws {
        guard let index = handle.stepIDs.firstIndex(of: row.stepID) else { return }  // a handler's, handled below
        let step = handle.plan.steps[index]
        // Recorded, but its engine stopped before starting it: nothing of it ever ran.
        let neverStarted = {
            let ending = AttemptEnding(
                state: .lost,
                message: "step \(step.key): its attempt \(row.number) never started (its engine stopped first)")
            try self.perform(
                handle.machine.attemptNeverStarted(index, ending: ending), on: handle, attemptIDs: [index: row.id])
        }
        guard let record = Self.attemptRecord(row) else { return try neverStarted() }
        let adoption = executor.adopt(record)
        let viaShell: Bool
        if case .shell = step.command { viaShell = true } else { viaShell = false }
        let request = handle.requests[index]
        let limits = AttemptLimits(
            cpus: request.cpus, memoryBytes: request.memoryBytes, memoryRequested: request.memoryRequested,
            maxProcesses: request.maxProcesses, maxOpenFiles: request.maxOpenFiles)
        switch adoption {
        case .running(let running):
            handle.active[index] = RunHandle.Active(
                attemptID: row.id, number: row.number, launch: nil, running: running, limits: limits,
                viaShell: viaShell, timeout: step.step.timeout)
            if row.state == .starting {
                try durably("the pid of step \(step.key)") {
                    try recorder.attemptRunning(
                        runID: handle.runID, stepID: row.stepID, attemptID: row.id, pid: running.pid,
                        externalID: running.externalID, executorState: Self.encode(running.record))
                }
            }
            handle.observer.attemptStarted(step: step.key, attempt: row.number, pid: running.pid)
        case .ended(let exit, let running):
            // Never recorded running (its engine died first): its ending records its pid and handle too.
            let active = RunHandle.Active(
                attemptID: row.id, number: row.number, launch: nil, running: running, limits: limits,
                viaShell: viaShell, timeout: step.step.timeout,
                runningRecordDue: row.state == .starting ? MonotonicClock.now() : nil)
            handle.active[index] = active
            try conclude(index, of: handle, exit: exit)
        case .neverStarted:
            try neverStarted()
        case .lost(let why):
            let ending = AttemptEnding(
                state: .lost, message: "step \(step.key): its attempt \(row.number) was lost: \(why)")
            try perform(
                handle.machine.attemptEnded(index, ending: ending, now: MonotonicClock.now()), on: handle,
                attemptIDs: [index: row.id])
        }
    }

    /// The executor's record of an attempt: what was stored when it ran, or what its files say when the
    /// engine died between starting it and recording that.
    static func attemptRecord(_ row: LiveAttemptRow) -> AttemptRecord? {
        if let text = row.executorState,
            let record = try? JSONDecoder().decode(AttemptRecord.self, from: Data(text.utf8))
        {
            return record
        }
        let directory = (row.stdoutPath as NSString).deletingLastPathComponent
        let name = ((row.stdoutPath as NSString).lastPathComponent as NSString).deletingPathExtension
        return LocalExecutor.recordFromStatus(logDirectory: directory, logName: name)
    }

    /// An attempt record as JSON, for the database.
    static func encode(_ record: AttemptRecord) -> String {
        (try? String(decoding: JSONEncoder().encode(record), as: UTF8.self)) ?? "{}"
    }
}
