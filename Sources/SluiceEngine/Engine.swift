import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceHost
import SluiceLineage
import SluiceModel
import SluiceSpec
import SluiceStore

/// Drives runs to their end: one loop for every run this process owns, for `sluice run` (one run) and for
/// `sluice serve` (many). A run's logic is its `RunMachine`; the engine performs what the machines decide.
///
/// Every change is committed before it is acted on or shown: a step is recorded `running` with a `starting`
/// attempt (admitted against the whole host's capacity, in the same statement) before its watcher starts it,
/// and an attempt's ending is committed with the downstream changes it causes before anything else starts.
/// Attempts are watched by `sluice-shim` processes, so they outlive this process; an engine that stops (or
/// dies) leaves them running, and the next engine on the host adopts them (`resume`).
public final class Engine {
    /// This engine's id in the database: the owner of the runs it drives.
    public let ownerID: Int64
    let store: Store
    let recorder: RunRecorder
    let queue: RunQueue
    let rows: RunRows
    let schedulers: Schedulers
    let executor: any Executor
    /// Where OpenLineage events go, when a sink is configured.
    let openLineage: OpenLineageEmitter?
    /// This database's id, for OpenLineage run ids.
    let installation: String
    /// How runs are driven (the per-run log root is set when a run is started).
    public var options: RunOptions
    let listener: Listener
    let wake: WakePipe
    var signalFD: Int32?
    var runs: [Int64: RunHandle] = [:]
    /// Order runs were started in, so launches are fair between them.
    var order: [Int64] = []
    var finished: [RunResult] = []
    /// Attempts whose end is recorded and whose costing waits (`costEndings`), with their runs.
    var costPending: [(attempt: Int64, run: Int64)] = []
    /// When the oldest of `costPending` is costed at the latest.
    var costDue: Double?
    /// Most seconds an ended attempt waits to be costed while its run goes on.
    static let costDelay = 1.0
    /// As many ended attempts are costed at once, sooner than `costDelay`.
    static let costBatch = 64
    /// SIGINT/SIGTERM received and not acted on yet (a write was being retried).
    var pendingSignals: [Int32] = []
    /// True after the first SIGINT/SIGTERM: every run is being cancelled.
    var interrupted: Int32?
    /// True when the last admission found the host full: launches wait for freed capacity.
    var capacityFull = false
    var capacityRetryAt = 0.0
    /// When an admission last found the host full: for a second after, attempts are not set up ahead of their
    /// admission (one that is refused would be set up and dropped for nothing).
    var capacityMissedAt = -Double.infinity
    var nextHeartbeat = 0.0
    /// True when the database refused a launch because the lease was too old: nothing starts until a heartbeat.
    var leaseStale = false
    var stopping = false
    /// False for an engine that only records what ended (a command's recovery sweep): nothing new starts.
    public var launches = true
    /// Set when a notification arrived (a run queued, a DAG paused, the listener reconnected): a service
    /// looks at the queue again. Cleared by whoever acts on it.
    public var heardSomething = false

    /// Seconds between heartbeats (the lease is `Schedulers.leaseSeconds`).
    static let heartbeatInterval = 5.0

    /// An engine on `store`, registered as `kind` (`foreground` or `service`).
    public init(store: Store, executor: any Executor, options: RunOptions, kind: String) throws {
        self.store = store
        recorder = RunRecorder(store: store)
        queue = RunQueue(store: store)
        rows = RunRows(store: store)
        schedulers = Schedulers(store: store)
        self.executor = executor
        self.options = options
        openLineage = options.openLineage.map { OpenLineageEmitter(config: $0) }
        installation = options.openLineage == nil ? "" : try LineageRecords(store: store).installationID()
        wake = try WakePipe()
        listener = Listener(store: store, channels: [RunQueue.channel, RunQueue.capacityChannel])
        ownerID = try schedulers.register(
            kind: kind, host: options.host, pid: getpid(), pidStart: ProcessIdentity.startTime(getpid()))
        nextHeartbeat = MonotonicClock.now() + Self.heartbeatInterval
        if options.handleSignals { signalFD = try SignalPipe.install() }
        _ = listener.drain()  // listening from the start: a run queued now wakes the first wait
    }

    deinit {
        if signalFD != nil { SignalPipe.restoreDefaults() }
    }

    /// An engine for a command that only records and stops what others left (a recovery sweep, a cancel):
    /// it starts nothing, handles no signal, and must be `retire`d when done.
    public static func recordingOnly(store: Store, setup: EngineSetup) throws -> Engine {
        var options = setup.options
        options.handleSignals = false
        let engine = try Engine(store: store, executor: setup.executor, options: options, kind: "foreground")
        engine.launches = false
        return engine
    }

