import ArgumentParser
import Foundation
import SluiceBasics
import SluiceEngine
import SluiceHost
import SluiceModel
import SluiceSpec
import SluiceStore

/// `sluice status`: every DAG, its schedule, its last run, what waits and what runs.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every DAG: schedule and next fire time, pause, last run, runs queued and running, load errors.")

    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    struct Entry: Encodable {
        let dag: String
        let runs: Int
        let latestRun: RunSummary?
        let paused: Bool
        let schedule: String?
        let timezone: String?
        let nextFireTime: Date?
        let queued: Int
        let running: Int
        let loadedVersion: Int64?
        let file: String?
        let removed: Bool
        let loadError: String?
    }

    struct Output: Encodable {
        struct Broken: Encodable {
            let file: String
            let error: String
        }
        let dags: [Entry]
        let brokenFiles: [Broken]
        let serviceRunning: Bool
    }

    func run() throws {
        let store = try global.openStore()
        RecoverySweep.run(store: store)
        let catalog = DagCatalog(store: store)
        let entries = try catalog.entries()
        let summaries = try RunQueries(store: store).summaries(ids: entries.compactMap(\.latestRunID))
        let output = Output(
            dags: entries.map { entry in
                Entry(
                    dag: entry.dag, runs: entry.runs, latestRun: summaries.first { $0.id == entry.latestRunID },
                    paused: entry.paused, schedule: entry.schedule, timezone: entry.timezone,
                    nextFireTime: Self.nextFire(entry), queued: entry.queued, running: entry.running,
                    loadedVersion: entry.loadedVersion, file: entry.file, removed: entry.removed,
                    loadError: entry.loadError)
            },
            brokenFiles: try catalog.brokenFiles().map { Output.Broken(file: $0.path, error: $0.error) },
            serviceRunning: try ServiceContext.serviceIsRunning(store: store))
        if json {
            try JSONOutput.print(output)
            return
        }
        if output.dags.isEmpty && output.brokenFiles.isEmpty {
            print(
                "no DAGs have run yet; start one with: sluice run dags/FILE.yaml (or serve a folder: sluice serve dags)"
            )
            return
        }
        var table = TextTable("DAG", "SCHEDULE", "NEXT", "LATEST", "STATE", "STARTED", "STEPS", "QUEUED", "RUNNING")
        for entry in output.dags {
            let run = entry.latestRun
            let schedule =
                entry.schedule.map { "\($0)\(entry.timezone.map { " \($0)" } ?? "")\(entry.paused ? " (paused)" : "")" }
                ?? "-"
            let next = entry.removed ? "(file removed)" : entry.paused ? "paused" : Formatting.time(entry.nextFireTime)
            table.add([
                entry.dag, schedule, entry.schedule == nil ? "-" : next, run.map { String($0.id) } ?? "-",
                run?.state.rawValue ?? "-", Formatting.time(run?.startedAt), run.map(StepCounts.text) ?? "-",
                String(entry.queued), String(entry.running),
            ])
        }
        print(table.render())
        let problems =
            output.dags.compactMap { entry in
                entry.loadError.map {
                    "  \(entry.dag) (still runs version \(entry.loadedVersion.map(String.init) ?? "-")):\n\($0)"
                }
            } + output.brokenFiles.map { "  \($0.file):\n\($0.error)" }
        if !problems.isEmpty {
            print("\nfiles that do not load:")
            for problem in problems { print(problem) }
        }
        if output.dags.contains(where: { $0.queued > 0 }) && !output.serviceRunning {
            print("\n\(ServiceContext.noServiceAdvice)")
        }
    }

    /// The next fire time of a DAG's schedule after now (or after the last one queued).
    static func nextFire(_ entry: DAGCatalogEntry) -> Date? {
        guard let text = entry.schedule, !entry.removed, case .success(let schedule) = Schedule.parse(text) else {
            return nil
        }
        return FireTimes(schedule, timezone: entry.timezone).next(after: max(Date(), entry.scheduleFrom ?? Date()))
    }
}
