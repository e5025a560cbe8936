import SluiceHost
import SluiceModel
import SluiceSpec

/// Text and JSON forms of a `RunPlan`, for `sluice plan`.
enum PlanRendering {
    static func commandText(_ command: CommandSpec) -> String {
        switch command {
        case .shell(let t): return t.render(quote: true) { _ in nil }
        case .argv(let items):
            return items.map { ShellQuote.quote($0.description) }.joined(separator: " ") + "   (argv, no shell)"
        }
    }

    /// One resource a step will get: its value, and whether the step asked for it, the host's
    /// `default_resources` gave it, or Sluice's own default did.
    struct AppliedResource {
        let key: String
        let text: String
        let json: JSONValue
        let source: String
    }

    /// What a step gets for each resource, and where each figure comes from.
    static func applied(_ asked: Resources, config: HostConfig) -> [AppliedResource] {
        let merged = asked.over(config.defaultResources)
        let file = config.file ?? HostConfig.fileName
        func source(_ key: String, _ stepValue: Any?) -> String {
            if stepValue != nil { return "step" }
            if config.defaultResources.marks[key] != nil { return "default_resources in \(file)" }
            return "Sluice's default"
        }
        var result: [AppliedResource] = []
        if let cpus = merged.cpus {
            result.append(
                .init(key: "cpus", text: "\(number(cpus)) cpu", json: .number(cpus), source: source("cpus", asked.cpus))
            )
        }
        if let memory = merged.memoryBytes {
            result.append(
                .init(
                    key: "memory", text: Units.formatBytes(memory), json: .number(Double(memory)),
                    source: source("memory", asked.memoryBytes)))
        }
        let gpus = merged.gpus ?? 0
        result.append(
            .init(
                key: "gpus", text: "\(gpus) GPU\(gpus == 1 ? "" : "s")", json: .number(Double(gpus)),
                source: source("gpus", asked.gpus)))
        if let processes = merged.maxProcesses {
            result.append(
                .init(
                    key: "max_processes", text: "max_processes \(processes)", json: .number(Double(processes)),
                    source: source("max_processes", asked.maxProcesses)))
        }
        if let files = merged.maxOpenFiles {
            result.append(
                .init(
                    key: "max_open_files", text: "max_open_files \(files)", json: .number(Double(files)),
                    source: source("max_open_files", asked.maxOpenFiles)))
        }
        return result
    }

    /// `2 cpu (step), 2.0 GiB (Sluice's default), …`: what applies, with where it comes from.
    static func resourcesText(_ asked: Resources, config: HostConfig) -> String {
        applied(asked, config: config).map { "\($0.text) (\($0.source))" }.joined(separator: ", ")
    }

    static func retriesText(_ r: RetryPolicy) -> String {
        let attempts = r.attempts ?? 1
        if attempts <= 1 { return "none (1 attempt)" }
        return
            "\(attempts) attempts, backoff \(Units.formatDuration(r.backoff ?? 0)) doubling up to \(Units.formatDuration(r.maxBackoff ?? 0)), on "
            + (r.on ?? []).map(\.description).joined(separator: ", ")
    }

