import Foundation
import SluiceBasics
import SluiceModel

/// Starts attempts somewhere (local processes; a cluster next) and tells how they ended.
///
/// Every attempt gets an external id that finds it again from another process: the engine records it, and
/// after a crash or a restart `adopt` turns it back into a running attempt, or into its recorded ending.
public protocol Executor: Sendable {
    /// What enforces limits on this host, for the records.
    var enforcementSummary: String { get }
    /// Starts an attempt; throws `LaunchFailure` when the command cannot start.
    func start(_ launch: AttemptLaunch) throws(LaunchFailure) -> RunningAttempt
    /// Makes an attempt ready to start without starting its command, so that its start can be recorded
    /// meanwhile; throws `LaunchFailure` when the command could not start.
    func prepare(_ launch: AttemptLaunch) throws(LaunchFailure) -> PreparedAttempt
    /// Starts a prepared attempt's command; throws `LaunchFailure` when it cannot start.
    func start(_ prepared: PreparedAttempt) throws(LaunchFailure) -> RunningAttempt
    /// Drops a prepared attempt without starting its command.
    func discard(_ prepared: PreparedAttempt)
    /// How the attempt ended, once it has; nil while it runs.
    func poll(_ attempt: RunningAttempt) -> AttemptExit?
    /// Stops the attempt: gracefully (SIGTERM, SIGKILL after its grace period) or at once.
    func stop(_ attempt: RunningAttempt, now: Bool)
    /// Finds an attempt started by another process (or an earlier one of this process) from what was recorded.
    func adopt(_ record: AttemptRecord) -> Adoption
    /// Forgets an attempt whose ending is recorded: its status file and private files go.
    func release(_ attempt: RunningAttempt)
    /// Does the clean-up put off until the engine has started what comes next (the emptied cgroups of the
    /// attempts already collected are made ready for the next attempts, or removed): the engine calls it
    /// before it waits.
    func tidy()
    /// Removes what it keeps for the next attempts (cgroups ready for reuse): the engine calls it when it ends.
    func drain()
    /// Removes the empty cgroups named with `tag` (one database's) that processes now gone left behind (an
    /// engine killed before it removed them) for the runs that have ended, which `ended` picks from the run ids
    /// found; returns how many.
    func removeLeftoverCgroups(tag: String, ended: ([Int64]) throws -> Set<Int64>) rethrows -> Int
}

/// What the engine recorded about an attempt, enough to find it again.
public struct AttemptRecord: Sendable, Codable, Equatable {
    /// The executor's id for it (`shim:<pid>:<start ticks>` for the local executor).
    public var externalID: String
    /// The log directory holding its status file.
    public var logDirectory: String
    /// Its file name without extension (`train.1`).
    public var logName: String
    /// Its cgroup, if it had one.
    public var cgroupName: String?
    /// The cgroup's directories.
    public var cgroupDirectories: [String]
    /// Where its outputs file is, and whether that sits in a private directory to remove.
    public var outputPath: String?
    /// The user that owns the outputs file.
    public var outputOwner: UInt32?

    /// Creates a record.
    public init(
        externalID: String, logDirectory: String, logName: String, cgroupName: String?, cgroupDirectories: [String],
        outputPath: String?, outputOwner: UInt32?
    ) {
        self.externalID = externalID
        self.logDirectory = logDirectory
        self.logName = logName
        self.cgroupName = cgroupName
        self.cgroupDirectories = cgroupDirectories
        self.outputPath = outputPath
        self.outputOwner = outputOwner
    }
}

/// What became of a recorded attempt when another process looked for it.
public enum Adoption {
    /// It still runs; wait for it as for one this process started.
    case running(RunningAttempt)
    /// It ended while nobody watched: here is how.
    case ended(AttemptExit, RunningAttempt)
    /// Nothing knows how it ended: its watcher is gone without a word (the step was stopped if it still ran).
    case lost(String)
    /// Its command never ran: it was set up, and its engine stopped before releasing it.
    case neverStarted(String)
}

/// How an attempt's process ended, with what it used.
public struct AttemptExit: Sendable {
    /// The main process's wait status and rusage.
    public let status: ProcessExit
    /// The cgroup's accounting, when there was a cgroup.
    public let usage: CgroupUsage?
    /// Wall-clock seconds from spawn to exit.
    public let wallSeconds: Double
    /// Bytes of log output dropped past the cap.
    public let droppedLogBytes: Int64
    /// What the attempt wrote to its output file; nil when it had none or it could not be read.
    public var outputBytes: [UInt8]?
    /// Why its logs or outputs are incomplete: a write that failed, a full disk, an unreadable output file.
    public var recordProblem: String?
    /// Why its watcher stopped it, if it did: `timeout` or `cancel`.
    public var stop: String?
    /// True when SIGTERM was not enough and SIGKILL followed.
    public var killed = false
    /// Why its command did not start after all (its exec failed, or it was never released); nil when it ran.
    public var startFailure: String?
    /// When it ended, in seconds since the epoch on this host's clock (its watcher's word); nil when unknown.
    public var endedAt: Double?

    /// Creates an exit record.
    public init(
        status: ProcessExit, usage: CgroupUsage?, wallSeconds: Double, droppedLogBytes: Int64
    ) {
        self.status = status
        self.usage = usage
        self.wallSeconds = wallSeconds
        self.droppedLogBytes = droppedLogBytes
    }
}

/// A launch that failed before the command ran.
public struct LaunchFailure: Error, Sendable, CustomStringConvertible {
    /// Why, in words a data scientist can act on.
    public let reason: String
    /// The reason.
    public var description: String { reason }
}

/// An attempt started by (or adopted by) this process.
public final class RunningAttempt: @unchecked Sendable {
    /// The executor's id for it, recorded so that another process can find it.
    public let externalID: String
    /// The step's main process (also its process group id).
    public let pid: pid_t
    /// Readable when the attempt has ended (its watcher exited); nil where the kernel has no pidfd.
    public let exitFD: Int32?
    /// Readable as soon as the watcher has recorded the ending (its last word on the report pipe), or has
    /// died (the pipe's end), before the watcher itself has exited; nil for an adopted attempt.
    let endFD: Int32?
    /// What to wait on for the attempt's end.
    public var waitFD: Int32? { endFD ?? exitFD }
    /// What to record so it can be adopted.
    public let record: AttemptRecord
    let watcher: pid_t
    let isChild: Bool
    let statusDirectory: SecureDirectory
    /// Its cgroup, when cgroups are in use.
    public let cgroup: AttemptCgroup?
    let outputFile: OutputFile?
    /// What was started, when this process started it (nil when adopted).
    let launch: AttemptLaunch?

    init(
        externalID: String, pid: pid_t, exitFD: Int32?, endFD: Int32? = nil, record: AttemptRecord, watcher: pid_t,
        isChild: Bool, statusDirectory: SecureDirectory, cgroup: AttemptCgroup?, outputFile: OutputFile?,
        launch: AttemptLaunch? = nil
    ) {
        self.launch = launch
        self.externalID = externalID
        self.pid = pid
        self.exitFD = exitFD
        self.endFD = endFD
        self.record = record
        self.watcher = watcher
        self.isChild = isChild
        self.statusDirectory = statusDirectory
        self.cgroup = cgroup
        self.outputFile = outputFile
    }

    deinit {
        if let exitFD { close(exitFD) }
        if let endFD { close(endFD) }
    }
}
