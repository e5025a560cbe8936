import ArgumentParser
import Foundation
import SluiceBasics
import SluiceEngine
import SluiceModel
import SluiceSpec
import SluiceStore

/// Turns `2026-03-29`, `2026-03-29T02:30` or an RFC 3339 instant into an instant, in `zone` unless it says its own.
enum InstantParsing {
    static func parse(_ text: String, zone: TimeZone, endOfDay: Bool = false) -> Date? {
        let rfc = ISO8601DateFormatter()
        rfc.formatOptions = [.withInternetDateTime]
        if let instant = rfc.date(from: text) { return instant }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = text.split(whereSeparator: { $0 == "T" || $0 == " " })
        let date = parts.first.map { $0.split(separator: "-").compactMap { Int($0) } } ?? []
        guard date.count == 3 else { return nil }
        var components = DateComponents(year: date[0], month: date[1], day: date[2])
        if parts.count == 2 {
            let time = parts[1].split(separator: ":").compactMap { Int($0) }
            guard time.count >= 2 else { return nil }
            components.hour = time[0]
            components.minute = time[1]
            components.second = time.count > 2 ? time[2] : 0
        } else if endOfDay {
            components.hour = 23
            components.minute = 59
            components.second = 59
        }
        return calendar.date(from: components)
    }
}

/// One fire time as `next` and `backfill` print it in JSON.
struct FireTimeOutput: Encodable {
    /// The wall time in the DAG's zone.
    let local: String
    /// The zone's offset from UTC then.
    let offset: String
    /// The instant.
    let utc: Date
    /// `backfill`: the run queued for it (absent in a dry run, or when it was queued before).
    let run: Int64?
    /// `backfill`: true when a schedule pass or an earlier backfill queued it already.
    let alreadyQueued: Bool?

    init(_ fire: Date, times: FireTimes, run: Int64? = nil, alreadyQueued: Bool? = nil) {
        local = times.wallTime(fire)
        offset = times.offset(at: fire)
        utc = fire
        self.run = run
        self.alreadyQueued = alreadyQueued
    }
}

/// `sluice next FILE|DAG`: the next fire times of a schedule.
struct NextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next", abstract: "Print the next fire times of a DAG's schedule, in its time zone and in UTC.",
        discussion: """
            A wall time skipped when clocks go forward fires once, at the first instant after the gap; one that happens
            twice when clocks go back fires once, the first time. See docs/service.md.
            """)

    @Argument(help: "A DAG file, or the id of a DAG the database knows.") var dag: String
    @Option(help: "How many fire times.") var count: Int = 5
    @Option(
        help: ArgumentHelp(
            "Start after this instant (RFC 3339, or a date/time in the DAG's zone; default: now).", valueName: "time"))
    var after: String?
    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    struct Output: Encodable {
        let dag: String
        let schedule: String
        let timezone: String
        let fireTimes: [FireTimeOutput]
    }

    func validate() throws {
        if count < 1 || count > 10_000 { throw ValidationError("--count must be from 1 to 10000") }
    }

    func run() throws {
        let spec: DAGSpec
        if dag.hasSuffix(".yaml") || dag.hasSuffix(".yml") || dag.contains("/") {
            spec = try SpecLoader.load(path: dag)
        } else {
            spec = try ServiceContext.spec(of: dag, store: try global.openStore()).spec
        }
        guard let schedule = spec.schedule else {
            throw CLIFailure("\(spec.name) has no schedule; it runs only when started", exitCode: ExitCodes.invalidDAG)
        }
        let times = FireTimes(schedule, timezone: spec.timezone)
        var cursor = Date()
        if let after {
            guard let parsed = InstantParsing.parse(after, zone: times.zone) else {
                throw CLIFailure("--after: '\(after)' is not a date or time", exitCode: ExitCodes.usage)
            }
            cursor = parsed
        }
        var fires: [FireTimeOutput] = []
        while fires.count < count, let next = times.next(after: cursor) {
            fires.append(FireTimeOutput(next, times: times))
            cursor = next
        }
        let zone = spec.timezone ?? "UTC"
        if json {
            try JSONOutput.print(Output(dag: spec.name, schedule: schedule.text, timezone: zone, fireTimes: fires))
            return
        }
        if fires.isEmpty { print("\(spec.name): '\(schedule.text)' never fires") }
        var table = TextTable("\(zone.uppercased() == "UTC" ? "UTC" : zone)", "OFFSET", "UTC")
        for fire in fires {
            table.add([
                fire.local, fire.offset,
                String(JSONOutput.rfc3339(fire.utc).prefix(16)).replacingOccurrences(of: "T", with: " "),
            ])
        }
        print("\(spec.name): \(schedule.text) (\(zone))")
        print(table.render())
    }
}

