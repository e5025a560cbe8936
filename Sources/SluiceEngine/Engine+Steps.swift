import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceHost
import SluiceModel
import SluiceSpec
import SluiceStore

extension Engine {
    /// Launches what may start in every run, oldest run first, while the host has room.
    func launchEverywhere() throws {
        for id in order {
            guard let handle = runs[id] else { continue }
            if launches && !leaseStale { try launchReady(handle) }
            if handle.outcome != nil && handle.activeHandler == nil && !handle.done {
                // An engine that only records (a command's sweep or cancel) ends the run without its handlers.
                if launches { try nextHandlerOrFinish(handle) } else { try finishRun(handle) }
            }
        }
        order.removeAll { runs[$0] == nil }
    }

    /// Starts the steps of a run that are due, up to its parallelism and the host's capacity.
    ///
    /// When several start in one turn, their begins share one WAL flush: each but the last commits without
    /// waiting, its step held at its exec, and all are released once a commit that waits has flushed them.
    func launchReady(_ handle: RunHandle) throws {
        do {
            try launchEachReady(handle)
            if !handle.held.isEmpty {
                try durably("the start of \(handle.held.map { handle.keys[$0.index] }.joined(separator: ", "))") {
                    try recorder.flushCommitted()
                }
                if try releaseHeld(handle) { try launchReady(handle) }
            }
        } catch {
            discardHeld(handle)
            throw error
        }
    }

    /// The loop of `launchReady`: may leave attempts held.
    private func launchEachReady(_ handle: RunHandle) throws {
        while !capacityFull && !leaseStale && runs[handle.runID] === handle
            && handle.active.count + handle.held.count < handle.parallelism && handle.outcome == nil
        {
            guard let index = handle.machine.nextToLaunch() else { return }
            let step = handle.plan.steps[index]
            if handle.machine.launchState(of: index) == .ready, let when = step.when {
                switch when.evaluate({ handle.runtime.conditionValue($0) }) {
                case false?:
                    let shown = step.step.when ?? when
                    try perform(handle.machine.settle(index, .skipped("skipped: when \(shown) is false")), on: handle)
                    handle.remember(index, .skipped, outputs: nil)
                    continue
                case nil:
                    let missing = when.references.map(\.0).filter { handle.runtime.value($0) == nil && $0.isRuntime }
                    let reasons = missing.map { handle.runtime.missingMessage($0) }.joined(separator: "; ")
                    try perform(
                        handle.machine.settle(index, .failed("step \(step.key) could not decide its when: \(reasons)")),
                        on: handle)
                    continue
                case true?: break
                }
            }
            try launch(index, of: handle)
        }
    }

