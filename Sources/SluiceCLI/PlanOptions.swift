import ArgumentParser
import Foundation
import SluiceHost
import SluiceSpec

/// `--param name=value` and `--logical-date`, shared by `run` and `plan`.
struct PlanOptions: ParsableArguments {
    @Option(
        name: .customLong("param"),
        help: ArgumentHelp("Set a parameter (repeatable); lists are comma-separated.", valueName: "name=value"))
    var params: [String] = []

    @Option(
        name: .customLong("logical-date"),
        help: ArgumentHelp(
            "The date the run is for, as YYYY-MM-DD (default: today in the DAG's timezone).", valueName: "date"))
    var logicalDate: String?

    func validate() throws {
        for param in params where !param.contains("=") || param.hasPrefix("=") {
            throw ValidationError("--param expects name=value, got '\(param)'")
        }
    }

    /// The given values as (name, value) pairs, in order.
    var pairs: [(String, String)] {
        params.map { text in
            let eq = text.firstIndex(of: "=")!
            return (String(text[..<eq]), String(text[text.index(after: eq)...]))
        }
    }

    /// Loads, validates and plans a DAG file; refuses steps that cannot fit on this host, and when `forRun`
    /// steps whose executor this build cannot run.
    func plan(file: String, forRun: Bool, config: HostConfig) throws -> RunPlan {
        let spec = try SpecLoader.load(path: file)
        try ConfigOption.checkHost(spec, config: config)
        let plan = try Planner.plan(
            spec, params: pairs, logicalDate: logicalDate ?? Planner.today(timezone: spec.timezone))
        let tagProblems = TagPolicy.check(plan, required: config.requiredTags)
        if !tagProblems.isEmpty { throw SpecError(tagProblems) }
        if forRun, let step = spec.steps.first(where: { $0.executor != .local }) {
            throw PlanError([
                "steps.\(step.id) uses executor '\(step.executor.rawValue)', which this version of Sluice cannot run yet; use executor: local"
            ])
        }
        if forRun {
            let missing = Planner.missingSecrets(plan, environment: ProcessInfo.processInfo.environment)
            if !missing.isEmpty { throw PlanError(missing) }
        }
        return plan
    }
}
