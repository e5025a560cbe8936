import Foundation
import Logging
import SluiceBasics
import SluiceExecutor
import SluiceHost
import SluiceModel
import SluiceSpec
import SluiceStore
import Synchronization

/// `sluice serve`: serves a folder of DAGs. It loads every DAG (and reloads on change), queues scheduled runs
/// at their fire times, claims queued runs (scheduled, triggered, retried) and drives them with the same engine
/// as `sluice run`, and takes over the runs of engines that are gone.
public final class SchedulerService: @unchecked Sendable {
    /// What to serve, and how often to look around.
    public struct Settings: Sendable {
        /// The DAG folder.
        public var folder: String
        /// One pass: queue what is due, claim what may start, drive it to the end, exit.
        public var once: Bool
        /// Where each DAG's run logs go (`<logs>/<dag>/<run>`).
        public var logsRoot: String
        /// Seconds between two looks at the folder.
        public var scanInterval: Double = 2
        /// Seconds between two looks for runs whose engine is gone.
        public var recoveryInterval: Double = 5

        /// Settings for serving `folder`.
        public init(folder: String, once: Bool, logsRoot: String) {
            self.folder = folder
            self.once = once
            self.logsRoot = logsRoot
        }
    }

    let store: Store
    let engine: Engine
    let catalog: DagCatalog
    let queue: RunQueue
    let folder: DagFolder
    let settings: Settings
    let logger: Logger
    private let stopRequested = Atomic<Bool>(false)
    /// What the database says of each DAG (pause, schedule position), refreshed with the folder.
    private var entries: [String: DAGCatalogEntry] = [:]
    /// Each scheduled DAG's next fire time, so that a turn with nothing due does no calendar work.
    private var upcoming: [String: Upcoming] = [:]
    /// True once the service did work (start-up, a load, a run) since it last trimmed its resident code.
    private var worked = true

    /// A service on `store` with the engine parts `setup`.
    public init(store: Store, setup: EngineSetup, settings: Settings, logger: Logger) throws {
        self.store = store
        var options = setup.options
        options.handleSignals = false  // the service lifecycle owns SIGTERM/SIGINT
        options.databaseRetryLimit = .infinity  // steps run on under their watchers; the service waits it out
        engine = try Engine(store: store, executor: setup.executor, options: options, kind: "service")
        catalog = DagCatalog(store: store)
        queue = RunQueue(store: store)
        let required = options.requiredTags
        folder = DagFolder(root: settings.folder) { TagPolicy.check($0, required: required) }
        self.settings = settings
        self.logger = logger
    }

    /// Stops at the next turn: nothing new is admitted; running steps go on under their watchers.
    public func shutdown() {
        stopRequested.store(true, ordering: .relaxed)
        engine.shutdown()
    }

    /// Serves until `shutdown` (or, with `once`, until nothing is left to do).
    public func run() throws {
        logger.info(
            "serving \(folder.root)",
            metadata: ["engine": "\(engine.ownerID)", "pid": "\(getpid())", "host": "\(engine.options.host)"])
        let removed = engine.removeLeftoverCgroups()
        if removed > 0 { logger.info("removed \(removed) empty cgroups that killed engines left behind") }
        defer {
            for problem in engine.flushLineageEvents(within: 5) { logger.warning("\(problem)") }
            engine.retire()
            logger.info("stopped; running steps go on and are adopted by the next service")
        }
        var timers = Timers()
        var outage: (since: Double, delay: Double)?
        while !stopRequested.load(ordering: .relaxed) {
            do {
                if try !pass(&timers) { break }
                for problem in engine.flushLineageEvents(within: 0) { logger.warning("\(problem)") }
                if let (since, _) = outage {
                    logger.notice(
                        "the database is back after \(Units.formatDuration(MonotonicClock.now() - since)); recording resumes"
                    )
                    outage = nil
                }
            } catch let error as DatabaseError where error.isTransient {
                // Steps run on under their watchers; their ends are recorded once the database is back.
                let delay = outage.map { min($0.delay * 2, 30) } ?? 0.5
                if outage == nil {
                    logger.error(
                        "the database is unreachable: \(error.message); retrying with backoff (up to 30 s), and running steps keep running"
                    )
                }
                outage = (outage?.since ?? MonotonicClock.now(), delay)
                engine.pause(seconds: delay)
            }
        }
    }

