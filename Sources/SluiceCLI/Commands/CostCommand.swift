import ArgumentParser
import Foundation
import SluiceBasics
import SluiceModel
import SluiceStore

/// `sluice cost`: what runs cost, by team, DAG, step or any tag.
struct CostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cost",
        abstract: "Report what attempts cost, wasted and saved, grouped by tags; per run; the top spenders.",
        discussion: """
            Every attempt gets cost lines when it ends: per resource, max(requested, used) × hours (or the basis its
            price names) at the price in effect then. WASTE is what attempts that did not succeed cost (failed,
            OOM-killed, timed out, and the failed tries of retried steps); UNUSED is what was requested but not used;
            SAVED is what cached steps did not spend. Periods are in UTC. See docs/cost.md.
            """,
        subcommands: [CostReportCommand.self, CostRunCommand.self, CostTopCommand.self, CostBackfillCommand.self],
        defaultSubcommand: CostReportCommand.self)
}

/// `--since`, `--month` or `--from`/`--to`: the period a report covers, as [from, to) in UTC.
struct CostPeriod: ParsableArguments {
    @Option(help: "The period up to now: 30d, 12h, 365d (default: 30d).") var since: String?
    @Option(help: "One calendar month in UTC: 2026-10.") var month: String?
    @Option(help: "From this date or time (UTC unless it says its zone).") var from: String?
    @Option(help: "Up to this date or time (exclusive; default: now).") var to: String?

    /// The period and how to say it.
    func resolve(now: Date = Date()) throws -> (from: Date, to: Date, label: String) {
        let given = [since != nil, month != nil, from != nil || to != nil].filter { $0 }.count
        if given > 1 {
            throw CLIFailure("give one of --since, --month, or --from/--to", exitCode: ExitCodes.usage)
        }
        if let month {
            let parts = month.split(separator: "-")
            guard parts.count == 2, parts[0].count == 4, let year = Int(parts[0]), let number = Int(parts[1]),
                (1...12).contains(number)
            else { throw CLIFailure("--month: '\(month)' is not a month such as 2026-10", exitCode: ExitCodes.usage) }
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let start = calendar.date(from: DateComponents(year: year, month: number, day: 1))!
            let end = calendar.date(byAdding: .month, value: 1, to: start)!
            return (start, end, "month \(month) (UTC)")
        }
        if from != nil || to != nil {
            let utc = TimeZone(identifier: "UTC")!
            guard let start = from.map({ InstantParsing.parse($0, zone: utc) }) ?? Date(timeIntervalSince1970: 0)
            else { throw CLIFailure("--from: '\(from!)' is not a date or time", exitCode: ExitCodes.usage) }
            guard let end = to.map({ InstantParsing.parse($0, zone: utc) }) ?? now else {
                throw CLIFailure("--to: '\(to!)' is not a date or time", exitCode: ExitCodes.usage)
            }
            guard start < end else { throw CLIFailure("--from must be before --to", exitCode: ExitCodes.usage) }
            return (start, end, "\(CostFormat.instant(start)) to \(CostFormat.instant(end)) (UTC)")
        }
        let text = since ?? "30d"
        guard let seconds = Units.duration(text), seconds > 0 else {
            throw CLIFailure("--since: '\(text)' is not a duration such as 30d, 12h or 365d", exitCode: ExitCodes.usage)
        }
        return (now.addingTimeInterval(-seconds), now, "last \(text)")
    }
}

/// `--by`: group keys, as given (`team`, `tag:cost_center`, `step`).
struct CostGrouping: ParsableArguments {
    @Option(
        name: .customLong("by"), parsing: .singleValue,
        help: ArgumentHelp(
            "Group by team, dag, step, kind, owner, executor or tag:KEY; repeat (or comma-separate) for several.",
            valueName: "key"))
    var by: [String] = []

    /// The tag keys to group by (`step` stays itself: DAG and step together).
    func keys(default fallback: String) throws -> [String] {
        let given = by.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        let keys = given.isEmpty ? [fallback] : given
        return try keys.map { key in
            let tag = key.hasPrefix("tag:") ? String(key.dropFirst(4)) : key
            guard !tag.isEmpty, tag.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-./".contains($0)) })
            else {
                throw CLIFailure(
                    "--by: '\(key)' is not a tag key: use team, dag, step, kind, owner, executor or tag:KEY",
                    exitCode: ExitCodes.usage)
            }
            return tag
        }
    }
}

