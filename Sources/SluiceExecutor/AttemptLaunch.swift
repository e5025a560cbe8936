import Foundation
import SluiceBasics

/// A resolved attempt, ready to start: what to run, where, with which environment, limits and log files.
public struct AttemptLaunch: Sendable {
    /// argv; argv[0] is looked up in the environment's PATH unless it contains a slash.
    public let argv: [String]
    /// True when argv is `/bin/sh -c SCRIPT` built from a string command.
    public let viaShell: Bool
    /// The whole environment, `KEY=value`.
    public var environment: [String]
    /// Absolute working directory.
    public let workdir: String
    /// The run's log directory, opened without following links; the attempt's files are made inside it.
    public let logDirectory: SecureDirectory
    /// The attempt's file name without extension (`train.1`): `.out`, `.err` and `.output` are added.
    public let logName: String
    /// What the attempt is limited to.
    public var limits: AttemptLimits
    /// The name of its cgroup, unique on this host while it runs.
    public var cgroupName: String
    /// Most bytes kept per log stream; nil for no cap.
    public var logLimit: Int64?
    /// The mode of the log files (0600 unless configured otherwise).
    public var logMode: mode_t
    /// When set, the executor makes an empty file for the step's `key=value` outputs and names it in this variable.
    public var outputVariable: String?
    /// Run as this user instead of Sluice's own; nil for Sluice's own user.
    public var user: UserIdentity?
    /// Values replaced by `***` wherever they appear in the logs (secrets given to the step).
    public var maskedValues: [String]
    /// Seconds the attempt may run; its watcher stops it then (nil: no limit).
    public var timeout: Double?
    /// Seconds between SIGTERM and SIGKILL when it is stopped.
    public var gracePeriod: Double

    /// Creates a launch description with no limits, no log cap and private log files.
    public init(
        argv: [String], viaShell: Bool, environment: [String], workdir: String, logDirectory: SecureDirectory,
        logName: String, cgroupName: String
    ) {
        self.argv = argv
        self.viaShell = viaShell
        self.environment = environment
        self.workdir = workdir
        self.logDirectory = logDirectory
        self.logName = logName
        self.limits = AttemptLimits()
        self.cgroupName = cgroupName
        self.logLimit = nil
        self.logMode = 0o600
        self.outputVariable = nil
        self.user = nil
        self.maskedValues = []
        self.timeout = nil
        self.gracePeriod = 10
    }

    /// Absolute path of the stdout log.
    public var stdoutPath: String { logDirectory.path + "/" + logName + ".out" }
    /// Absolute path of the stderr log.
    public var stderrPath: String { logDirectory.path + "/" + logName + ".err" }
    /// The name of the status file its watcher keeps beside the logs.
    public var statusName: String { logName + ".status" }
}
