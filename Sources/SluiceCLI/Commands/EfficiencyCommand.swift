import ArgumentParser
import Foundation
import SluiceModel
import SluiceStore

/// `sluice efficiency`: per step, what was used of what was asked for, and the request to ask for instead.
struct EfficiencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "efficiency",
        abstract: "Per step: used against requested CPU and memory, OOM kills and timeouts, and a right-sized request.",
        discussion: """
            CPU used is an attempt's average cores (CPU seconds over wall seconds); memory used is its peak. The
            median (p50) and 95th percentile (p95) over the period's attempts are shown against the step's current
            request (its latest attempt's).
            The recommended memory is the 95th-percentile peak plus 20% headroom, rounded up (to 64 MiB below 1 GiB,
            to whole GiB above); after an OOM kill, at least what the kill's message suggested. The recommended CPU
            is the 95th-percentile use plus 20%, rounded up to a quarter core; a step that used 90% or more of its
            request keeps it. SAVES is what the period's attempts would have cost less at the recommended request
            (negative: the recommendation costs more, to stop failures). See docs/cost.md.
            """)

    @Option(help: "Only this DAG's steps.") var dag: String?
    @OptionGroup var period: CostPeriod
    @Flag(help: "Print as JSON.") var json = false
    @Flag(help: "Print as CSV.") var csv = false
    @OptionGroup var global: GlobalOptions

    func validate() throws { if json && csv { throw ValidationError("give --json or --csv, not both") } }

    /// One step's figures and recommendation.
    struct Row: Encodable {
        let usage: StepUsage
        let recommendedCPUs: Double?
        let recommendedMemory: Int64?
        let saves: Double
        let advice: [String]

        enum CodingKeys: String, CodingKey {
            case dag, step, attempts, cpu, memory
            case oomKills = "oom_kills"
            case timeouts
            case cost = "cost"
            case saves, advice
        }

        struct Resource: Encodable {
            let requested: Double?
            let usedP50: Double?, usedP95: Double?
            let ratioP50: Double?, ratioP95: Double?
            let recommended: Double?
            enum CodingKeys: String, CodingKey {
                case requested, recommended
                case usedP50 = "used_p50"
                case usedP95 = "used_p95"
                case ratioP50 = "used_over_requested_p50"
                case ratioP95 = "used_over_requested_p95"
            }
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(usage.dag, forKey: .dag)
            try c.encode(usage.step, forKey: .step)
            try c.encode(usage.attempts, forKey: .attempts)
            let memoryRequested = usage.memoryRequested.map(Double.init)
            try c.encode(
                Resource(
                    requested: usage.cpuRequested, usedP50: usage.cpuUsedP50, usedP95: usage.cpuUsedP95,
                    ratioP50: StepUsage.ratio(usage.cpuUsedP50, usage.cpuRequested),
                    ratioP95: StepUsage.ratio(usage.cpuUsedP95, usage.cpuRequested), recommended: recommendedCPUs),
                forKey: .cpu)
            try c.encode(
                Resource(
                    requested: memoryRequested, usedP50: usage.memoryPeakP50.map(Double.init),
                    usedP95: usage.memoryPeakP95.map(Double.init),
                    ratioP50: StepUsage.ratio(usage.memoryPeakP50.map(Double.init), memoryRequested),
                    ratioP95: StepUsage.ratio(usage.memoryPeakP95.map(Double.init), memoryRequested),
                    recommended: recommendedMemory.map(Double.init)), forKey: .memory)
            try c.encode(usage.oomKills, forKey: .oomKills)
            try c.encode(usage.timeouts, forKey: .timeouts)
            try c.encode(usage.amount, forKey: .cost)
            try c.encode(saves, forKey: .saves)
            try c.encode(advice, forKey: .advice)
        }
    }

    func run() throws {
        let (from, to, label) = try period.resolve()
        let store = try global.openStore()
        let queries = CostQueries(store: store)
        let usage = try queries.usage(from: from, to: to, dag: dag, alongside: try store.openConnection())
        var sizing: [CostQueries.Sizing] = []
        var recommended: [Int64: (cpus: Double?, memory: Int64?)] = [:]
        for step in usage {
            let cpus = Sizing.recommendCPU(p95Used: step.cpuUsedP95, requested: step.cpuRequested)
            let memory = Sizing.recommendMemory(
                p95Peak: step.memoryPeakP95, requested: step.memoryRequested, oomKills: step.oomKills)
            recommended[step.stepSetID] = (cpus, memory)
            if let cpus, let memory { sizing.append(.init(stepSetID: step.stepSetID, cpus: cpus, memory: memory)) }
        }
        let savings = try queries.savings(from: from, to: to, usage: usage, sizing: sizing)
        let rows = usage.map { step -> Row in
            let key = step.stepSetID
            let rec = recommended[key]
            var advice: [String] = []
            if step.oomKills > 0, let memory = rec?.memory {
                advice.append(
                    "\(step.oomKills) OOM kill\(step.oomKills == 1 ? "" : "s"): raise resources.memory to \(Sizing.memoryText(memory))"
                )
            }
            if step.timeouts > 0 {
                advice.append(
                    "\(step.timeouts) timeout\(step.timeouts == 1 ? "" : "s"): raise timeout or make the step faster")
            }
            if let cpus = rec?.cpus, let now = step.cpuRequested, cpus == now,
                let p95 = step.cpuUsedP95, p95 >= now * Sizing.cpuBoundShare
            {
                advice.append("uses all the CPU it asks for; more cpus may make it faster")
            }
            return Row(
                usage: step, recommendedCPUs: rec?.cpus, recommendedMemory: rec?.memory, saves: savings[key] ?? 0,
                advice: advice)
        }
        if json {
            struct Output: Encodable {
                let from: Date, to: Date, steps: [Row]
                let headroom: Double
            }
            return try JSONOutput.print(Output(from: from, to: to, steps: rows, headroom: Sizing.memoryHeadroom))
        }
        if csv {
            var lines = [
                [
                    "dag", "step", "attempts", "cpu_requested", "cpu_used_p50", "cpu_used_p95", "cpu_recommended",
                    "memory_requested", "memory_peak_p50", "memory_peak_p95", "memory_recommended", "oom_kills",
                    "timeouts", "cost", "saves",
                ]
            ]
            for r in rows {
                let u = r.usage
                lines.append([
                    u.dag, u.step, String(u.attempts), CostFormat.plain(u.cpuRequested), CostFormat.plain(u.cpuUsedP50),
                    CostFormat.plain(u.cpuUsedP95), CostFormat.plain(r.recommendedCPUs),
                    u.memoryRequested.map(String.init) ?? "", u.memoryPeakP50.map(String.init) ?? "",
                    u.memoryPeakP95.map(String.init) ?? "", r.recommendedMemory.map(String.init) ?? "",
                    String(u.oomKills), String(u.timeouts), CostFormat.plain(u.amount), CostFormat.plain(r.saves),
                ])
            }
            return print(CSV.render(lines), terminator: "")
        }
        print("efficiency, \(label): used against requested (p50/p95), and a right-sized request")
        if rows.isEmpty {
            print("no attempts ended in this period")
            return
        }
        var table = TextTable(
            headers: [
                "STEP", "ATTEMPTS", "CPU USED p50/p95", "MEM USED p50/p95", "OOM", "TIMEOUT", "REQUEST", "RECOMMENDED",
                "SAVES",
            ])
        for r in rows {
            let u = r.usage
            let memoryRequested = u.memoryRequested.map(Double.init)
            table.add([
                "\(u.dag)/\(u.step)", String(u.attempts),
                "\(CostFormat.percent(StepUsage.ratio(u.cpuUsedP50, u.cpuRequested)))/\(CostFormat.percent(StepUsage.ratio(u.cpuUsedP95, u.cpuRequested)))",
                "\(CostFormat.percent(StepUsage.ratio(u.memoryPeakP50.map(Double.init), memoryRequested)))/\(CostFormat.percent(StepUsage.ratio(u.memoryPeakP95.map(Double.init), memoryRequested)))",
                String(u.oomKills),
                String(u.timeouts),
                "\(CostFormat.cores(u.cpuRequested)) cpu, \(u.memoryRequested.map(Sizing.memoryText) ?? "-")",
                "\(CostFormat.cores(r.recommendedCPUs)) cpu, \(r.recommendedMemory.map(Sizing.memoryText) ?? "-")",
                CostFormat.money(r.saves),
            ])
        }
        print(table.render())
        for r in rows where !r.advice.isEmpty {
            print("\(r.usage.dag)/\(r.usage.step): \(r.advice.joined(separator: "; "))")
        }
    }
}
