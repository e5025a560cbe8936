import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceHost
import SluiceSpec

/// Resolves a planned step into the exact launch of one attempt: argv, environment, workdir, log paths.
struct StepLauncher {
    let plan: RunPlan
    let options: RunOptions

    /// The launch of `attempt` of instance `index`; throws `PlanError` when a run-time reference has no value.
    func launch(
        _ index: Int, runID: Int64, attempt: Int, runtime: RuntimeValues, request: StepRequest, gpus: [Int],
        logDirectory: SecureDirectory
    ) throws(PlanError) -> AttemptLaunch {
        let step = plan.steps[index]
        let resolved = try step.resolve(runtime)
        var environment = options.baseEnvironment
        let secrets = try SecretValues.resolve(
            resolved.env, environment: options.secretEnvironment, owner: "steps.\(step.step.id)")
        for (name, value) in secrets.values { environment[name] = value }
        environment["SLUICE_RUN_ID"] = String(runID)
        environment["SLUICE_DAG"] = plan.spec.name
        environment["SLUICE_STEP"] = step.key
        environment["SLUICE_ATTEMPT"] = String(attempt)
        environment["SLUICE_LOGICAL_DATE"] = plan.logicalDate
        if let item = step.item { environment["SLUICE_ITEM"] = item } else { environment["SLUICE_ITEM"] = nil }
        // The GPUs this attempt was given, and no others: an empty list hides every GPU from CUDA.
        environment["CUDA_VISIBLE_DEVICES"] = gpus.map(String.init).joined(separator: ",")
        let viaShell: Bool
        if case .shell = resolved.command { viaShell = true } else { viaShell = false }
        var launch = AttemptLaunch(
            argv: resolved.command.arguments, viaShell: viaShell,
            environment: environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
            workdir: resolved.workdir, logDirectory: logDirectory, logName: "\(Self.fileName(step.key)).\(attempt)",
            cgroupName: "run\(runID)-\(Self.fileName(step.key)).\(attempt)")
        launch.outputVariable = "SLUICE_OUTPUT"
        launch.logMode = options.logFileMode
        launch.user = options.runAs
        launch.maskedValues = secrets.secrets
        launch.limits = AttemptLimits(
            cpus: request.cpus, memoryBytes: request.memoryBytes, memoryRequested: request.memoryRequested,
            maxProcesses: request.maxProcesses, maxOpenFiles: request.maxOpenFiles)
        launch.logLimit = options.logLimit
        return launch
    }

    /// The run's log directory: `<logRoot>/<run id>`, made and opened without following links.
    func openLogDirectory(runID: Int64) throws -> SecureDirectory {
        let mode = RunOptions.directoryMode(forFiles: options.logFileMode)
        try FileSystem.makeDirectory(options.logRoot, mode: mode)
        return try SecureDirectory.open(options.logRoot).subdirectory(String(runID), mode: mode)
    }

    /// The command as recorded before the run: static values substituted, run-time references as written.
    static func recordedCommand(_ step: PlannedStep) -> [String] {
        switch step.command {
        case .shell(let t): return ["/bin/sh", "-c", t.render(quote: true) { _ in nil }]
        case .argv(let items): return items.map(\.description)
        }
    }

    /// An instance key as a file name: `score[ah]` stays, other unsafe characters become %XX.
    static func fileName(_ key: String) -> String {
        var name = ""
        for byte in key.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "._-[]".contains(c)) {
                name.append(c)
            } else {
                name += String(format: "%%%02X", byte)
            }
        }
        return name
    }

    /// Parses a `$SLUICE_OUTPUT` file: `key=value` lines; blank lines and `#` comments are ignored, and every
    /// other line comes back as a warning that names it, so a typo such as `auc: 0.91` is not lost in silence.
    static func parseOutputs(_ bytes: [UInt8]) -> (outputs: [String: String], warnings: [String]) {
        var outputs: [String: String] = [:]
        var warnings: [String] = []
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        for (number, line) in lines.enumerated() {
            let text = line.hasSuffix("\r") ? line.dropLast() : line
            if text.allSatisfy(\.isWhitespace) || text.hasPrefix("#") { continue }
            guard let eq = text.firstIndex(of: "="), !text[..<eq].trimmingCharacters(in: .whitespaces).isEmpty else {
                let shown = text.count > 80 ? text.prefix(80) + "…" : text
                warnings.append(
                    "$SLUICE_OUTPUT line \(number + 1) is not key=value and was ignored: '\(shown)'")
                continue
            }
            outputs[text[..<eq].trimmingCharacters(in: .whitespaces)] = String(text[text.index(after: eq)...])
        }
        return (outputs, warnings)
    }
}