    /// Admits, records and starts one attempt of a step.
    func launch(_ index: Int, of handle: RunHandle) throws {
        let step = handle.plan.steps[index]
        let number = handle.machine.nextAttempt(of: index)
        let from = handle.machine.launchState(of: index)
        var launch: AttemptLaunch
        do {
            launch = try Phases.measure("resolve: the step's command, environment and limits") {
                () throws(PlanError) -> AttemptLaunch in
                try handle.launcher.launch(
                    index, runID: handle.runID, attempt: number, runtime: handle.runtime,
                    request: handle.requests[index], gpus: [], logDirectory: handle.logDirectory)
            }
        } catch {
            let message = "step \(step.key) could not start: \(error.messages.joined(separator: "; "))"
            try perform(handle.machine.settle(index, .failed(message)), on: handle)
            return
        }
        launch.timeout = step.step.timeout
        launch.gracePeriod = options.gracePeriod
        launch.cgroupName += "-" + (cgroupTag ?? "untagged")
        var pins: StartPins?
        if let lineage = handle.lineage {
            do {
                pins = try Phases.measure("lineage: inputs versioned, fingerprint") {
                    try startPins(index, of: handle, launch: launch, lineage: lineage)
                }
            } catch let failure as LineageFailure {
                try perform(handle.machine.settle(index, .failed(failure.message)), on: handle)
                return
            } catch let error as PlanError {
                let message = "step \(step.key) could not start: \(error.messages.joined(separator: "; "))"
                try perform(handle.machine.settle(index, .failed(message)), on: handle)
                return
            }
            if from == .ready, let pins,
                let reused = try reusableAttempt(index, of: handle, pins: pins, launch: launch, lineage: lineage)
            {
                try settleCached(index, of: handle, reused: reused)
                return
            }
        }
        let request = handle.requests[index]
        let attemptRequest = AttemptRequest(
            cpus: request.cpus, memoryBytes: request.memoryBytes, gpus: request.gpus,
            maxProcesses: request.maxProcesses, enforcement: executor.enforcementSummary)
        let capacity = HostLimits(
            cpus: options.capacity.cpus, memoryBytes: options.capacity.memoryBytes, gpus: options.capacity.gpus)
        // Set up while its start is recorded (`prepare` runs once the statement is sent): the step waits at its
        // exec until the commit, so nothing runs unrecorded. A step with GPUs is set up after the commit, once
        // the admission has picked its devices; so is one whose statement could not go that way, and every
        // step for a second after the host was found full.
        var prepared: Result<PreparedAttempt, LaunchFailure>?
        if request.gpus == 0 { launch.environment = Self.withDevices([], launch.environment) }
        let ahead = request.gpus == 0 && MonotonicClock.now() - capacityMissedAt > 1
        // Another start follows in this turn: this one's flush can wait for it (see `launchReady`). Not while
        // endings wait to be recorded: they go first, with a begin that waits (they free the host's capacity
        // this admission counts, and an ending is never let go of before it is on disk).
        let flushLater =
            ahead && !recorder.hasQueued && handle.active.count + handle.held.count + 1 < handle.parallelism
            && handle.machine.waitsToLaunch(besides: index)
        let prepare = { [executor] in
            guard prepared == nil, ahead else { return }
            prepared = Result { () throws(LaunchFailure) in try executor.prepare(launch) }
        }
        defer { discard(prepared) }
        let begun: (id: Int64, gpus: [Int])?
        do {
            begun = try Phases.measure("begin: the attempt recorded, with the ending before it (SQL, one WAL flush)") {
                try durably(
                    "the start of step \(step.key)",
                    write: {
                        try recorder.beginAttempt(
                            runID: handle.runID, stepID: handle.stepIDs[index], from: from, number: number,
                            host: options.host, stdoutPath: launch.stdoutPath, stderrPath: launch.stderrPath,
                            command: launch.argv, request: attemptRequest, capacity: capacity, owner: ownerID,
                            fingerprint: pins?.fingerprint, code: handle.lineage?.codeJSON, flushLater: flushLater,
                            meanwhile: prepare)
                    },
                    ifCommitted: { try recorder.attempt(stepID: handle.stepIDs[index], number: number) })
            }
        } catch let lost as LeaseLost {
            if lost.takenOver {
                handle.observer.databaseUnavailable("run \(handle.runID): \(lost); this engine lets go of it")
                discardHeld(handle)
                release(runID: handle.runID)
            } else {
                leaseStale = true  // renew first (at once), then launch
                nextHeartbeat = MonotonicClock.now()
            }
            return
        }
        guard let (attemptID, gpus) = begun else {
            if !handle.requests[index].fits(options.capacity) {
                // It can never fit here: say so rather than wait forever.
                try perform(
                    handle.machine.settle(
                        index,
                        .failed("step \(step.key) asks for more than this host's capacity; it could never start")),
                    on: handle)
                return
            }
            capacityFull = true
            capacityMissedAt = MonotonicClock.now()
            capacityRetryAt = capacityMissedAt + 1  // a freed slot is announced; this is only the fallback
            return
        }
        handle.machine.launched(index)
        let begunAttempt = RunHandle.Held(
            index: index, attemptID: attemptID, gpus: gpus, number: number, from: from, launch: launch,
            prepared: prepared, pins: pins, reconnections: recorder.reconnections)
        prepared = nil  // the held start's now: started, or discarded, by whoever has it
        handle.held.append(begunAttempt)
        if flushLater { return }
        // This begin's commit waited for its flush, which took the held begins before it to disk too: all start
        // now. Those lost with the server meanwhile are queued again, first: this loop launches them next.
        _ = try releaseHeld(handle)
    }

