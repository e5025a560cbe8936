import ArgumentParser
import Foundation
import SluiceBasics
import SluiceHost
import SluiceModel
import SluiceSpec
import SluiceStore

/// `sluice prices`: the price book and its history.
struct PricesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prices", abstract: "Show the price book with its history, set a price, or load sluice.yaml's.",
        subcommands: [PricesListCommand.self, PricesSetCommand.self, PricesSyncCommand.self],
        defaultSubcommand: PricesListCommand.self)
}

/// `sluice prices list`.
struct PricesListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every price ever set, oldest first, marking those in effect now.")

    @Flag(help: "Print as JSON.") var json = false
    @Flag(help: "Print as CSV.") var csv = false
    @OptionGroup var global: GlobalOptions
    @OptionGroup var config: ConfigOption

    func run() throws {
        let history = try PriceBook(store: try global.openStore()).history()
        let now = Date()
        // In effect: the latest row per resource and selectors that has taken effect.
        var current: [String: Int64] = [:]
        for entry in history where entry.effectiveFrom <= now { current[entry.selector] = entry.id }
        let inEffect = Set(current.values)
        if json {
            struct Row: Encodable {
                let entry: PriceEntry
                let inEffect: Bool
                func encode(to encoder: Encoder) throws {
                    try entry.encode(to: encoder)
                    var container = encoder.container(keyedBy: Key.self)
                    try container.encode(inEffect, forKey: Key(stringValue: "in_effect")!)
                }
                struct Key: CodingKey {
                    var stringValue: String
                    var intValue: Int? { nil }
                    init?(stringValue: String) { self.stringValue = stringValue }
                    init?(intValue: Int) { nil }
                }
            }
            try JSONOutput.print(history.map { Row(entry: $0, inEffect: $0.id.map(inEffect.contains) ?? false) })
            return
        }
        if csv {
            var rows = [
                [
                    "id", "resource", "unit", "unit_price", "currency", "basis", "executor", "partition", "host_class",
                    "effective_from", "in_effect", "source", "set_by",
                ]
            ]
            for e in history {
                rows.append([
                    e.id.map(String.init) ?? "", e.resource, e.unit, e.unitPrice, e.currency, e.basis, e.executor ?? "",
                    e.partition ?? "", e.hostClass ?? "", RFC3339.string(e.effectiveFrom),
                    String(e.id.map(inEffect.contains) ?? false), e.source, e.setBy,
                ])
            }
            print(CSV.render(rows), terminator: "")
            return
        }
        if history.isEmpty {
            print(
                "the price book is empty: add prices to \(HostConfig.fileName) (prices:, see docs/cost.md), or run: sluice prices set cpu 0.04"
            )
            return
        }
        var table = TextTable(headers: ["", "FROM", "RESOURCE", "PRICE", "BASIS", "SOURCE", "SET BY"])
        for e in history {
            table.add([
                e.id.map(inEffect.contains) == true ? "*" : "", CostFormat.instant(e.effectiveFrom), e.selector,
                "\(e.unitPrice) \(e.currency)/\(e.unit)", e.basis, e.source, e.setBy,
            ])
        }
        print(table.render())
        print("* in effect now. A new price applies to attempts that end after its FROM; past costs never change.")
        let configured = (try? config.load())?.prices ?? []
        let missing = configured.filter { price in
            !history.contains {
                $0.resource == price.resource && $0.executor == price.executor && $0.partition == price.partition
                    && $0.hostClass == price.hostClass && $0.effectiveFrom == price.effectiveFrom
                    && Decimal(string: $0.unitPrice) == Decimal(string: price.unitPrice)
            }
        }
        if !missing.isEmpty {
            print(
                "note: \(missing.count) price\(missing.count == 1 ? "" : "s") in \(HostConfig.fileName) (\(missing.map(\.source).joined(separator: ", "))) not loaded yet: run, serve or `sluice prices sync` loads them"
            )
        }
    }
}

