import ArgumentParser
import Foundation
import SluiceBasics
import SluiceModel
import SluiceStore

/// `sluice diff RUN RUN`: two runs side by side: code, params, input and output versions, metrics.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract:
            "Two runs side by side: code version, params, input versions, output versions and metrics; differences marked."
    )

    @Argument(help: ArgumentHelp("The first run id, or 'latest'.", valueName: "run")) var first: String
    @Argument(help: ArgumentHelp("The second run id, or 'latest'.", valueName: "run")) var second: String
    @Flag(help: "Print as JSON.") var json = false
    @Flag(help: "Only the rows that differ.") var changedOnly = false
    @OptionGroup var global: GlobalOptions

    /// One compared value.
    struct Row: Encodable {
        /// `code`, `param`, `input`, `output`, `metric` or `state`.
        let section: String
        /// The step it belongs to (empty for the run).
        let step: String
        /// What is compared: a param's name, a data name, a metric.
        let item: String
        let left: String?
        let right: String?
        let differs: Bool
    }

    /// The JSON answer.
    struct Answer: Encodable {
        let runs: [Int64]
        let rows: [Row]
        let differences: Int
    }

    func run() throws {
        let a = try RunReference.detail(first, global: global)
        let b = try RunReference.detail(second, global: global)
        var rows: [Row] = []
        func add(_ section: String, _ step: String, _ item: String, _ left: String?, _ right: String?) {
            rows.append(Row(section: section, step: step, item: item, left: left, right: right, differs: left != right))
        }
        for name in Set(a.params.keys).union(b.params.keys).sorted() {
            add("param", "", name, a.params[name], b.params[name])
        }
        add("code", "", "dag file", a.sourcePath, b.sourcePath)
        let codeA = a.attempts.compactMap(\.code).first
        let codeB = b.attempts.compactMap(\.code).first
        add("code", "", "DAG version", codeA?.dagHash, codeB?.dagHash)
        add("code", "", "git commit", codeA.map { Self.commit($0) }, codeB.map { Self.commit($0) })
        let steps = a.steps.map(\.step) + b.steps.map(\.step).filter { key in !a.steps.contains { $0.step == key } }
        for step in steps {
            let left = a.steps.first { $0.step == step }
            let right = b.steps.first { $0.step == step }
            let stateOf = { (detail: StepDetail?) in
                detail.map { $0.reusedAttempt.map { reused in "cached (attempt \(reused))" } ?? $0.state.rawValue }
            }
            add("state", step, "state", stateOf(left), stateOf(right))
            let attemptA = Self.effective(step, in: a)
            let attemptB = Self.effective(step, in: b)
            add("code", step, "fingerprint", attemptA?.fingerprint, attemptB?.fingerprint)
            Self.compare("input", step, attemptA?.inputs ?? [], attemptB?.inputs ?? [], add)
            Self.compare("output", step, attemptA?.outputData ?? [], attemptB?.outputData ?? [], add)
            let metricsA = attemptA?.metrics ?? [:]
            let metricsB = attemptB?.metrics ?? [:]
            for name in Set(metricsA.keys).union(metricsB.keys).sorted() {
                add(
                    "metric", step, name, metricsA[name].map { Units.formatNumber($0) },
                    metricsB[name].map { Units.formatNumber($0) })
            }
        }
        let shown = changedOnly ? rows.filter(\.differs) : rows
        if json {
            try JSONOutput.print(
                Answer(runs: [a.run.id, b.run.id], rows: shown, differences: rows.filter(\.differs).count))
            return
        }
        var table = TextTable("", "SECTION", "STEP", "ITEM", "RUN \(a.run.id)", "RUN \(b.run.id)")
        for row in shown {
            table.add([
                row.differs ? "≠" : "", row.section, row.step, row.item, Self.short(row.left), Self.short(row.right),
            ])
        }
        print(table.render())
        let count = rows.filter(\.differs).count
        print("\n\(count == 0 ? "no differences" : "\(count) difference\(count == 1 ? "" : "s")")")
    }

    /// The attempt whose work a step's result is: its last attempt, or for a cached step the reused one's
    /// pins as recorded in its own run.
    static func effective(_ step: String, in detail: RunDetail) -> AttemptDetail? {
        detail.attempts.last { $0.step == step }
    }

    static func commit(_ code: CodeDetail) -> String {
        (code.commit ?? "none") + (code.dirty ? " + uncommitted \(code.changes?.prefix(12) ?? "")" : "")
    }

    static func compare(
        _ section: String, _ step: String, _ left: [DataEdge], _ right: [DataEdge],
        _ add: (String, String, String, String?, String?) -> Void
    ) {
        let names = Set(left.map(\.name)).union(right.map(\.name)).sorted()
        for name in names {
            add(section, step, name, left.first { $0.name == name }?.version, right.first { $0.name == name }?.version)
        }
    }

    static func short(_ value: String?) -> String {
        guard let value else { return "-" }
        return value.hasPrefix("sha256:")
            ? String(value.prefix(19)) : (value.count > 40 ? String(value.prefix(40)) + "…" : value)
    }
}