    /// Starts the held attempts, their begins now flushed; true when the database server lost some of them
    /// meanwhile (a reconnection since): those are discarded and their steps wait to be launched again.
    func releaseHeld(_ handle: RunHandle) throws -> Bool {
        let held = handle.held
        handle.held = []
        var lost = false
        var survivors = held
        // Until a round of looking and flushing goes without a reconnection: one during it may have lost what
        // it found.
        while survivors.contains(where: { $0.reconnections != recorder.reconnections }) {
            let round = recorder.reconnections
            handle.held = survivors  // discarded should this throw
            var found: [RunHandle.Held] = []
            for var attempt in survivors {
                let present = try durably("the start of step \(handle.keys[attempt.index])") { () throws -> Bool in
                    do {
                        _ = try recorder.attempt(stepID: handle.stepIDs[attempt.index], number: attempt.number)
                        return true
                    } catch is StateConflict {
                        return false
                    }
                }
                if present {
                    attempt.reconnections = round
                    found.append(attempt)
                } else {
                    handle.held.removeAll { $0.index == attempt.index }
                    discard(attempt.prepared)
                    handle.machine.unlaunched(attempt.index, from: attempt.from)
                    lost = true
                }
            }
            survivors = found
            // Those found may not be on disk yet (the connection went, not the server): flush them.
            try durably("the start of \(survivors.map { handle.keys[$0.index] }.joined(separator: ", "))") {
                try recorder.flushCommitted()
            }
            handle.held = []
        }
        for (n, attempt) in survivors.enumerated() {
            do {
                try start(attempt, of: handle)
            } catch {
                handle.held = Array(survivors[(n + 1)...])  // discarded by `launchReady`
                throw error
            }
        }
        return lost
    }

    /// Drops the held attempts unstarted (their engine is letting go of the run, or failing): they end unexec'd,
    /// recorded `starting`, as after a crash of their engine.
    func discardHeld(_ handle: RunHandle) {
        for attempt in handle.held {
            discard(attempt.prepared)
        }
        handle.held = []
    }

    /// Drops an attempt prepared and not started: its step ends unexec'd, and what was made for it goes.
    func discard(_ prepared: Result<PreparedAttempt, LaunchFailure>?) {
        if case .success(let unstarted)? = prepared { executor.discard(unstarted) }
    }

    /// Starts an attempt whose begin is on disk: its inputs pinned, its command released (or spawned).
    private func start(_ begun: RunHandle.Held, of handle: RunHandle) throws {
        let (index, attemptID, gpus, number, from, pins) =
            (begun.index, begun.attemptID, begun.gpus, begun.number, begun.from, begun.pins)
        let step = handle.plan.steps[index]
        var launch = begun.launch
        var prepared = begun.prepared
        defer { discard(prepared) }
        if let pins, let lineage = handle.lineage {
            lineage.inputs[index] = pins.inputs
            if !pins.inputs.isEmpty {
                try durably("the inputs of step \(step.key)") {
                    try lineage.records.pinInputs(attemptID: attemptID, pins.inputs)
                }
            }
        }
        if from == .retrying { handle.observer.stepChanged(step: step.key, from: .retrying, to: .running) }
        launch.environment = Self.withDevices(gpus, launch.environment)
        let viaShell = launch.viaShell
        do {
            let running: RunningAttempt
            if let ready = prepared {
                prepared = nil  // started, or failed to: not to be discarded
                running = try executor.start(ready.get())
            } else {
                running = try executor.start(launch)
            }
            handle.active[index] = RunHandle.Active(
                attemptID: attemptID, number: number, launch: launch, running: running, limits: launch.limits,
                viaShell: viaShell, timeout: step.step.timeout,
                runningRecordDue: MonotonicClock.now() + options.runningRecordDelay)
            if options.runningRecordDelay <= 0 { try recordRunning(index, of: handle) }
            handle.observer.attemptStarted(step: step.key, attempt: number, pid: running.pid)
            emitAttemptEvent(
                "START", handle: handle, index: index, attemptID: attemptID, inputs: pins?.inputs ?? [], outputs: [])
        } catch let failure as LaunchFailure {
            let ending = AttemptOutcome.failedToStart(step: step.key, reason: failure.reason)
            try perform(
                handle.machine.attemptEnded(index, ending: ending, now: MonotonicClock.now()), on: handle,
                attemptIDs: [index: attemptID])
        }
    }