/// `sluice cost [report]`.
struct CostReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Cost per group over a period, with totals, waste, unused and savings.")

    @OptionGroup var grouping: CostGrouping
    @OptionGroup var period: CostPeriod
    @Option(help: "Only this DAG's attempts.") var dag: String?
    @Flag(help: "One row per UTC day and group, with a bar each.") var daily = false
    @Flag(help: "Print as JSON.") var json = false
    @Flag(help: "Print as CSV.") var csv = false
    @OptionGroup var global: GlobalOptions

    func validate() throws { if json && csv { throw ValidationError("give --json or --csv, not both") } }

    func run() throws {
        let keys = try grouping.keys(default: "team")
        let (from, to, label) = try period.resolve()
        let store = try global.openStore()
        let groups = try CostQueries(store: store).report(
            CostFilter(from: from, to: to, by: keys, daily: daily, dag: dag))
        var output = CostReportOutput(
            keys: keys, from: from, to: to, label: label, currency: try currency(store), groups: groups)
        output.backfillPending = try CostQueries(store: store).backfillPending() != nil
        try output.print(json: json, csv: csv, daily: daily)
    }
}

/// `sluice cost top`.
struct CostTopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top", abstract: "The groups that cost the most over a period (default: steps, last 30 days).")

    @OptionGroup var grouping: CostGrouping
    @OptionGroup var period: CostPeriod
    @Option(help: "How many to show.") var limit = 10
    @Flag(help: "Print as JSON.") var json = false
    @Flag(help: "Print as CSV.") var csv = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
        if json && csv { throw ValidationError("give --json or --csv, not both") }
    }

    func run() throws {
        let keys = try grouping.keys(default: "step")
        let (from, to, label) = try period.resolve()
        let store = try global.openStore()
        let groups = try CostQueries(store: store).report(CostFilter(from: from, to: to, by: keys))
        var output = CostReportOutput(
            keys: keys, from: from, to: to, label: label, currency: try currency(store),
            groups: Array(groups.sorted { $0.amount > $1.amount }.prefix(limit)), top: groups.count)
        output.backfillPending = try CostQueries(store: store).backfillPending() != nil
        try output.print(json: json, csv: csv, daily: false)
    }
}

/// The currency of the price book (its first row's), USD when the book is empty.
private func currency(_ store: Store) throws -> String {
    try PriceBook(store: store).history().first?.currency ?? "USD"
}

/// A cost report in text (a table with a bar per group), JSON or CSV.
struct CostReportOutput: Encodable {
    let keys: [String]
    let from: Date, to: Date
    let label: String
    let currency: String
    let groups: [CostGroup]
    /// For `top`: how many groups there were in all.
    var top: Int?
    /// Attempts from before costs were kept have no lines yet (`sluice cost backfill` gives them some).
    var backfillPending = false

    struct Totals: Encodable {
        let attempts: Int, failedAttempts: Int, hours: Double, amount: Double, waste: Double, unused: Double
        let cachedSteps: Int, saved: Double, unpricedAttempts: Int

        enum CodingKeys: String, CodingKey {
            case attempts, hours, amount, waste, unused, saved
            case failedAttempts = "failed_attempts"
            case cachedSteps = "cached_steps"
            case unpricedAttempts = "unpriced_attempts"
        }
    }

    var totals: Totals {
        Totals(
            attempts: groups.reduce(0) { $0 + $1.attempts },
            failedAttempts: groups.reduce(0) { $0 + $1.failedAttempts },
            hours: groups.reduce(0) { $0 + $1.hours }, amount: groups.reduce(0) { $0 + $1.amount },
            waste: groups.reduce(0) { $0 + $1.waste }, unused: groups.reduce(0) { $0 + $1.unused },
            cachedSteps: groups.reduce(0) { $0 + $1.cachedSteps }, saved: groups.reduce(0) { $0 + $1.saved },
            unpricedAttempts: groups.reduce(0) { $0 + $1.unpricedAttempts })
    }

