import ArgumentParser
import SluiceSpec

/// `sluice plan FILE`: a dry run that prints every resolved step and runs nothing.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what a run would do: resolved commands, env, workdir, resources, foreach instances, order.",
        discussion:
            "Nothing is run and the database is not touched. Exit codes: 0 planned, 2 invalid DAG or parameters, 3 unreadable file."
    )

    @Argument(help: "The DAG file.") var file: String
    @OptionGroup var planning: PlanOptions
    @Flag(help: "Print the plan as JSON.") var json = false
    @OptionGroup var config: ConfigOption

    func run() throws {
        let plan = try planning.plan(file: file, forRun: false, config: try config.load(dagFile: file))
        print(json ? PlanRendering.json(plan).rendered() : PlanRendering.text(plan))
    }
}