    /// Removes the empty attempt cgroups that engines now gone left behind for runs of this database that have
    /// ended (a killed engine's removals put off until after its next start, the cgroups of attempts adopted
    /// without one on record); returns how many. Best effort: a failure leaves them for the next engine.
    @discardableResult
    public func removeLeftoverCgroups() -> Int {
        guard let tag = cgroupTag else { return 0 }
        return (try? executor.removeLeftoverCgroups(tag: tag) { try recorder.endedRuns($0) }) ?? 0
    }

    /// What this database's attempt cgroups are named with (`run<id>-<step>.<attempt>-<tag>-<pid>-<n>`), so
    /// that an engine never takes another database's runs for its own: run ids repeat across databases, and
    /// projects on one host share the cgroup parent. Nil when the database could not say.
    public private(set) lazy var cgroupTag: String? = (try? LineageRecords(store: store).cgroupTag()) ?? nil

    /// Marks this engine stopped in the database: what it still owns may be taken over at once.
    public func retire() {
        // One try, not `durably`: a retire after the database was given up on must not wait for it again. An
        // ending not sent stays in its watcher's status file for the next engine.
        try? recorder.sendQueued()
        costEndings(now: nil)
        executor.drain()  // the cgroups kept for reuse, and those of attempts collected outside a turn
        if launches { removeLeftoverCgroups() }  // of runs that ended while this engine ran
        try? schedulers.stop(ownerID)
        listener.close()
    }

    /// The database can no longer record these runs: stops their processes rather than let them run
    /// unrecorded (SIGTERM, SIGKILL after the grace period), and waits until they are gone.
    public func abandon() {
        var attempts: [RunningAttempt] = []
        for handle in runs.values {
            attempts += handle.active.values.map(\.running)
            if let handler = handle.activeHandler { attempts.append(handler.running) }
        }
        for attempt in attempts { executor.stop(attempt, now: false) }
        let deadline = MonotonicClock.now() + options.gracePeriod + 5
        var left = attempts
        while !left.isEmpty && MonotonicClock.now() < deadline {
            left = left.filter { executor.poll($0) == nil }
            if !left.isEmpty {
                _ = Poller.wait(left.compactMap(\.waitFD), timeout: left.allSatisfy { $0.waitFD != nil } ? 1 : 0.05)
            }
        }
        for attempt in left { executor.stop(attempt, now: true) }
        runs.removeAll()
    }

    /// Waits `seconds` (or until `shutdown`) without acting on anything: the database is away.
    public func pause(seconds: Double) {
        let readable = Poller.wait([wake.readFD], timeout: seconds)
        if !readable.isEmpty { pendingSignals += Poller.drain(wake.readFD).map(Int32.init).filter { $0 != 0 } }
    }

    /// Lets go of a run without driving it further (another engine, or a later look, takes it).
    public func release(runID: Int64) { runs.removeValue(forKey: runID) }

    /// Asks every run to stop, from any thread, as a SIGTERM to this process would.
    public func cancelAll(signal: Int32 = SIGTERM) { wake.wake(UInt8(truncatingIfNeeded: signal)) }

    /// Asks the loop to return without touching what runs (a graceful shutdown: attempts go on).
    public func shutdown() {
        stopping = true
        wake.wake(0)
    }

    /// Waits up to `seconds` for queued OpenLineage events to be delivered; returns the delivery problems
    /// met since the last call (for the caller to show; they never fail a run).
    public func flushLineageEvents(within seconds: Double) -> [String] {
        openLineage?.drain(within: seconds) ?? []
    }

    /// Runs driven now.
    public var activeRunIDs: [Int64] { order.filter { runs[$0] != nil } }

    /// True when no run is driven.
    public var isIdle: Bool { runs.isEmpty }

    /// Runs until every run ended (or `shutdown`); returns how each ended.
    public func runUntilIdle(extraWake: Double? = nil) throws -> [RunResult] {
        var results: [RunResult] = []
        while !runs.isEmpty && !stopping {
            results += try turn(waitAtMost: extraWake)
        }
        return results
    }