    /// When the service looks around next (monotonic seconds).
    struct Timers {
        var scan = 0.0
        var recovery = 0.0
        var claim = 0.0
    }

    /// One pass of the loop: look at the folder, recover, schedule, claim, and one engine turn. False when
    /// a `--once` service has nothing left to do.
    private func pass(_ timers: inout Timers) throws -> Bool {
        let now = MonotonicClock.now()
        if now >= timers.scan {
            try scan()
            timers.scan = now + settings.scanInterval
        }
        if now >= timers.recovery {
            try recover()
            timers.recovery = now + settings.recoveryInterval
        }
        let nextFire = try schedule()
        var claimed = false
        if engine.heardSomething || now >= timers.claim {
            engine.heardSomething = false
            claimed = try claimAll()
            timers.claim = now + 2
        }
        if settings.once && engine.isIdle && !claimed && (nextFire.map { $0 > Date() } ?? true) {
            // Once: stop when nothing runs and nothing queued may start (a run that ended may free a slot).
            if try !claimAll() { return false }
        }
        let untilFire = nextFire.map { max(0, $0.timeIntervalSinceNow) }
        let waits = [timers.scan - now, timers.recovery - now, timers.claim - now] + (untilFire.map { [$0] } ?? [])
        if !engine.isIdle {
            worked = true
        } else if worked {
            // Idle again: the code that start-up, loading or the runs touched need not stay resident.
            WorkingSet.releaseCode()
            worked = false
        }
        try engine.turn(waitAtMost: max(0, waits.min() ?? 1))
        if !engine.isIdle { worked = true }
        return true
    }