    static func dataText(_ ref: DataRef) -> String {
        var text: String
        switch ref.location {
        case .path(let t): text = t.description
        case .uri(let t): text = t.description
        }
        if let dataset = ref.dataset { text += " as \(dataset)" }
        return text + " (version: \(ref.version.rawValue))"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    static func whenText(_ step: PlannedStep) -> String? {
        guard let when = step.when else { return nil }
        switch step.staticWhen {
        case true?: return "\(when): true, runs"
        case false?: return "\(when): false, will be skipped"
        case nil: return "\(when): decided when its upstream steps have finished"
        }
    }

    /// The plan as readable text.
    static func text(_ plan: RunPlan, config: HostConfig) -> String {
        let spec = plan.spec
        var lines = ["plan for dag \(spec.name) (\(spec.file)), logical date \(plan.logicalDate)"]
        if let schedule = spec.schedule {
            lines.append(
                "schedule: \(schedule.text) (\(spec.timezone ?? "UTC")), catchup \(spec.catchup), max_active_runs \(spec.maxActiveRuns) (runs at its fire times under sluice serve; see: sluice next \(spec.name))"
            )
        }
        if !plan.params.isEmpty {
            lines.append("params:")
            for p in plan.params { lines.append("  \(p.name) = \(p.value) (\(p.source.rawValue))") }
        }
        let keys = plan.steps.map(\.key)
        for (n, index) in plan.order.enumerated() {
            let step = plan.steps[index]
            var head = "\(n + 1). \(step.key)"
            if step.step.kind != .other { head += "  [\(step.step.kind.rawValue)]" }
            lines.append("")
            lines.append(head)
            if !step.needs.isEmpty { lines.append("   needs: " + step.needs.map { keys[$0] }.joined(separator: ", ")) }
            if let item = step.item { lines.append("   item: \(item)") }
            if let when = whenText(step) { lines.append("   when: \(when)") }
            lines.append("   command: \(commandText(step.command))")
            lines.append("   workdir: \(step.workdir)")
            for variable in step.env { lines.append("   env: \(variable.name)=\(variable.shown)") }
            lines.append("   resources: \(resourcesText(step.step.resources, config: config))")
            lines.append("   retries: \(retriesText(step.step.retries))")
            if let timeout = step.step.timeout { lines.append("   timeout: \(Units.formatDuration(timeout))") }
            if step.step.executor != .local { lines.append("   executor: \(step.step.executor.rawValue)") }
            for input in step.inputs { lines.append("   input: \(dataText(input))") }
            for output in step.outputs { lines.append("   output: \(dataText(output))") }
            if !step.tags.isEmpty {
                lines.append("   tags: " + step.tags.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
            }
        }
        for step in spec.steps where step.foreach != nil && !plan.steps.contains(where: { $0.step.id == step.id }) {
            lines.append("")
            lines.append("\(step.id): foreach over an empty list, so no instances")
        }
        for (name, handlers) in [("on_failure", plan.onFailure), ("on_success", plan.onSuccess)] {
            for handler in handlers { lines.append("\(name): \(commandText(handler.command))") }
        }
        lines.append("")
        lines.append("\(plan.steps.count) step instance\(plan.steps.count == 1 ? "" : "s"); nothing was run.")
        return lines.joined(separator: "\n")
    }

    /// The plan as JSON, in the documented shape.
    static func json(_ plan: RunPlan, config: HostConfig) -> JSONValue {
        let spec = plan.spec
        let keys = plan.steps.map(\.key)
        func opt(_ value: Double?) -> JSONValue { value.map { .number($0) } ?? .null }
        func optInt(_ value: Int?) -> JSONValue { value.map { .number(Double($0)) } ?? .null }
        func data(_ ref: DataRef) -> JSONValue {
            var pairs: [(String, JSONValue)] = []
            switch ref.location {
            case .path(let t): pairs.append(("path", .string(t.description)))
            case .uri(let t): pairs.append(("uri", .string(t.description)))
            }
            pairs.append(("dataset", ref.dataset.map { .string($0) } ?? .null))
            pairs.append(("version", .string(ref.version.rawValue)))
            return .object(pairs)
        }
        let steps: [JSONValue] = plan.order.map { index in
            let step = plan.steps[index]
            let command: JSONValue
            switch step.command {
            case .shell(let t): command = .object([("shell", .string(t.render(quote: true) { _ in nil }))])
            case .argv(let items): command = .object([("argv", .array(items.map { .string($0.description) }))])
            }
            let r = step.step.resources
            let retries = step.step.retries
            return .object([
                ("key", .string(step.key)), ("step", .string(step.step.id)),
                ("item", step.item.map { .string($0) } ?? .null),
                ("kind", .string(step.step.kind.rawValue)), ("needs", .array(step.needs.map { .string(keys[$0]) })),
                ("command", command), ("workdir", .string(step.workdir.description)),
                ("env", .object(step.env.map { ($0.name, .string($0.shown)) })),
                (
                    "when",
                    step.when.map {
                        .object([
                            ("condition", .string($0.description)),
                            ("value", step.staticWhen.map { .bool($0) } ?? .null),
                        ])
                    }
                        ?? .null
                ),
                (
                    "resources",
                    .object([
                        ("cpus", opt(r.cpus)), ("memory_bytes", r.memoryBytes.map { .number(Double($0)) } ?? .null),
                        ("gpus", optInt(r.gpus)), ("max_processes", optInt(r.maxProcesses)),
                        ("max_open_files", optInt(r.maxOpenFiles)),
                    ])
                ),
                (
                    "applied_resources",
                    .object(
                        applied(r, config: config).map {
                            (
                                $0.key == "memory" ? "memory_bytes" : $0.key,
                                .object([("value", $0.json), ("source", .string($0.source))])
                            )
                        })
                ),
                (
                    "retries",
                    .object([
                        ("attempts", optInt(retries.attempts)), ("backoff_seconds", opt(retries.backoff)),
                        ("max_backoff_seconds", opt(retries.maxBackoff)),
                        ("on", .array((retries.on ?? []).map { .string($0.description) })),
                    ])
                ),
                ("timeout_seconds", opt(step.step.timeout)), ("executor", .string(step.step.executor.rawValue)),
                ("inputs", .array(step.inputs.map(data))), ("outputs", .array(step.outputs.map(data))),
                ("tags", .object(step.tags.map { ($0.key, .string($0.value)) })),
            ])
        }
        let schedule: JSONValue =
            spec.schedule.map {
                .object([
                    ("cron", .string($0.text)), ("timezone", .string(spec.timezone ?? "UTC")),
                    ("catchup", .bool(spec.catchup)),
                    ("max_active_runs", .number(Double(spec.maxActiveRuns))),
                ])
            } ?? .null
        return .object([
            ("dag", .string(spec.name)), ("file", .string(spec.file)), ("logical_date", .string(plan.logicalDate)),
            (
                "params",
                .array(
                    plan.params.map {
                        .object([
                            ("name", .string($0.name)), ("value", $0.value.json),
                            ("source", .string($0.source.rawValue)),
                        ])
                    })
            ),
            ("schedule", schedule), ("tags", .object(spec.tags.map { ($0.key, .string($0.value)) })),
            ("steps", .array(steps)),
            ("on_failure", .array(plan.onFailure.map { .string(commandText($0.command)) })),
            ("on_success", .array(plan.onSuccess.map { .string(commandText($0.command)) })),
        ])
    }
}