    enum CodingKeys: String, CodingKey {
        case by, from, to, currency, groups, totals
        case groupsInAll = "groups_in_all"
        case backfillPending = "backfill_pending"
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(keys, forKey: .by)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encode(currency, forKey: .currency)
        try container.encode(groups, forKey: .groups)
        try container.encode(totals, forKey: .totals)
        try container.encodeIfPresent(top, forKey: .groupsInAll)
        try container.encode(backfillPending, forKey: .backfillPending)
    }

    func print(json: Bool, csv: Bool, daily: Bool) throws {
        if json { return try JSONOutput.print(self) }
        let columns = [
            "attempts", "failed_attempts", "hours", "amount", "waste", "unused", "cached_steps", "saved",
            "unpriced_attempts",
        ]
        if csv {
            var rows = [(daily ? ["day"] : []) + keys + columns + ["currency"]]
            for g in groups {
                rows.append(
                    (daily ? [g.day ?? ""] : []) + g.keys
                        + [
                            String(g.attempts), String(g.failedAttempts), CostFormat.plain(g.hours),
                            CostFormat.plain(g.amount), CostFormat.plain(g.waste), CostFormat.plain(g.unused),
                            String(g.cachedSteps), CostFormat.plain(g.saved), String(g.unpricedAttempts), currency,
                        ])
            }
            return SluiceCLI.print(CSV.render(rows), terminator: "")
        }
        let t = totals
        SluiceCLI.print("cost by \(keys.joined(separator: ", ")), \(label), \(currency)")
        if backfillPending {
            SluiceCLI.print(
                "note: attempts recorded before costs were kept are not counted yet; run: sluice cost backfill")
        }
        if groups.isEmpty {
            SluiceCLI.print("no attempts ended in this period")
            return
        }
        var table = TextTable(
            headers: (daily ? ["DAY"] : []) + keys.map { $0.uppercased() }
                + ["ATTEMPTS", "FAILED", "HOURS", "COST", "WASTE", "UNUSED", "SAVED", ""])
        let widest = groups.map(\.amount).max() ?? 0
        for g in groups {
            table.add(
                (daily ? [g.day ?? ""] : []) + g.keys
                    + [
                        String(g.attempts), String(g.failedAttempts), String(format: "%.2f", g.hours),
                        CostFormat.money(g.amount), CostFormat.money(g.waste), CostFormat.money(g.unused),
                        CostFormat.money(g.saved), CostFormat.bar(g.amount, of: widest),
                    ])
        }
        table.add(
            (daily ? ["total"] : []) + keys.enumerated().map { i, _ in i == 0 && !daily ? "total" : "" }
                + [
                    String(t.attempts), String(t.failedAttempts), String(format: "%.2f", t.hours),
                    CostFormat.money(t.amount), CostFormat.money(t.waste), CostFormat.money(t.unused),
                    CostFormat.money(t.saved), "",
                ])
        SluiceCLI.print(table.render())
        if let top, top > groups.count { SluiceCLI.print("(\(groups.count) of \(top) groups)") }
        if t.amount > 0 {
            SluiceCLI.print(
                "waste \(CostFormat.percent(t.waste / t.amount)) of cost; unused requests \(CostFormat.percent(t.unused / t.amount))"
            )
        }
        if t.unpricedAttempts > 0 {
            SluiceCLI.print(
                "note: \(t.unpricedAttempts) attempt\(t.unpricedAttempts == 1 ? "" : "s") had resources no price covered (counted at 0); add prices with a `from` that covers them, then run: sluice cost backfill"
            )
        }
    }
}

