import ArgumentParser
import Foundation
import SluiceBasics
import SluiceEngine
import SluiceHost
import SluiceModel
import SluiceSpec
import SluiceStore

/// `sluice trigger DAG`: queue a run for the service.
struct TriggerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trigger",
        abstract: "Queue a run of a DAG now; the service starts it (at once, woken by the database).",
        discussion: """
            The DAG is the version the service loaded (or the last one run). Parameters are checked before the run is
            queued. A paused DAG can still be triggered. With --wait, follows the run and exits with its code.
            Exit codes: 0 queued (with --wait: succeeded), 1 the run failed, 2 bad parameters (or a tag they make
            that sluice.yaml's required_tags does not allow), 4 no database,
            5 no such DAG, 130 the run was cancelled.
            """)

    @Argument(help: "The DAG's id.") var dag: String
    @OptionGroup var planning: PlanOptions
    @OptionGroup var config: ConfigOption
    @Flag(help: "Wait for the run to end and exit with its code (0 succeeded, 1 failed, 130 cancelled).") var wait =
        false
    @Flag(help: "Print the queued run as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    struct Output: Encodable {
        let run: Int64
        let dag: String
        let state: String
        let serviceRunning: Bool
        let paused: Bool
    }

    func run() throws {
        let store = try global.openStore()
        let (versionID, spec) = try ServiceContext.spec(of: dag, store: store)
        let plan = try Planner.plan(
            spec, params: planning.pairs, logicalDate: planning.logicalDate ?? Planner.today(timezone: spec.timezone))
        // Tags from parameters are checked against the project's required tags now, not when the service
        // starts the run (which would refuse it then). A configuration that does not load is the service's
        // to report.
        if let hostConfig = try? config.load(dagFile: spec.file) {
            let problems = TagPolicy.check(plan, required: hostConfig.requiredTags)
            if !problems.isEmpty { throw SpecError(problems) }
        }
        let params = plan.recordedParams
        guard
            let runID = try RunQueue(store: store).enqueue(
                RunRequest(
                    versionID: versionID, params: params, logicalDate: plan.logicalDate, trigger: "manual",
                    triggeredBy: UserIdentity.current.name))
        else { throw CLIFailure("the run was not queued", exitCode: ExitCodes.database) }
        let paused = try DagCatalog(store: store).isPaused(dag) ?? false
        let running = try ServiceContext.serviceIsRunning(store: store)
        if json {
            try JSONOutput.print(
                Output(run: runID, dag: dag, state: "queued", serviceRunning: running, paused: paused))
        } else {
            print("queued run \(runID) of \(dag)")
            if paused { print("note: \(dag) is paused (its schedule waits); a triggered run starts anyway") }
        }
        if !running { Terminal.printError("sluice: \(ServiceContext.noServiceAdvice)") }
        if wait {
            let state = try ServiceContext.waitForEnd(runID, store: store)
            if !json { print("run \(runID) \(state.rawValue)") }
            throw ExitWith(code: ServiceContext.exitCode(for: state))
        }
    }
}

/// `sluice cancel RUN`: stop a queued or running run, whoever drives it.
struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a run: a queued one at once, a running one by the engine that drives it.",
        discussion: """
            A running run's engine (a service, or a `sluice run`) stops its steps (SIGTERM, then SIGKILL after the grace
            period) and records it cancelled. When that engine is gone, this command takes the run over and does it.
            Exit codes: 0 cancelled (or asked), 5 no such run, 64 the run had already ended.
            """)

    @Argument(help: ArgumentHelp("The run id, or 'latest'.", valueName: "run")) var runReference: String
    @Flag(help: "Wait until the run has ended.") var wait = false
    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    struct Output: Encodable {
        /// The run.
        let run: Int64
        /// `cancelled`, or `cancelling` while its engine stops it (with --wait: its final state).
        let state: String
        /// `queued` (it had not started), `asked` (its engine was told) or `taken_over` (its engine was gone).
        let how: String
    }

    func run() throws {
        let store = try global.openStore()
        let runID = try RunReference.resolve(runReference, queries: RunQueries(store: store))
        let queue = RunQueue(store: store)
        guard let state = try queue.state(of: runID) else {
            throw CLIFailure("no run \(runID)", exitCode: ExitCodes.notFound)
        }
        if state.isTerminal {
            throw CLIFailure("run \(runID) has already ended (\(state.rawValue))", exitCode: ExitCodes.usage)
        }
        let after = try queue.requestCancel(runID: runID, by: UserIdentity.current.name)
        if after == .cancelled {
            try say(
                Output(run: runID, state: "cancelled", how: "queued"), "run \(runID) cancelled (it had not started)")
            return
        }
        // An engine that is gone cannot hear it: take the run over here and stop it.
        let engine = try Engine.recordingOnly(
            store: store, setup: EngineSetup.compose(config: HostConfig(), logRoot: "/", runAs: nil))
        defer { engine.retire() }
        let taken = try Recovery.takeOver(
            engine: engine, store: store, only: runID, logRoot: { _ in "/" }, observer: { _, _ in SilentObserver() })
        if taken.contains(runID) {
            try engine.cancel(runID: runID)
            let final = try engine.runUntilIdle().first { $0.runID == runID }?.state ?? .cancelled
            try say(
                Output(run: runID, state: final.rawValue, how: "taken_over"),
                "run \(runID) \(final.rawValue) (its engine was gone; this command stopped it)")
            return
        }
        if !json { print("asked the engine of run \(runID) to cancel it") }
        let final = wait ? try ServiceContext.waitForEnd(runID, store: store).rawValue : "cancelling"
        try say(Output(run: runID, state: final, how: "asked"), wait ? "run \(runID) \(final)" : nil)
    }

    private func say(_ output: Output, _ text: String?) throws {
        if json {
            try JSONOutput.print(output)
        } else if let text {
            print(text)
        }
    }
}