/// `sluice prices set RESOURCE PRICE`.
struct PricesSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Add a price to the book, in effect from now (or --from); costs already recorded keep their prices.")

    @Argument(
        help: "cpu (per core-hour), memory (per GiB-hour), gpu (per GPU-hour), wall (per hour) or attempt (each).")
    var resource: String
    @Argument(help: "The price of one unit, such as 0.045.") var price: String
    @Option(help: "When it takes effect: a date (2026-12-01, midnight UTC) or an RFC 3339 time (default: now).")
    var from: String?
    @Option(help: "What is charged: max (of requested and used; the default), requested or used.") var basis = "max"
    @Option(help: "Only for attempts of this executor.") var executor: String?
    @Option(help: "Only for attempts with this partition tag.") var partition: String?
    @Option(name: .customLong("host-class"), help: "Only for attempts on hosts of this class.") var hostClass: String?
    @Flag(help: "Print the new entry as JSON.") var json = false
    @OptionGroup var global: GlobalOptions
    @OptionGroup var config: ConfigOption

    func validate() throws {
        guard PriceEntry.units.contains(where: { $0.key == resource }) else {
            throw ValidationError(
                "unknown resource '\(resource)'\(Suggestions.phrase(Suggestions.closest(to: resource, in: PriceEntry.units.map(\.key)))): use cpu, memory, gpu, wall or attempt"
            )
        }
        guard Units.isDecimal(price) else {
            throw ValidationError(
                "'\(price)' is not a price: give a plain number such as 0.045, without a currency sign")
        }
        guard PriceEntry.bases.contains(basis) else {
            throw ValidationError("--basis must be max, requested or used, not '\(basis)'")
        }
        if let from, CostConfig.instant(from) == nil {
            throw ValidationError("--from: '\(from)' is not a date (2026-12-01) or an RFC 3339 time")
        }
    }

    func run() throws {
        let hostConfig = try config.load()
        let store = try global.openStore(create: true)
        try PriceSync.load(hostConfig, into: store)
        var entry = PriceEntry(
            resource: resource, unitPrice: price, currency: hostConfig.currency, basis: basis, executor: executor,
            partition: partition, hostClass: hostClass, effectiveFrom: from.flatMap(CostConfig.instant) ?? Date(),
            source: "cli", setBy: UserIdentity.current.name)
        do {
            try PriceBook(store: store).apply([entry])
        } catch let conflict as PriceConflict {
            throw CLIFailure("prices set: \(conflict.description)", exitCode: ExitCodes.usage)
        }
        entry.id =
            try PriceBook(store: store).history().last {
                $0.selector == entry.selector && abs($0.effectiveFrom.timeIntervalSince(entry.effectiveFrom)) < 0.001
            }?.id
        if json {
            try JSONOutput.print(entry)
        } else {
            print(
                "\(entry.selector): \(price) \(entry.currency) per \(entry.unit) (\(basis)) from \(CostFormat.instant(entry.effectiveFrom))"
            )
        }
    }
}

/// `sluice prices sync`.
struct PricesSyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Load sluice.yaml's prices into the book now (run and serve do it when they start).")

    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions
    @OptionGroup var config: ConfigOption

    func run() throws {
        let hostConfig = try config.load()
        let written = try PriceSync.load(hostConfig, into: try global.openStore(create: true))
        if json {
            struct Output: Encodable {
                let configured: Int
                let written: Int
            }
            try JSONOutput.print(Output(configured: hostConfig.prices.count, written: written))
        } else if hostConfig.prices.isEmpty {
            print("\(hostConfig.file ?? HostConfig.fileName) sets no prices")
        } else {
            print(
                "\(hostConfig.prices.count) prices in \(hostConfig.file ?? HostConfig.fileName); \(written) new or changed"
            )
        }
    }
}

/// Loads the configuration's prices into the database (for `run`, `serve`, `prices`).
enum PriceSync {
    /// Writes what the book lacks; a price that would rewrite history fails at its file:line:column.
    @discardableResult
    static func load(_ config: HostConfig, into store: Store) throws -> Int {
        guard !config.prices.isEmpty else { return 0 }
        let user = UserIdentity.current.name
        let entries = config.prices.map {
            PriceEntry(
                resource: $0.resource, unitPrice: $0.unitPrice, currency: config.currency, basis: $0.basis,
                executor: $0.executor, partition: $0.partition, hostClass: $0.hostClass,
                effectiveFrom: $0.effectiveFrom, source: $0.source, setBy: user)
        }
        do {
            return try PriceBook(store: store).apply(entries)
        } catch let conflict as PriceConflict {
            throw CLIFailure("\(conflict.entry.source): \(conflict.description)", exitCode: ExitCodes.invalidDAG)
        }
    }
}