    /// The environment with `CUDA_VISIBLE_DEVICES` naming `gpus` (empty: none).
    static func withDevices(_ gpus: [Int], _ environment: [String]) -> [String] {
        environment.filter { !$0.hasPrefix("CUDA_VISIBLE_DEVICES=") }
            + ["CUDA_VISIBLE_DEVICES=" + gpus.map(String.init).joined(separator: ",")]
    }

    /// Records that an attempt runs (its pid and the executor's handle), if that is not recorded yet.
    ///
    /// Until then the attempt is `starting` in the database, as between its spawn and this write in any case:
    /// should this engine die, recovery finds the attempt through its watcher's status file.
    func recordRunning(_ index: Int, of handle: RunHandle) throws {
        guard let attempt = handle.active[index], attempt.runningRecordDue != nil else { return }
        try Phases.measure("running: the attempt's pid recorded (SQL)") {
            try durably("the pid of step \(handle.keys[index])") {
                try recorder.attemptRunning(
                    runID: handle.runID, stepID: handle.stepIDs[index], attemptID: attempt.attemptID,
                    pid: attempt.running.pid, externalID: attempt.running.externalID,
                    executorState: Self.encode(attempt.running.record))
            }
        }
        handle.active[index]?.runningRecordDue = nil
    }

    /// Records running the attempts that have run past their delay (`now` nil: all of them).
    func recordDueRunning(now: Double?) throws {
        for id in order {
            guard let handle = runs[id] else { continue }
            for (index, attempt) in handle.active.sorted(by: { $0.key < $1.key }) {
                guard let due = attempt.runningRecordDue, now.map({ due <= $0 }) ?? true else { continue }
                try recordRunning(index, of: handle)
            }
        }
    }

    /// Looks at every running attempt that may have ended, and concludes those that did.
    func reapEverywhere() throws {
        for id in order {
            guard let handle = runs[id] else { continue }
            for (index, attempt) in handle.active.sorted(by: { $0.key < $1.key }) {
                let polled = MonotonicClock.now()
                guard let exit = executor.poll(attempt.running) else { continue }
                Phases.add("step: runs, until the engine reads its end", seconds: polled - attempt.since)
                Phases.add(
                    "collect: status file, cgroup usage (the cgroup kept or removed once the next step has started)",
                    seconds: MonotonicClock.now() - polled)
                try Phases.measure("conclude: the ending decided, recorded or queued, shown") {
                    try conclude(index, of: handle, exit: exit)
                }
            }
            if let handler = handle.activeHandler, let exit = executor.poll(handler.running) {
                try concludeHandler(handle, handler, exit: exit)
            }
        }
    }