/// `sluice cost run RUN`.
struct CostRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "What one run cost, per step and attempt, with each resource's line.")

    @Argument(help: ArgumentHelp("The run id, or 'latest'.", valueName: "run")) var runReference: String
    @Flag(help: "Print as JSON.") var json = false
    @Flag(help: "Print as CSV (one row per cost line).") var csv = false
    @OptionGroup var global: GlobalOptions

    func validate() throws { if json && csv { throw ValidationError("give --json or --csv, not both") } }

    func run() throws {
        let store = try global.openStore()
        let queries = CostQueries(store: store)
        let runID = try RunReference.resolve(runReference, queries: RunQueries(store: store))
        guard try queries.runExists(runID) else {
            throw CLIFailure("no run \(runID) (see: sluice runs)", exitCode: ExitCodes.notFound)
        }
        let (attempts, cached) = try queries.run(runID)
        let money = try currency(store)
        let total = attempts.compactMap(\.amount).reduce(0, +)
        let waste = attempts.filter(\.waste).compactMap(\.amount).reduce(0, +)
        let saved = cached.compactMap(\.saved).reduce(0, +)
        if json {
            struct Output: Encodable {
                let run: Int64, currency: String, amount: Double, waste: Double, saved: Double
                let attempts: [AttemptCost], cached: [CachedSaving]
            }
            return try JSONOutput.print(
                Output(
                    run: runID, currency: money, amount: total, waste: waste, saved: saved, attempts: attempts,
                    cached: cached))
        }
        if csv {
            var rows = [
                [
                    "step", "attempt", "state", "resource", "unit", "basis", "requested", "used", "hours", "quantity",
                    "unused", "price_id", "unit_price", "amount", "currency",
                ]
            ]
            for a in attempts {
                for l in a.lines {
                    rows.append([
                        a.step, String(a.number), a.state, l.resource, l.unit, l.basis, CostFormat.plain(l.requested),
                        CostFormat.plain(l.used), CostFormat.plain(l.hours), CostFormat.plain(l.quantity),
                        CostFormat.plain(l.unused), l.priceID.map(String.init) ?? "", CostFormat.plain(l.unitPrice),
                        CostFormat.plain(l.amount), money,
                    ])
                }
            }
            return print(CSV.render(rows), terminator: "")
        }
        print("run \(runID): \(CostFormat.money(total)) \(money)")
        var table = TextTable(headers: [
            "STEP", "ATTEMPT", "STATE", "CPU REQ/USED", "MEM REQ/PEAK", "HOURS", "COST", "",
        ])
        for a in attempts {
            let cpu = a.lines.first { $0.resource == "cpu" }
            let memory = a.lines.first { $0.resource == "memory" }
            let gib = 1024.0 * 1024 * 1024
            table.add([
                a.step, String(a.number), a.state,
                "\(CostFormat.cores(cpu?.requested))/\(cpu?.used.map { String(format: "%.2f", $0) } ?? "-")",
                "\(Formatting.bytes(memory?.requested.map { Int64($0 * gib) }))/\(Formatting.bytes(memory?.used.map { Int64($0 * gib) }))",
                String(format: "%.4f", cpu?.hours ?? 0), a.amount.map(CostFormat.money) ?? "-",
                a.waste ? "waste" : (a.lines.contains { $0.priceID == nil } ? "unpriced" : ""),
            ])
        }
        print(table.render())
        if waste > 0 { print("waste: \(CostFormat.money(waste)) \(money) in attempts that did not succeed") }
        for c in cached {
            print(
                "cached: \(c.step) reused attempt \(c.reusedAttempt), saving \(c.saved.map(CostFormat.money) ?? "an unpriced amount") \(money)"
            )
        }
    }
}

/// `sluice cost backfill`.
struct CostBackfillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Cost attempts that ended before costs were kept, and price lines no price covered when written.",
        discussion: """
            Lines already priced never change. An attempt recorded before tags were kept gets its dag and step as
            tags; other keys report it as (untagged).
            """)

    @Flag(name: .customLong("dry-run"), help: "Count what would be done; change nothing.") var dryRun = false
    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions
    @OptionGroup var config: ConfigOption

    func run() throws {
        let store = try global.openStore()
        if !dryRun { try PriceSync.load(try config.load(), into: store) }
        let result = try PriceBook(store: store).backfill(dryRun: dryRun)
        if json { return try JSONOutput.print(result) }
        if dryRun {
            print(
                "\(result.attemptsWithoutLines) ended attempts have no cost lines; \(result.attemptsUnpriced) have lines without a price"
            )
        } else {
            print(
                "costed \(result.attemptsCosted) attempts; priced \(result.attemptsPriced); \(result.attemptsStillUnpriced) still have no price (no price covers when they ended)"
            )
        }
    }
}
