import ArgumentParser
import Foundation
import SluiceBasics
import SluiceEngine
import SluiceExecutor
import SluiceModel
import SluiceSpec
import SluiceStore

/// `sluice run FILE`: validate a DAG, then run it to the end in the foreground, recording everything.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a DAG now, in the foreground, and record the run.")

    @Argument(help: "The DAG file.") var file: String
    @Option(help: "Most steps running at once (default: the number of cores).") var parallelism: Int?
    @Option(
        name: .customLong("grace-period"),
        help: ArgumentHelp(
            "Time between SIGTERM and SIGKILL when stopping steps: seconds (5) or a duration (5s, 1m) (default: grace_period in the configuration, else 10s).",
            valueName: "duration"))
    var gracePeriodText: String?

    /// `--grace-period` in seconds: a plain number of seconds, or a duration as in the DAG language.
    var gracePeriod: Double? {
        gracePeriodText.flatMap { text in Double(text).flatMap { $0 >= 0 ? $0 : nil } ?? Units.duration(text) }
    }
    @OptionGroup var runAs: RunAsOption
    @Flag(help: "Run every step, even those whose code, parameters and inputs did not change (no step is cached).")
    var force = false
    @Option(
        name: .customLong("force-step"),
        help: ArgumentHelp("Run this step even if it could be cached (repeatable).", valueName: "step"))
    var forceSteps: [String] = []
    @Flag(help: "Print the result as JSON on stdout (progress goes to stderr).") var json = false
    @OptionGroup var planning: PlanOptions
    @OptionGroup var global: GlobalOptions
    @OptionGroup var config: ConfigOption

    func validate() throws {
        if let parallelism, parallelism < 1 { throw ValidationError("--parallelism must be at least 1") }
        if force && !forceSteps.isEmpty {
            throw ValidationError("--force runs every step: --force-step adds nothing to it")
        }
        if let text = gracePeriodText, gracePeriod == nil {
            throw ValidationError("--grace-period expects seconds (5) or a duration (5s, 1m30s), got '\(text)'")
        }
    }

    func run() throws {
        let (hostConfig, plan, stepUser) = try InvalidInputJSON.reporting(json: json) {
            let hostConfig = try config.load(dagFile: file)
            let plan = try planning.plan(file: file, forRun: true, config: hostConfig)
            let stepUser = try runAs.resolve(config: hostConfig)
            return (hostConfig, plan, stepUser)
        }
        let spec = plan.spec
        let unknown = forceSteps.filter { name in !spec.steps.contains { $0.id == name } }
        if !unknown.isEmpty {
            throw CLIFailure(
                "--force-step: \(spec.name) has no step \(unknown.joined(separator: ", ")) (its steps: \(spec.steps.map(\.id).joined(separator: ", ")))",
                exitCode: ExitCodes.usage)
        }
        let stateDirectory = global.resolveStateDirectory(dagFile: file)
        let state = try StateDirectory.open(stateDirectory, create: true)
        let store = try Store.open(global.databaseTarget(stateDirectory: stateDirectory))
        try PriceSync.load(hostConfig, into: store)
        RecoverySweep.run(store: store)  // runs of killed `sluice run`s must not hold capacity or slots forever
        let logRoot = try state.subdirectories(
            "logs/\(spec.name)", mode: RunOptions.directoryMode(forFiles: hostConfig.logFileMode))
        let interactive = !json && Terminal.stdoutIsInteractive
        var setup = EngineSetup.compose(config: hostConfig, logRoot: logRoot.path, runAs: stepUser)
        if let parallelism { setup.options.parallelism = parallelism }
        if let gracePeriod { setup.options.gracePeriod = gracePeriod }
        setup.options.force = force
        setup.options.forceSteps = Set(forceSteps)
        setup.options.handleSignals = true
        if interactive { setup.options.tickInterval = 1 }
        // A hang-up (an ssh drop) or a closed stdout (`| head`) must not kill the run: it goes on, silently.
        signal(SIGHUP, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let display = ProgressDisplay(
            interactive: interactive, output: json ? STDERR_FILENO : STDOUT_FILENO,
            parallelism: setup.options.parallelism)
        if let reason = setup.fallbackReason, !json {
            Terminal.printError("sluice: limits are enforced with rlimits only: \(reason) (see: sluice doctor)")
        }
        let began = MonotonicClock.now()
        let result = try RunDriver(
            store: store, executor: setup.executor, observer: display, options: setup.options
        ).run(plan)
        if Phases.enabled {
            Terminal.printError(Phases.report(steps: plan.steps.count, wallSeconds: MonotonicClock.now() - began))
        }
        let detail = try RunQueries(store: store).runDetail(id: result.runID)
        if json {
            if let detail { try JSONOutput.print(detail) }
        } else if let detail {
            display.printSummary(detail)
        }
        if result.interruptedBy != nil { throw ExitWith(code: ExitCodes.interrupted) }
        switch result.state {
        case .succeeded: return
        case .cancelled: throw ExitWith(code: ExitCodes.interrupted)
        default: throw ExitWith(code: ExitCodes.failed)
        }
    }
}
