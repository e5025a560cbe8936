import Foundation
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

    /// This machine's name from `gethostname` (no DNS lookup).
    static func hostName() -> String {
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
        var environment = ProcessInfo.processInfo.environment
        // The database URL may hold a password; steps have no business with it.
        environment.removeValue(forKey: "SLUICE_DATABASE_URL")
        baseEnvironment = environment
        host = Self.hostName()
        handleSignals = false
        tickInterval = nil
        let config = HostConfig()
        capacity = HostCapacity.resolve(config)
        defaultResources = config.defaultResources
        logLimit = config.logLimit
    }

    /// Takes capacity, default resources, the grace period and the log cap from a configuration file.
    public mutating func apply(_ config: HostConfig) {
        capacity = HostCapacity.resolve(config)
        defaultResources = config.defaultResources
        gracePeriod = config.gracePeriod
        logLimit = config.logLimit
    }
}
