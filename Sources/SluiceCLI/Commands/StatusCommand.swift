import ArgumentParser
import Foundation
import SluiceStore

/// `sluice status`: every DAG seen and its latest run.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show every DAG seen and its latest run.")

    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let statuses = try RunQueries(store: global.openStore()).dagStatuses()
        if json {
            try JSONOutput.print(["dags": statuses])
            return
        }
        if statuses.isEmpty {
            print("no DAGs have run yet; start one with: sluice run dags/FILE.yaml")
            return
        }
        var table = TextTable("DAG", "RUNS", "LATEST", "STATE", "STARTED", "DURATION", "STEPS")
        for status in statuses {
            let run = status.latestRun
            table.add([
                status.dag, String(status.runs), run.map { String($0.id) } ?? "-", run?.state.rawValue ?? "-",
                Formatting.time(run?.startedAt), Formatting.duration(run?.durationSeconds),
                run.map(StepCounts.text) ?? "-",
            ])
        }
        print(table.render())
    }
}