    /// One turn of the loop: start what may start, wait for something to happen (at most `waitAtMost`
    /// seconds, or until `extraFDs` become readable), act on it. Returns the runs that ended in it.
    @discardableResult
    public func turn(waitAtMost: Double? = nil, extraFDs: [Int32] = []) throws -> [RunResult] {
        try launchEverywhere()
        try beforeWaiting()
        var results = finished
        finished = []
        if stopping {
            // What runs goes on under its watchers for the next engine: record the starts not recorded yet.
            try? recordDueRunning(now: nil)
            return results
        }
        let now = MonotonicClock.now()
        var timers: [Double] = [nextHeartbeat]
        if let waitAtMost { timers.append(now + waitAtMost) }
        if capacityFull { timers.append(capacityRetryAt) }
        if let costDue { timers.append(costDue) }
        for handle in runs.values {
            if let due = handle.machine.nextWake { timers.append(due) }
            timers += handle.active.values.compactMap(\.runningRecordDue)
        }
        if let tick = options.tickInterval { timers.append(now + tick) }
        var timeout = timers.min().map { max(0, $0 - now) }
        var exitFDs: [Int32] = []
        var polling = false
        for handle in runs.values {
            for attempt in handle.active.values {
                if let fd = attempt.running.waitFD { exitFDs.append(fd) } else { polling = true }
            }
            if let handler = handle.activeHandler {
                if let fd = handler.running.waitFD { exitFDs.append(fd) } else { polling = true }
            }
        }
        if polling { timeout = min(timeout ?? 0.05, 0.05) }
        if !pendingSignals.isEmpty { timeout = 0 }
        let wakers = [wake.readFD] + (signalFD.map { [$0] } ?? []) + (listener.descriptor.map { [$0] } ?? [])
        let readable = Poller.wait(wakers + exitFDs + extraFDs, timeout: timeout)
        var signals = pendingSignals
        pendingSignals = []
        for fd in [wake.readFD] + (signalFD.map { [$0] } ?? []) where readable.contains(fd) {
            signals += Poller.drain(fd).map(Int32.init)
        }
        if let interrupt = signals.first(where: { $0 == SIGINT || $0 == SIGTERM }) { try interruptAll(interrupt) }
        if listener.descriptor.map(readable.contains) ?? true { try hearNotifications() }
        try reapEverywhere()
        let after = MonotonicClock.now()
        try recordDueRunning(now: after)
        for handle in runs.values { handle.machine.tick(now: after) }
        if capacityFull && after >= capacityRetryAt { capacityFull = false }
        if after >= nextHeartbeat {
            try sendQueuedEndings()  // not with the heartbeat, whose failure is only retried later
            renewLease(now: after)
        }
        if let interval = options.tickInterval, interval > 0 { for handle in runs.values { handle.observer.tick() } }
        try launchEverywhere()
        try beforeWaiting()
        results += finished
        finished = []
        return results
    }

    /// Renews this engine's lease; lets go of the runs another engine took over while it could not (the
    /// database was away longer than the lease). Their attempts are that engine's to watch now.
    func renewLease(now: Double) {
        nextHeartbeat = now + Self.heartbeatInterval
        guard let lost = try? schedulers.heartbeat(ownerID, runs: Array(runs.keys)) else { return }
        leaseStale = false
        if launches { removeLeftoverCgroups() }  // a long-lived engine: those of runs that ended since it began
        for id in lost {
            runs[id]?.observer.databaseUnavailable("run \(id) was taken over by another engine; this one lets go of it")
            release(runID: id)
        }
    }

    /// SIGINT/SIGTERM: the first cancels every run (running steps get SIGTERM, SIGKILL after the grace
    /// period; handlers likewise); the next kills what still runs at once.
    func interruptAll(_ signal: Int32) throws {
        if interrupted == nil {
            interrupted = signal
            for id in activeRunIDs { try cancel(runID: id, signal: signal) }
        } else {
            for handle in runs.values {
                for attempt in handle.active.values { executor.stop(attempt.running, now: true) }
                if let handler = handle.activeHandler { executor.stop(handler.running, now: true) }
            }
        }
    }

    /// Cancels one run (a `sluice cancel`, or a signal): nothing new starts, what runs is stopped.
    public func cancel(runID: Int64, signal: Int32? = nil) throws {
        guard let handle = runs[runID] else { return }
        if let signal { handle.observer.cancelling(signal: signal) }
        if handle.outcome != nil {
            // In its handlers: stop the one running and skip the rest.
            handle.interruptedBy = handle.interruptedBy ?? signal ?? SIGTERM
            if let handler = handle.activeHandler { executor.stop(handler.running, now: false) }
            return
        }
        try perform(handle.machine.cancel(), on: handle)
    }

    /// Notifications: cancel requests for runs driven here, freed capacity.
    func hearNotifications() throws {
        let (notes, resynced) = listener.drain()
        if resynced || notes.contains(where: { $0.channel == RunQueue.channel }) { heardSomething = true }
        if resynced || notes.contains(where: { $0.channel == RunQueue.capacityChannel }) { capacityFull = false }
        if resynced || notes.contains(where: { $0.channel == RunQueue.channel && $0.payload.hasPrefix("cancel") }) {
            for id in try durably("cancel requests", { try queue.cancelRequests(ownedBy: ownerID) }) {
                if let handle = runs[id], !handle.machine.cancelling, handle.outcome == nil {
                    try cancel(runID: id, signal: nil)
                }
            }
        }
    }
}
