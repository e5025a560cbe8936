import ArgumentParser
import Foundation
import SluiceBasics
import SluiceEngine
import SluiceHost

/// `--run-as USER`, shared by the commands that start steps (`run`, `serve`).
struct RunAsOption: ParsableArguments {
    @Option(
        name: .customLong("run-as"),
        help: ArgumentHelp(
            "The user steps run as (default: $SLUICE_RUN_AS, else run_as in the configuration; as root one is required).",
            valueName: "user"))
    var user: String?

    /// Who steps run as: `--run-as`, else `$SLUICE_RUN_AS`, else `run_as` in `config` (as root, one is required).
    func resolve(config: HostConfig) throws -> UserIdentity? {
        try StepUser.resolve(
            user ?? ProcessInfo.processInfo.environment["SLUICE_RUN_AS"].flatMap { $0.isEmpty ? nil : $0 }
                ?? config.runAs)
    }
}
