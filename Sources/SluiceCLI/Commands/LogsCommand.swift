import ArgumentParser
import Foundation
import SluiceSpec
import SluiceStore

/// `sluice logs RUN STEP`: print an attempt's stdout or stderr.
struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print the output of a step's attempt (the last attempt by default).")

    @Argument(help: ArgumentHelp("The run id, or 'latest'.", valueName: "run")) var runReference: String
    @Argument(help: "The step id.") var step: String
    @Option(help: "Which attempt (default: the last).") var attempt: Int?
    @Flag(help: "Print stderr instead of stdout.") var stderr = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let detail = try RunReference.detail(runReference, global: global)
        let id = detail.run.id
        guard detail.steps.contains(where: { $0.step == step }) else {
            let names = detail.steps.map(\.step)
            throw CLIFailure(
                "run \(id) has no step '\(step)'\(Suggestions.hint(for: step, in: names)); its steps: \(names.joined(separator: ", "))",
                exitCode: ExitCodes.notFound)
        }
        let attempts = detail.attempts.filter { $0.step == step }
        let chosen = attempt.map { n in attempts.first { $0.number == n } } ?? attempts.last
        guard let chosen else {
            if let attempt {
                throw CLIFailure(
                    "step \(step) of run \(id) has no attempt \(attempt) (it has \(attempts.count))",
                    exitCode: ExitCodes.notFound)
            }
            throw CLIFailure("step \(step) of run \(id) never started, so it has no logs", exitCode: ExitCodes.notFound)
        }
        let path = stderr ? chosen.stderrPath : chosen.stdoutPath
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CLIFailure(
                "the log file \(path) is gone (it is kept on the host that ran the step, \(chosen.host))",
                exitCode: ExitCodes.notFound)
        }
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 65536), !chunk.isEmpty {
            FileHandle.standardOutput.write(chunk)
        }
    }
}
