import Foundation
import SluiceBasics
import SluiceHost
import SluiceSpec

/// How a run is driven.
public struct RunOptions: Sendable {
    /// Most steps running at once.
    public var parallelism: Int
    /// Where attempt logs go; each run gets `<logRoot>/<run id>/`.
    public var logRoot: String
    /// Seconds between SIGTERM and SIGKILL when stopping steps.
    public var gracePeriod: Double
    /// The environment every step starts from, before its own `env` and the `SLUICE_*` variables.
    public var baseEnvironment: [String: String]
    /// Where `from_env` secrets are read: Sluice's own environment.
    public var secretEnvironment: [String: String]
    /// Variables of Sluice's environment that never reach a step: the database connection's credentials.
    public static let withheld: Set<String> = ["SLUICE_DATABASE_URL", "PGPASSWORD", "PGSSLKEY", "PGSSLCERT"]
    /// This machine's name, recorded on attempts.
    public var host: String
    /// Seconds between `RunObserver.tick()` calls; nil for none.
    public var tickInterval: Double?
    /// True to cancel the run on SIGINT/SIGTERM to this process (the CLI); false when the caller cancels it.
    public var handleSignals: Bool
    /// What the host can give steps at once.
    public var capacity: HostCapacity
    /// What a step gets for each resource it does not ask for.
    public var defaultResources: Resources
    /// Most bytes kept per log stream of an attempt; nil for no cap.
    public var logLimit: Int64?
    /// Seconds a write is retried while the database cannot take it, before the run gives up (default 10 minutes).
    public var databaseRetryLimit: Double = 600
    /// The mode of log files (0600: only Sluice's user can read them); directories get the matching `x` bits.
    public var logFileMode: mode_t
    /// The user steps and handlers run as; nil for Sluice's own user.
    public var runAs: UserIdentity?
    /// Where OpenLineage events go; nil for nowhere.
    public var openLineage: OpenLineageConfig?
    /// Tags every step must carry; a served DAG without them does not load.
    public var requiredTags: [RequiredTag] = []
    /// This host's class, a tag on every attempt.
    public var hostClass: String?
    /// Run every step even when an earlier attempt with the same fingerprint already did its work.
    public var force = false
    /// Run these steps (by id) even when they could be cached.
    public var forceSteps: Set<String> = []
    /// Seconds an attempt may run before the engine records it running: a step that ends sooner has its start
    /// recorded by the statement that records its end (one write instead of two). 0 records every start at once.
    public var runningRecordDelay: Double = 0.005

    /// The mode of a directory holding files of `mode`: each `r` gains its `x` (0600 → 0700, 0640 → 0750).
    public static func directoryMode(forFiles mode: mode_t) -> mode_t { mode | ((mode & 0o444) >> 2) }

    /// This machine's name from `gethostname` (no DNS lookup).
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Options with the default parallelism (the number of cores) and grace period (10 s).
    public init(logRoot: String) {
        parallelism = ProcessInfo.processInfo.activeProcessorCount
        self.logRoot = logRoot
        gracePeriod = 10
        let environment = ProcessInfo.processInfo.environment
        secretEnvironment = environment
        baseEnvironment = environment.filter { !Self.withheld.contains($0.key) }
        host = Self.hostName()
        handleSignals = false
        tickInterval = nil
        let config = HostConfig()
        capacity = HostCapacity.resolve(config)
        defaultResources = config.defaultResources
        logLimit = config.logLimit
        logFileMode = config.logFileMode
        runAs = nil
    }

    /// Takes capacity, default resources, the grace period and the log cap from a configuration file.
    public mutating func apply(_ config: HostConfig) {
        capacity = HostCapacity.resolve(config)
        defaultResources = config.defaultResources
        gracePeriod = config.gracePeriod
        logLimit = config.logLimit
        logFileMode = config.logFileMode
        openLineage = config.openLineage
        requiredTags = config.requiredTags
        hostClass = config.hostClass
    }
}

/// Who steps run as: decided once from `run_as` (or `--run-as`), refusing root unless it was asked for.
public enum StepUser {
    /// The user to switch to, or nil to stay Sluice's own user; throws `StepUserError` when that is not allowed.
    public static func resolve(_ configured: String?, euid: uid_t = geteuid()) throws -> UserIdentity? {
        guard let configured, !configured.isEmpty else {
            if euid == 0 {
                throw StepUserError(
                    "sluice runs as root, and steps would run as root too: set run_as in \(HostConfig.fileName) to the user steps should run as (or to root, to allow it), or pass --run-as USER"
                )
            }
            return nil
        }
        guard let user = UserIdentity.lookup(configured) else {
            throw StepUserError("run_as: this system has no user '\(configured)'")
        }
        if user.uid == euid { return nil }
        if euid != 0 {
            throw StepUserError(
                "run_as is \(user.name), but only root can run steps as another user; sluice runs as \(StateDirectory.userName(euid))"
            )
        }
        return user
    }
}

/// Steps cannot run as the configured user.
public struct StepUserError: Error, Sendable, CustomStringConvertible {
    /// Why, and what to change.
    public let description: String

    init(_ description: String) { self.description = description }
}