    /// Reloads what changed in the folder and records it: versions, load errors, removals.
    private func scan() throws {
        do {
            try record(
                folder.rescan { spec in
                    try RunRecorder(store: store).recordVersion(
                        dag: spec.name, source: spec.source,
                        templates: Dictionary(
                            spec.includedSources.map { ($0.file, $0.source) }, uniquingKeysWith: { a, _ in a }),
                        sourcePath: FileSystem.absolute(spec.file), maxActiveRuns: spec.maxActiveRuns)
                })
        } catch {
            folder.invalidate()  // what was read but not recorded is read again on the next scan
            throw error
        }
        entries = Dictionary(try catalog.entries().map { ($0.dag, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Records what a rescan found: versions loaded, load errors, removals.
    private func record(_ changes: DagFolder.Changes) throws {
        let now = Date()
        if !changes.loaded.isEmpty { worked = true }
        for (file, spec) in changes.loaded {
            guard let loaded = folder.files[file] else { continue }
            try catalog.loaded(
                dag: spec.name, versionID: loaded.versionID, file: file, schedule: spec.schedule?.text,
                timezone: spec.timezone, catchup: spec.catchup, maxActiveRuns: spec.maxActiveRuns, now: now)
            logger.info(
                "loaded \(spec.name)", metadata: ["file": "\(file)", "version": "\(loaded.versionID)"])
        }
        for (file, dag, error) in changes.failed {
            try catalog.loadFailed(file: file, dag: dag, error: error)
            logger.error(
                "\(file) does not load\(dag.map { "; \($0) keeps its last good version" } ?? "")",
                metadata: ["problems": "\(error)"])
        }
        for (file, dag) in changes.removed {
            try catalog.removed(file: file, dag: dag)
            logger.info("\(file) was removed\(dag.map { "; the schedule of \($0) stops" } ?? "")")
        }
    }

    /// Queues the runs of every fire time that is due; returns the next fire time to wake for.
    ///
    /// With `catchup: true` every missed fire time since the last one queued is queued, oldest first (each
    /// starts within `max_active_runs`); with `catchup: false` only the latest. The database refuses a fire
    /// time queued before, by this service or another, whatever crashes happened in between.
    private func schedule() throws -> Date? {
        let now = Date()
        var earliest: Date?
        for (name, loaded) in folder.dags {
            guard let cron = loaded.spec.schedule, let entry = entries[name], !entry.paused, !entry.removed,
                let from = entry.scheduleFrom
            else { continue }
            let key = Upcoming.Key(version: loaded.versionID, from: from)
            if let cached = upcoming[name], cached.key == key, cached.next.map({ $0 > now }) ?? true {
                if let next = cached.next { earliest = min(earliest ?? next, next) }
                continue  // nothing due: no calendar work on this turn
            }
            let times = FireTimes(cron, timezone: loaded.spec.timezone)
            var due: [Date]
            if loaded.spec.catchup {
                due = times.between(after: from, upTo: now)  // at most 10,000 a pass; the rest on the next
            } else {
                due = times.latest(atOrBefore: now).map { $0 > from ? [$0] : [] } ?? []
            }
            for fire in due {
                let request = RunRequest(
                    versionID: loaded.versionID, params: [:], logicalDate: times.localDate(fire), trigger: "schedule",
                    triggeredBy: "scheduler", scheduledFor: fire, intervalEnd: times.next(after: fire))
                if let run = try catalog.enqueueFireTime(request) {
                    logger.info(
                        "queued run \(run) of \(name)",
                        metadata: ["scheduled_for": "\(RFC3339.string(fire))"])
                }
            }
            var moved = entry
            if let last = due.last {
                moved = entry.movingSchedule(to: last)
                entries[name] = moved
            }
            let next = times.next(after: max(now, due.last ?? now))
            upcoming[name] = Upcoming(
                key: Upcoming.Key(version: loaded.versionID, from: moved.scheduleFrom ?? from), next: next)
            if let next { earliest = min(earliest ?? next, next) }
        }
        return earliest
    }

    /// A DAG's next fire time, worked out once for its version and schedule position.
    struct Upcoming {
        struct Key: Equatable {
            let version: Int64
            let from: Date
        }
        let key: Key
        let next: Date?
    }

    /// Claims every queued run that may start, and starts driving it. True when one was claimed.
    private func claimAll() throws -> Bool {
        var any = false
        while let claimed = try queue.claim(owner: engine.ownerID) {
            any = true
            do {
                let plan = try RecordedVersion.plan(claimed, catalog: catalog)
                let tagProblems = TagPolicy.check(plan, required: engine.options.requiredTags)
                if !tagProblems.isEmpty { throw SpecError(tagProblems) }
                try engine.start(
                    claimed, plan: plan, observer: LoggingObserver(logger: logger, runID: claimed.id, dag: claimed.dag),
                    logRoot: settings.logsRoot + "/" + claimed.dag)
                logger.info("started run \(claimed.id) of \(claimed.dag)")
            } catch {
                logger.error("run \(claimed.id) of \(claimed.dag) cannot start: \(error)")
                try RunRecorder(store: store).abandonRun(runID: claimed.id, message: "it cannot start: \(error)")
            }
        }
        return any
    }

    /// Takes over the runs of engines that are gone, and resumes its own runs that it is not driving (a
    /// start cut short by the database going away).
    private func recover() throws {
        for run in try Recovery.resumeOwn(
            engine: engine, store: store, logRoot: { self.settings.logsRoot + "/" + $0 },
            observer: { LoggingObserver(logger: self.logger, runID: $0, dag: $1) })
        {
            logger.info("resumed run \(run), whose start was cut short")
        }
        let taken = try Recovery.takeOver(
            engine: engine, store: store, logRoot: { self.settings.logsRoot + "/" + $0 },
            observer: { LoggingObserver(logger: self.logger, runID: $0, dag: $1) })
        for run in taken { logger.info("took over run \(run): its engine is gone; its attempts were adopted") }
        try Recovery.cancelAbandonedRuns(store: store, host: engine.options.host)
    }
}

extension DAGCatalogEntry {
    /// The same entry with its schedule moved past `fire` (what the database did when it was queued).
    func movingSchedule(to fire: Date) -> DAGCatalogEntry {
        var moved = self
        moved.scheduleFrom = max(scheduleFrom ?? fire, fire)
        return moved
    }
}
