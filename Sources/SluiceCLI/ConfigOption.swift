import ArgumentParser
import Foundation
import SluiceBasics
import SluiceEngine
import SluiceHost
import SluiceSpec

/// `--config FILE`: the host configuration (capacity, default resources, cgroups, grace period, log cap).
struct ConfigOption: ParsableArguments {
    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "The host configuration file (default: $SLUICE_CONFIG, else sluice.yaml at the project root).",
            valueName: "file"))
    var path: String?

    /// The project root for a DAG file: the parent of its folder (where `.sluice/` goes too).
    static func projectRoot(dagFile: String?) -> String {
        if let dagFile {
            let folder = (FileSystem.absolute(dagFile) as NSString).deletingLastPathComponent
            return (folder as NSString).deletingLastPathComponent
        }
        let here = FileSystem.absolute(".")
        return ProjectSearch.upward(from: here, containing: [HostConfig.fileName, ".sluice"]) ?? here
    }

    /// The configuration for work on `dagFile` (or the current project); defaults when there is no file.
    func load(dagFile: String? = nil) throws -> HostConfig {
        guard let file = HostConfig.locate(explicit: path, projectRoot: Self.projectRoot(dagFile: dagFile)) else {
            return HostConfig()
        }
        return try HostConfig.load(path: file)
    }

    /// Refuses a DAG with a step that could never fit on this host, or without a tag the host requires.
    static func checkHost(_ spec: DAGSpec, config: HostConfig, capacity: HostCapacity? = nil) throws {
        let diagnostics =
            CapacityCheck.check(spec, capacity: capacity ?? HostCapacity.resolve(config), config: config)
            + TagPolicy.check(spec, required: config.requiredTags)
        if !diagnostics.isEmpty { throw SpecError(diagnostics) }
    }
}
