import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceModel
import SluiceSpec
import SluiceStore

/// Finds the runs whose engine is gone (killed, crashed, stopped) and takes them over.
///
/// An engine is gone when it stopped, when it ran on this host and its process is no more (the pid is dead
/// or belongs to a later process), or when its heartbeat is older than the lease (`Schedulers.leaseSeconds`).
/// A run of another host is taken over only when none of its attempts is still recorded as live: those
/// processes and logs are on that host.
public enum Recovery {
    /// Runs now owned by `engine` that were taken over from engines that are gone (or only run `only`), resumed.
    /// Each one's attempts are adopted: still running ones are watched, ended ones recorded as they ended,
    /// and ones gone without a word recorded `lost` and retried per their policy.
    @discardableResult
    public static func takeOver(
        engine: Engine, store: Store, only: Int64? = nil, logRoot: (String) -> String,
        observer: (Int64, String) -> RunObserver
    ) throws -> [Int64] {
        let queue = RunQueue(store: store)
        let schedulers = Schedulers(store: store)
        let host = engine.options.host
        var candidates: [(run: Int64, from: Int64?)] = []
        for owner in try schedulers.ownersOfRunningRuns(except: engine.ownerID) where isGone(owner, host: host) {
            for run in try queue.running(ownedBy: owner.id) {
                if owner.host != host, try hasLiveAttempts(run, store: store) { continue }
                candidates.append((run, owner.id))
            }
        }
        for (run, pid) in try queue.unleasedRunning(host: host) where kill(pid, 0) != 0 {
            candidates.append((run, nil))
        }
        var taken: [Int64] = []
        for (run, previous) in candidates where engine.runs[run] == nil && (only == nil || only == run) {
            guard try queue.takeOver(runID: run, from: previous, to: engine.ownerID) else { continue }
            if try resume(run, engine: engine, store: store, logRoot: logRoot, observer: observer) { taken.append(run) }
        }
        return taken
    }

    /// Runs the engine owns but does not drive (their start was cut short by a database error), resumed.
    @discardableResult
    public static func resumeOwn(
        engine: Engine, store: Store, logRoot: (String) -> String, observer: (Int64, String) -> RunObserver
    ) throws -> [Int64] {
        try RunQueue(store: store).running(ownedBy: engine.ownerID).filter { engine.runs[$0] == nil }.filter {
            try resume($0, engine: engine, store: store, logRoot: logRoot, observer: observer)
        }
    }

    /// Starts driving a running run from its rows; a run that cannot be resumed is ended, saying why.
    private static func resume(
        _ run: Int64, engine: Engine, store: Store, logRoot: (String) -> String,
        observer: (Int64, String) -> RunObserver
    ) throws -> Bool {
        guard let claimed = try RunQueue(store: store).claimed(run) else { return false }
        do {
            let plan = try RecordedVersion.plan(claimed, catalog: DagCatalog(store: store))
            try engine.start(
                claimed, plan: plan, observer: observer(run, claimed.dag),
                logRoot: claimed.logRoot ?? logRoot(claimed.dag))
            return true
        } catch let error as DatabaseError where error.isTransient {
            throw error  // tried again on the next look
        } catch {
            try RunRecorder(store: store).abandonRun(
                runID: run, message: "it could not be resumed after its engine stopped: \(error)")
            return false
        }
    }

    /// Cancels the runs of `sluice run` processes killed while they waited for their DAG's slot: such a run never
    /// started, and nobody else may start it (the user stopped it), so it is not left queued.
    static func cancelAbandonedRuns(store: Store, host: String) throws {
        for gone in try Schedulers(store: store).reservingQueuedRuns().filter({ isGone($0, host: host) }) {
            _ = try RunQueue(store: store).cancelAbandoned(
                reservedBy: gone.id,
                because: "its sluice run (pid \(gone.pid) on \(gone.host)) ended while the run waited for its slot")
        }
    }

    /// True when the engine that owns runs is gone.
    static func isGone(_ owner: SchedulerRow, host: String) -> Bool {
        if owner.stopped { return true }
        if owner.host == host {
            guard kill(owner.pid, 0) == 0 else { return true }
            if let start = owner.pidStart, ProcessIdentity.startTime(owner.pid) != start { return true }
            return false
        }
        return owner.heartbeatAge > Schedulers.leaseSeconds
    }

