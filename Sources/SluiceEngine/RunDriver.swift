import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceHost
import SluiceModel
import SluiceSpec
import SluiceStore

/// Runs one DAG now, in the foreground, through the same engine as the service: the version is recorded,
/// the run queued (`manual`) and claimed (waiting while its DAG has `max_active_runs` runs going), then
/// driven to its end.
public final class RunDriver {
    private let store: Store
    private let observer: RunObserver
    private let engine: Engine
    private let queue: RunQueue

    /// A driver that records into `store` and reports to `observer`.
    public init(
        store: Store, executor: any Executor = LocalExecutor(), observer: RunObserver, options: RunOptions
    ) throws {
        self.store = store
        self.observer = observer
        engine = try Engine(store: store, executor: executor, options: options, kind: "foreground")
        queue = RunQueue(store: store)
        engine.removeLeftoverCgroups()
    }

    deinit { engine.retire() }

    /// Cancels the run from any thread, as SIGTERM would: running steps get SIGTERM, then SIGKILL after the grace period.
    public func cancel(signal: Int32 = SIGTERM) { engine.cancelAll(signal: signal) }

    /// Plans `spec` with its parameters' defaults and today's logical date, then runs it.
    public func run(_ spec: DAGSpec) throws -> RunResult {
        try run(Planner.plan(spec, logicalDate: Planner.today(timezone: spec.timezone)))
    }

    /// Runs the plan until every step has ended or the run is cancelled.
    public func run(_ plan: RunPlan, triggeredBy user: String = UserIdentity.current.name) throws -> RunResult {
        let spec = plan.spec
        let recorder = RunRecorder(store: store)
        let versionID = try recorder.recordVersion(
            dag: spec.name, source: spec.source,
            templates: Dictionary(spec.includedSources.map { ($0.file, $0.source) }, uniquingKeysWith: { a, _ in a }),
            sourcePath: FileSystem.absolute(spec.file), maxActiveRuns: spec.maxActiveRuns)
        let params = plan.recordedParams
        guard
            let runID = try queue.enqueue(
                RunRequest(
                    versionID: versionID, params: params, logicalDate: plan.logicalDate, trigger: "manual",
                    triggeredBy: user),
                reservedBy: engine.ownerID)
        else { throw SystemError("internal error: the run was not queued") }
        guard let claimed = try claimWhenAllowed(runID: runID, dag: spec.name, limit: spec.maxActiveRuns) else {
            return RunResult(runID: runID, state: .cancelled, interruptedBy: engine.interrupted)
        }
        let results: [RunResult]
        do {
            try engine.start(claimed, plan: plan, observer: observer, logRoot: engine.options.logRoot)
            results = try engine.runUntilIdle()
            for problem in engine.flushLineageEvents(within: 5) { Terminal.printError("sluice: \(problem)") }
        } catch {
            engine.abandon()
            throw error
        }
        guard let result = results.first(where: { $0.runID == runID }) else {
            throw SystemError("internal error: run \(runID) did not end")
        }
        return RunResult(runID: runID, state: result.state, interruptedBy: result.interruptedBy ?? engine.interrupted)
    }

    /// Claims the queued run, waiting (and saying so once) while its DAG already has `limit` runs going.
    /// Returns nil when a signal cancelled it while it waited.
    /// A run holding the slot may be one whose `sluice` was killed: every few seconds the wait records what
    /// ended of such runs, as any command does when it starts, so that their slot frees once their steps end.
    private func claimWhenAllowed(runID: Int64, dag: String, limit: Int) throws -> ClaimedRun? {
        var told = false
        var nextSweep = MonotonicClock.now() + Engine.heartbeatInterval
        while true {
            if let claimed = try queue.claim(owner: engine.ownerID, runID: runID) { return claimed }
            if MonotonicClock.now() >= nextSweep {
                try? Recovery.sweep(store: store, host: engine.options.host) {
                    EngineSetup.compose(config: HostConfig(), logRoot: "/", runAs: nil)
                }
                nextSweep = MonotonicClock.now() + Engine.heartbeatInterval
                continue
            }
            if queue.stateOf(runID) == .cancelled { return nil }
            if !told {
                observer.waiting(
                    runID: runID,
                    reason:
                        "DAG \(dag) has \(limit) run\(limit == 1 ? "" : "s") going already (max_active_runs \(limit)); run \(runID) starts when one ends"
                )
                told = true
            }
            if let signal = engine.waitForChange(seconds: 1) {
                _ = try queue.requestCancel(runID: runID, by: UserIdentity.current.name)
                engine.interrupted = signal
                return nil
            }
        }
    }
}

extension RunQueue {
    /// The run's state, or nil when it cannot be read now.
    func stateOf(_ runID: Int64) -> RunState? { try? state(of: runID) }
}

extension Engine {
    /// Waits up to `seconds` for a notification; returns the signal when SIGINT/SIGTERM came instead.
    func waitForChange(seconds: Double) -> Int32? {
        let fds = [wake.readFD] + (signalFD.map { [$0] } ?? []) + (listener.descriptor.map { [$0] } ?? [])
        let readable = Poller.wait(fds, timeout: seconds)
        _ = listener.drain()
        for fd in [wake.readFD] + (signalFD.map { [$0] } ?? []) where readable.contains(fd) {
            if let signal = Poller.drain(fd).map(Int32.init).first(where: { $0 == SIGINT || $0 == SIGTERM }) {
                return signal
            }
        }
        return nil
    }
}