    /// Records how an attempt ended and what follows from it.
    func conclude(_ index: Int, of handle: RunHandle, exit: AttemptExit) throws {
        guard let attempt = handle.active.removeValue(forKey: index) else { return }
        let step = handle.plan.steps[index]
        var ending = AttemptOutcome.ending(
            step: step.key, exit: exit, limits: attempt.limits, viaShell: attempt.viaShell, timeout: attempt.timeout)
        // Found late (its engine died, or this one was away): dated when it ended. A live ending keeps the time
        // it is recorded at, which never comes before the start recorded for it.
        ending.endedSecondsAgo = exit.endedAt.map { Date().timeIntervalSince1970 - $0 }.flatMap { $0 > 1 ? $0 : nil }
        if let bytes = exit.outputBytes {
            let parsed = StepLauncher.parseOutputs(bytes)
            ending.outputs = parsed.outputs
            ending.warnings = parsed.warnings
        }
        let data = try concludeLineage(index, of: handle, attemptID: attempt.attemptID, ending: &ending)
        if !ending.succeeded, exit.stop == "cancel",
            let signal = interrupted ?? (handle.machine.cancelling ? SIGTERM : nil)
        {
            ending.message =
                "step \(step.key) was stopped: the run was cancelled (\(AttemptOutcome.signalName(signal)))"
        }
        emitAttemptEvent(
            Self.openLineageEnd(succeeded: ending.succeeded, cancelled: exit.stop == "cancel"), handle: handle,
            index: index, attemptID: attempt.attemptID, inputs: data.inputs, outputs: data.outputs,
            message: ending.succeeded
                ? nil : ending.message ?? "attempt \(attempt.number) ended \(ending.state.rawValue)")
        // A start not recorded yet is recorded by the ending's statement.
        let started = attempt.runningRecordDue.map { _ in
            AttemptStart(
                pid: attempt.running.pid, externalID: attempt.running.externalID,
                executorState: Self.encode(attempt.running.record),
                // Adopted after its end: the engine never saw it start; its run time dates it instead.
                secondsAgo: attempt.launch == nil ? nil : MonotonicClock.now() - attempt.since)
        }
        try perform(
            handle.machine.attemptEnded(index, ending: ending, now: MonotonicClock.now()), on: handle,
            attemptIDs: [index: attempt.attemptID], starts: started.map { [index: $0] } ?? [:])
        executor.release(attempt.running)
    }

    /// Performs what a run's machine decided: records, stops, the run's end.
    func perform(
        _ actions: [RunMachine.Action], on handle: RunHandle, attemptIDs: [Int: Int64] = [:],
        starts: [Int: AttemptStart] = [:]
    ) throws {
        for action in actions {
            switch action {
            case .record(let changes):
                let stepChanges = changes.map {
                    StepChange(
                        id: handle.stepIDs[$0.step], from: $0.from, to: $0.to, message: $0.message,
                        retryDelay: $0.retryDelay)
                }
                try durably("step changes of run \(handle.runID)") {
                    try recorder.changeSteps(runID: handle.runID, stepChanges)
                }
                for change in changes {
                    if change.to.isTerminal { handle.remember(change.step, change.to, outputs: nil) }
                    handle.observer.stepChanged(step: handle.keys[change.step], from: change.from, to: change.to)
                }
            case .recordEnd(let step, let number, let ending, let changes):
                let stepChanges = changes.map {
                    StepChange(
                        id: handle.stepIDs[$0.step], from: $0.from, to: $0.to,
                        exitCode: $0.step == step ? ending.exitCode : nil, message: $0.message,
                        retryDelay: $0.retryDelay)
                }
                guard let attemptID = attemptIDs[step] else { continue }
                // A step made ready, or one already waiting for the slot this ending frees, starts next: this
                // ending goes with that start's statement, in its round trip and its commit (concurrent steps
                // share flushes this way). Should the start not come, it is sent at the end of the turn; should
                // the engine die first, the watcher's status file still holds the ending (docs/architecture.md).
                let startsNext = stepChanges.contains { $0.to == .ready } || handle.machine.nextToLaunch() != nil
                let record = { (withNext: Bool) in
                    try self.recorder.endAttempt(
                        runID: handle.runID, stepID: handle.stepIDs[step], attemptID: attemptID, ending: ending,
                        stepChanges: stepChanges, withNext: withNext, started: starts[step], costLater: true)
                }
                try Phases.measure("end: the attempt's end and step changes recorded, or queued for the next begin") {
                    if startsNext {
                        try record(true)  // queued: nothing to retry
                    } else {
                        try durably("the end of attempt \(number) of step \(handle.keys[step])") { try record(false) }
                    }
                }
                costPending.append((attemptID, handle.runID))
                if costDue == nil { costDue = MonotonicClock.now() + Self.costDelay }
                let final = changes.first { $0.step == step }?.to ?? .failed
                if final.isTerminal { handle.remember(step, final, outputs: ending.outputs) }
                handle.observer.attemptEnded(step: handle.keys[step], attempt: number, ending: ending, stepState: final)
                for change in changes where change.step != step {
                    if change.to.isTerminal { handle.remember(change.step, change.to, outputs: nil) }
                    handle.observer.stepChanged(step: handle.keys[change.step], from: change.from, to: change.to)
                }
            case .stopRunning(let now):
                for attempt in handle.active.values { executor.stop(attempt.running, now: now) }
            case .finish(let state):
                handle.outcome = state
                if state == .cancelled || handle.machine.cancelling {
                    handle.handlers = []
                } else {
                    handle.handlerKind = state == .succeeded ? "on_success" : "on_failure"
                    handle.handlers =
                        state == .succeeded ? handle.plan.onSuccess : (state == .failed ? handle.plan.onFailure : [])
                    handle.nextHandler = try recorder.handlerCount(runID: handle.runID, kind: handle.handlerKind)
                }
            }
        }
    }

