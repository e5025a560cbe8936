import Foundation
import SluiceExecutor
import SluiceSpec

/// Resolves a step of a DAG into the exact launch of one attempt: argv, environment, workdir, log paths.
struct StepLauncher {
    let spec: DAGSpec
    let options: RunOptions

    func launch(step: StepSpec, runID: Int64, attempt: Int) -> AttemptLaunch {
        var environment = options.baseEnvironment
        for variable in step.env { environment[variable.name] = variable.value }
        environment["SLUICE_RUN_ID"] = String(runID)
        environment["SLUICE_DAG"] = spec.name
        environment["SLUICE_STEP"] = step.id
        environment["SLUICE_ATTEMPT"] = String(attempt)
        let base = logDirectory(runID: runID) + "/\(step.id).\(attempt)"
        let viaShell: Bool
        if case .shell = step.command { viaShell = true } else { viaShell = false }
        return AttemptLaunch(
            argv: step.command.arguments, viaShell: viaShell,
            environment: environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
            workdir: workdir(step), stdoutPath: base + ".out", stderrPath: base + ".err")
    }

    func logDirectory(runID: Int64) -> String { options.logRoot + "/\(runID)" }

    /// The step's `workdir` resolved against the DAG file's directory; the file's directory by default.
    func workdir(_ step: StepSpec) -> String {
        guard let dir = step.workdir, !dir.isEmpty else { return spec.baseDirectory }
        if dir.hasPrefix("/") { return dir }
        return ((spec.baseDirectory as NSString).appendingPathComponent(dir) as NSString).standardizingPath
    }
}
