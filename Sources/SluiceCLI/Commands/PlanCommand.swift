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
        let (hostConfig, plan) = try InvalidInputJSON.reporting(json: json) {
            let hostConfig = try config.load(dagFile: file)
            return (hostConfig, try planning.plan(file: file, forRun: false, config: hostConfig))
        }
        print(
            json
                ? PlanRendering.json(plan, config: hostConfig).sortingKeys().rendered()
                : PlanRendering.text(plan, config: hostConfig))
    }
}
