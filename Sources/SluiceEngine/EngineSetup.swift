import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceHost
import SluiceModel

/// How `sluice run` and `sluice serve` build the same engine: configuration → resource control → executor → options.
public struct EngineSetup: Sendable {
    /// The executor, with the enforcement this host allows.
    public let executor: LocalExecutor
    /// How runs are driven.
    public var options: RunOptions
    /// Why limits fall back to rlimits, when they do (and the configuration did not ask for it).
    public let fallbackReason: String?

    /// The engine's parts for `config`: cgroups prepared (or the fallback and why), capacity, defaults, the
    /// grace period, the log cap and file mode, and who steps run as.
    public static func compose(config: HostConfig, logRoot: String, runAs: UserIdentity?) -> EngineSetup {
        let control = ResourceControl.setUp(
            mode: CgroupMode(rawValue: config.cgroups) ?? .auto, parent: config.cgroupParent)
        var options = RunOptions(logRoot: logRoot)
        options.apply(config)
        options.runAs = runAs
        return EngineSetup(
            executor: LocalExecutor(control: control), options: options,
            fallbackReason: config.cgroups == "off" ? nil : control.fallbackReason)
    }
}