    private static func hasLiveAttempts(_ run: Int64, store: Store) throws -> Bool {
        !(try RunRows(store: store).liveAttempts(runID: run)).isEmpty
    }

    /// What a command does for runs whose engine is gone when no service on this host will take them:
    /// records the attempts that ended while nobody watched, and ends the run (`failed`, saying why) once
    /// nothing of it runs any more. Runs with attempts still running are left for a service or a later look.
    /// `compose` makes the engine's parts, only when there is something to sweep.
    public static func sweep(store: Store, host: String = RunOptions.hostName(), compose: () -> EngineSetup) throws {
        let schedulers = Schedulers(store: store)
        try cancelAbandonedRuns(store: store, host: host)
        let owners = try schedulers.ownersOfRunningRuns(except: -1).filter { isGone($0, host: host) }
        let unleased = try RunQueue(store: store).unleasedRunning(host: host).filter { kill($0.pid, 0) != 0 }
        if owners.isEmpty && unleased.isEmpty { return }
        // Nothing to record while every attempt of those runs is still watched: look again later, without
        // registering an engine for nothing (a `watch sluice status` would otherwise make one a second).
        let queue = RunQueue(store: store)
        let rows = RunRows(store: store)
        var runs = unleased.map(\.run)
        for owner in owners { runs += try queue.running(ownedBy: owner.id) }
        let stillWatched = try runs.allSatisfy { run in
            let attempts = try rows.liveAttempts(runID: run)
            return !attempts.isEmpty
                && attempts.allSatisfy { attempt in
                    attempt.externalID.map(LocalExecutor.watcherIsAlive) ?? false
                }
        }
        if stillWatched { return }
        let live = try schedulers.live()
        if live.contains(where: { $0.kind == "service" && $0.host == host && !isGone($0, host: host) }) {
            return  // a service here adopts them
        }
        let setup = compose()
        let engine = try Engine.recordingOnly(store: store, setup: setup)
        defer { engine.retire() }
        let taken = try takeOver(
            engine: engine, store: store, logRoot: { _ in setup.options.logRoot },
            observer: { _, _ in SilentObserver() })
        // Give what ended a turn to be recorded, then end the runs with nothing left running.
        _ = try engine.turn(waitAtMost: 0)
        let recorder = RunRecorder(store: store)
        for run in taken {
            guard let handle = engine.runs[run], !handle.isBusy else { continue }
            if let outcome = handle.outcome {
                try recorder.finishRun(
                    runID: run, state: outcome,
                    message: "recorded after its sluice process ended; its handlers did not run")
            } else {
                try recorder.abandonRun(
                    runID: run,
                    message:
                        "its sluice process ended before the run did; what had not run was cancelled (start it again with: sluice retry \(run))"
                )
            }
        }
        // Runs with attempts still running stay running; a service, or a later command, takes them.
        engine.runs.removeAll()
        // The runs just ended may have left empty cgroups (their engine was killed): under the default parent
        // (this sweep does not read sluice.yaml), else the database's next `sluice run` or service removes them.
        if !taken.isEmpty { engine.removeLeftoverCgroups() }
    }
}

/// An observer that says nothing (a recovery sweep records, it does not show).
public final class SilentObserver: RunObserver {
    /// Creates one.
    public init() {}
    /// Says nothing.
    public func runStarted(runID: Int64, dag: String, steps: [String]) {}
    /// Says nothing.
    public func stepChanged(step: String, from: StepState, to: StepState) {}
    /// Says nothing.
    public func attemptStarted(step: String, attempt: Int, pid: Int32) {}
    /// Says nothing.
    public func attemptEnded(step: String, attempt: Int, ending: AttemptEnding, stepState: StepState) {}
    /// Says nothing.
    public func cancelling(signal: Int32) {}
    /// Says nothing.
    public func tick() {}
    /// Says nothing.
    public func handlerStarted(name: String, pid: Int32) {}
    /// Says nothing.
    public func handlerEnded(name: String, ending: AttemptEnding, state: StepState) {}
    /// Says nothing.
    public func databaseUnavailable(_ message: String) {}
    /// Says nothing.
    public func databaseRecovered(after seconds: Double) {}
    /// Says nothing.
    public func runFinished(runID: Int64, state: RunState) {}
}
