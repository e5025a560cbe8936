import ArgumentParser
import Foundation
import SluiceBasics
import SluiceModel
import SluiceSpec
import SluiceStore

/// `sluice retry RUN`: give failed steps a new chance inside the same run.
struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Give an ended run's failed steps (and what follows them) new attempts, in the same run.",
        discussion: """
            Succeeded steps keep their results. The run goes back to queued, and a service (or `sluice serve --once`)
            drives it again: steps retried get their next attempt number. Exit codes: 0 queued (with --wait:
            succeeded), 1 failed, 5 no such run or step, 64 the run has not ended or nothing to retry, 130 cancelled.
            """)

    @Argument(help: ArgumentHelp("The run id, or 'latest'.", valueName: "run")) var runReference: String
    @Flag(help: "Retry the steps that failed, were cancelled or never ran because of a failure (the default).")
    var failed = false
    @Option(help: "Retry this step (all its instances) and what follows it, even if it succeeded.") var step: String?
    @Flag(help: "Wait for the run to end and exit with its code.") var wait = false
    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    struct Output: Encodable {
        /// The run.
        let run: Int64
        /// The step instances that get a new attempt.
        let steps: [String]
        /// `queued`, or with --wait the run's final state.
        let state: String
        /// Whether a service is up to drive it.
        let serviceRunning: Bool
    }

    func validate() throws {
        if failed && step != nil { throw ValidationError("give --failed or --step, not both") }
    }

    func run() throws {
        let store = try global.openStore()
        RecoverySweep.run(store: store)
        let queries = RunQueries(store: store)
        let runID = try RunReference.resolve(runReference, queries: queries)
        guard let detail = try queries.runDetail(id: runID) else {
            throw CLIFailure("no run \(runID)", exitCode: ExitCodes.notFound)
        }
        if let step, !detail.steps.contains(where: { $0.step == step || $0.step.hasPrefix(step + "[") }) {
            let names = detail.steps.map(\.step)
            throw CLIFailure(
                "run \(runID) has no step '\(step)'\(Suggestions.hint(for: step, in: names))",
                exitCode: ExitCodes.notFound)
        }
        let reset: [String]
        do {
            reset = try RunQueue(store: store).retry(runID: runID, step: step, by: UserIdentity.current.name)
        } catch let conflict as StateConflict {
            throw CLIFailure(conflict.description, exitCode: ExitCodes.usage)
        }
        guard !reset.isEmpty else {
            throw CLIFailure("run \(runID) has nothing to retry: no step failed", exitCode: ExitCodes.usage)
        }
        let serviceRunning = try ServiceContext.serviceIsRunning(store: store)
        if !json { print("run \(runID) queued again; steps to run again: \(reset.joined(separator: ", "))") }
        if !serviceRunning { Terminal.printError("sluice: \(ServiceContext.noServiceAdvice)") }
        let final = wait ? try ServiceContext.waitForEnd(runID, store: store) : nil
        if json {
            try JSONOutput.print(
                Output(run: runID, steps: reset, state: final?.rawValue ?? "queued", serviceRunning: serviceRunning))
        } else if let final {
            print("run \(runID) \(final.rawValue)")
        }
        if let final { throw ExitWith(code: ServiceContext.exitCode(for: final)) }
    }
}
