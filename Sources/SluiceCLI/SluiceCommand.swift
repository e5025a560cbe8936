import ArgumentParser

/// `sluice`: the root command.
struct SluiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Run batch pipelines (DAGs of steps) and record every run in PostgreSQL.",
        version: SluiceVersion.current,
        subcommands: [
            RunCommand.self, ValidateCommand.self, PlanCommand.self, GraphCommand.self, SchemaCommand.self,
            StatusCommand.self, RunsCommand.self, LogsCommand.self, DBCommand.self, DoctorCommand.self,
            ServeCommand.self, TriggerCommand.self, CancelCommand.self, RetryCommand.self, BackfillCommand.self,
            NextCommand.self, DagsCommand.self, LineageCommand.self, DiffCommand.self, CostCommand.self,
            EfficiencyCommand.self, PricesCommand.self,
        ])
}

/// The version string `sluice --version` prints.
public enum SluiceVersion {
    /// The current version.
    public static let current = "0.1.0"
}