/// `sluice backfill DAG --from D --to D`: queue the fire times of a range.
struct BackfillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill", abstract: "Queue a run for every fire time of a DAG's schedule in a range.",
        discussion: """
            --from and --to are dates (whole days, in the DAG's zone) or instants. A fire time already queued (by the
            schedule or an earlier backfill) is not queued again. Exit codes: 0 queued, 2 the DAG has no schedule,
            5 no such DAG, 64 a bad range.
            """)

    @Argument(help: "The DAG's id.") var dag: String
    @Option(help: ArgumentHelp("The first day (or instant) of the range.", valueName: "date")) var from: String
    @Option(help: ArgumentHelp("The last day (or instant) of the range.", valueName: "date")) var to: String
    @Flag(name: .customLong("dry-run"), help: "Print the fire times; queue nothing.") var dryRun = false
    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    struct Output: Encodable {
        let dag: String
        let dryRun: Bool
        let fireTimes: [FireTimeOutput]
        let queued: Int
    }

    func run() throws {
        let store = try global.openStore()
        let (versionID, spec) = try ServiceContext.spec(of: dag, store: store)
        guard let schedule = spec.schedule else {
            throw CLIFailure(
                "\(dag) has no schedule, so it has no fire times to backfill", exitCode: ExitCodes.invalidDAG)
        }
        let times = FireTimes(schedule, timezone: spec.timezone)
        guard let start = InstantParsing.parse(from, zone: times.zone),
            let end = InstantParsing.parse(to, zone: times.zone, endOfDay: true), start <= end
        else {
            throw CLIFailure("--from and --to must be dates or times, --from not after --to", exitCode: ExitCodes.usage)
        }
        let fires = times.between(after: start.addingTimeInterval(-0.001), upTo: end)
        let catalog = DagCatalog(store: store)
        var done: [FireTimeOutput] = []
        for fire in fires {
            let line = "\(times.wallTime(fire)) \(times.offset(at: fire))"
            var run: Int64?
            if dryRun {
                if !json { print("would queue \(line)") }
            } else {
                let request = RunRequest(
                    versionID: versionID, params: [:], logicalDate: times.localDate(fire), trigger: "backfill",
                    triggeredBy: UserIdentity.current.name, scheduledFor: fire, intervalEnd: times.next(after: fire))
                run = try catalog.enqueueBackfill(request)
                if !json { print(run.map { "queued run \($0) for \(line)" } ?? "already queued: \(line)") }
            }
            done.append(FireTimeOutput(fire, times: times, run: run, alreadyQueued: dryRun ? nil : run == nil))
        }
        let queued = done.filter { $0.run != nil }.count
        if json {
            try JSONOutput.print(Output(dag: dag, dryRun: dryRun, fireTimes: done, queued: queued))
            return
        }
        print(
            "\(fires.count) fire time\(fires.count == 1 ? "" : "s") in the range\(dryRun ? "" : ", \(queued) queued")")
        if !dryRun, queued > 0, try !ServiceContext.serviceIsRunning(store: store) {
            Terminal.printError("sluice: \(ServiceContext.noServiceAdvice)")
        }
        if try !dryRun && queued > 0 && !ServiceContext.serviceIsRunning(store: store) {
            Terminal.printError("sluice: \(ServiceContext.noServiceAdvice)")
        }
    }
}

/// `sluice dags`: list DAGs, pause and resume their schedules.
struct DagsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dags", abstract: "List DAGs; pause or resume a DAG's schedule.",
        subcommands: [DagsListCommand.self, DagsPauseCommand.self, DagsUnpauseCommand.self],
        defaultSubcommand: DagsListCommand.self)
}

/// `sluice dags list`.
struct DagsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List every DAG and its schedule.")

    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let entries = try DagCatalog(store: try global.openStore()).entries()
        if json {
            try JSONOutput.print(["dags": entries])
            return
        }
        var table = TextTable("DAG", "SCHEDULE", "ZONE", "PAUSED", "FILE")
        for entry in entries {
            table.add([
                entry.dag, entry.schedule ?? "-", entry.timezone ?? (entry.schedule == nil ? "-" : "UTC"),
                entry.paused ? "yes" : "no", entry.removed ? "(removed)" : entry.file ?? "-",
            ])
        }
        print(table.render())
    }
}

/// `sluice dags pause NAME`.
struct DagsPauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Pause a DAG's schedule (it can still be triggered).")

    @Argument(help: "The DAG's id.") var dag: String
    @OptionGroup var global: GlobalOptions

    func run() throws {
        guard try DagCatalog(store: try global.openStore()).setPaused(dag, true) else {
            throw CLIFailure("no DAG '\(dag)' is known", exitCode: ExitCodes.notFound)
        }
        print("paused \(dag): its schedule waits; sluice trigger still starts runs")
    }
}

/// `sluice dags unpause NAME`.
struct DagsUnpauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unpause", abstract: "Resume a DAG's schedule.")

    @Argument(help: "The DAG's id.") var dag: String
    @OptionGroup var global: GlobalOptions

    func run() throws {
        guard try DagCatalog(store: try global.openStore()).setPaused(dag, false) else {
            throw CLIFailure("no DAG '\(dag)' is known", exitCode: ExitCodes.notFound)
        }
        print("resumed \(dag)")
    }
}
