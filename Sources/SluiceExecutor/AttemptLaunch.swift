/// A resolved attempt, ready to start: what to run, where, with which environment, limits and log files.
public struct AttemptLaunch: Sendable {
    /// argv; argv[0] is looked up in the environment's PATH unless it contains a slash.
    public let argv: [String]
    /// True when argv is `/bin/sh -c SCRIPT` built from a string command.
    public let viaShell: Bool
    /// The whole environment, `KEY=value`.
    public let environment: [String]
    /// Absolute working directory.
    public let workdir: String
    /// Absolute path of the stdout log.
    public let stdoutPath: String
    /// Absolute path of the stderr log.
    public let stderrPath: String
    /// What the attempt is limited to.
    public var limits: AttemptLimits
    /// The name of its cgroup, unique on this host while it runs.
    public var cgroupName: String
    /// Most bytes kept per log stream; nil for no cap.
    public var logLimit: Int64?

    /// Creates a launch description with no limits and no log cap.
    public init(
        argv: [String], viaShell: Bool, environment: [String], workdir: String, stdoutPath: String, stderrPath: String,
        cgroupName: String
    ) {
        self.argv = argv
        self.viaShell = viaShell
        self.environment = environment
        self.workdir = workdir
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
        self.limits = AttemptLimits()
        self.cgroupName = cgroupName
        self.logLimit = nil
    }
}