    /// What a turn does once it has started what it could, before it waits: the endings no start carried are
    /// sent, then the cgroups of ended attempts removed and the ended attempts costed when due, while the new
    /// steps run.
    func beforeWaiting() throws {
        try sendQueuedEndings()
        Phases.measure("tidy: the cgroups of ended attempts kept for reuse or removed") { executor.tidy() }
        costEndings(now: MonotonicClock.now())
    }

    /// Sends the endings queued to go with a start that did not come in this turn.
    func sendQueuedEndings() throws {
        guard store.connection.hasQueued else { return }
        try durably("the end of an attempt") { try recorder.sendQueued() }
    }

    /// Costs the ended attempts waiting for it, in one statement, once `costBatch` of them wait or the oldest
    /// has waited `costDelay` (`now` nil: at once). A batch costs a fraction of what as many statements of one
    /// attempt would (measured: 0.05 against 0.3 ms of server time per attempt), and it runs while the next
    /// steps do. Should it fail, or the engine stop first, the run's end costs them (`finishRun`).
    func costEndings(now: Double?) {
        guard !costPending.isEmpty else { return }
        if let now, let due = costDue, now < due, costPending.count < Self.costBatch { return }
        try? recorder.costAttempts(costPending.map(\.attempt))
        costPending = []
        costDue = nil
    }

    /// Records the run's end once its handlers are done.
    func finishRun(_ handle: RunHandle) throws {
        guard let state = handle.outcome, !handle.done else { return }
        if let lineage = handle.lineage, lineage.versioner.hasher.bytesHashed > 0 {
            try durably("the bytes hashed by run \(handle.runID)") {
                try lineage.records.addBytesHashed(runID: handle.runID, lineage.versioner.hasher.bytesHashed)
            }
        }
        try durably("the end of run \(handle.runID)") { try recorder.finishRun(runID: handle.runID, state: state) }
        costPending.removeAll { $0.run == handle.runID }  // costed by the run's end
        if costPending.isEmpty { costDue = nil }
        emitRunEvent(
            Self.openLineageEnd(succeeded: state == .succeeded, cancelled: state == .cancelled), handle: handle,
            message: state == .failed ? "run \(handle.runID) of \(handle.plan.spec.name) failed" : nil)
        handle.done = true
        handle.observer.runFinished(runID: handle.runID, state: state)
        runs.removeValue(forKey: handle.runID)
        finished.append(RunResult(runID: handle.runID, state: state, interruptedBy: handle.interruptedBy))
    }
}

extension StepRequest {
    /// True when the request fits in `capacity` at all.
    func fits(_ capacity: HostCapacity) -> Bool {
        millicores <= Int((capacity.cpus * 1000).rounded(.down)) && memoryBytes <= capacity.memoryBytes
            && gpus <= capacity.gpus
    }
}
