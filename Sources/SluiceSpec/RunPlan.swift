/// One instance of a step in a plan: the step itself, or one `foreach` item of it.
public struct PlannedStep: Sendable {
    /// The instance key: the step id, or `id[item]` for a `foreach` instance.
    public let key: String
    /// The step as declared (defaults applied).
    public let step: StepSpec
    /// The `foreach` item, if any.
    public let item: String?
    /// Indices (into the plan's steps) of the instances this one waits for.
    public let needs: [Int]
    /// The command with parameters, item, DAG name and logical date substituted; run-time references remain.
    public let command: CommandSpec
    /// The environment, likewise.
    public let env: [TemplatedVar]
    /// The working directory (absolute once resolved), likewise.
    public let workdir: Template
    /// The condition with static references substituted, if any.
    public let when: Condition?
    /// Inputs with static references substituted.
    public let inputs: [DataRef]
    /// Outputs with static references substituted.
    public let outputs: [DataRef]
    /// The step's tags (DAG < defaults < step), their values resolved for this instance.
    public let tags: [Tag]

    /// Creates a planned instance.
    public init(
        key: String, step: StepSpec, item: String?, needs: [Int], command: CommandSpec, env: [TemplatedVar],
        workdir: Template, when: Condition?, inputs: [DataRef], outputs: [DataRef], tags: [Tag] = []
    ) {
        self.tags = tags
        self.key = key
        self.step = step
        self.item = item
        self.needs = needs
        self.command = command
        self.env = env
        self.workdir = workdir
        self.when = when
        self.inputs = inputs
        self.outputs = outputs
    }

    /// The `when` result known before the run starts (no upstream references), if any.
    public var staticWhen: Bool? {
        guard let when else { return true }
        return when.references.isEmpty ? when.evaluate { _ in nil } : nil
    }

    /// True when a value holds a line break, which Sluice never substitutes into a shell command.
    static func hasLineBreak(_ value: String) -> Bool { value.contains { $0 == "\n" || $0 == "\r" || $0 == "\r\n" } }

    /// Why a value with a line break is refused in a shell command, and what to do instead.
    static func lineBreakMessage(_ reference: Reference, step: String) -> String {
        "\(reference) has a value with a line break, which Sluice does not put into the shell command of \(step); pass it through env (env: {NAME: \"${{ \(reference) }}\"}) and use \"$NAME\""
    }

    /// Resolves run-time references (`run.id`, upstream outputs) into the exact command, environment and workdir.
    public func resolve(_ runtime: RuntimeValues) throws(PlanError) -> (
        command: Command, env: [EnvVar], workdir: String
    ) {
        var missing: [String] = []
        func value(_ reference: Reference) -> String? {
            if let found = runtime.value(reference) { return found }
            missing.append(runtime.missingMessage(reference))
            return nil
        }
        let command: Command
        switch self.command {
        case .shell(let t):
            command = .shell(
                t.render(quote: true) { reference in
                    guard let found = value(reference) else { return nil }
                    if Self.hasLineBreak(found) { missing.append(Self.lineBreakMessage(reference, step: key)) }
                    return found
                })
        case .argv(let items): command = .argv(items.map { $0.render(quote: false, value) })
        }
        let env = self.env.map {
            EnvVar(
                name: $0.name, value: $0.secret == nil ? $0.value.render(quote: false, value) : "", secret: $0.secret)
        }
        let workdir = self.workdir.render(quote: false, value)
        if !missing.isEmpty { throw PlanError(missing) }
        return (command, env, workdir)
    }
}

/// What a run knows once it exists: its id and what upstream steps reported.
public struct RuntimeValues: Sendable {
    /// The run's id.
    public var runID: Int64?
    /// Outputs reported by finished steps, by step id.
    public var outputs: [String: [String: String]]
    /// The states of finished steps, by step id (`succeeded`, `skipped`, …).
    public var states: [String: String]
    /// Outputs reported by finished `foreach` instances, by step id, then item.
    public var instanceOutputs: [String: [String: [String: String]]]

    /// Creates the values.
    public init(
        runID: Int64? = nil, outputs: [String: [String: String]] = [:], states: [String: String] = [:],
        instanceOutputs: [String: [String: [String: String]]] = [:]
    ) {
        self.runID = runID
        self.outputs = outputs
        self.states = states
        self.instanceOutputs = instanceOutputs
    }

    /// The text of a run-time reference, or nil when it is not known.
    public func value(_ reference: Reference) -> String? {
        switch reference {
        case .runID: return runID.map(String.init)
        case .stepOutput(let step, let key): return outputs[step]?[key]
        case .instanceOutput(let step, let item?, let key): return instanceOutputs[step]?[item]?[key]
        case .instanceOutput(let step, nil, let key):
            guard let instances = instanceOutputs[step] else { return nil }
            return Self.jsonObject(instances.compactMapValues { $0[key] })
        case .stepState(let step): return states[step]
        default: return nil
        }
    }

    /// Why a reference has no value, in words a data scientist can act on.
    public func missingMessage(_ reference: Reference) -> String {
        switch reference {
        case .stepOutput(let step, let key):
            if states[step] == "skipped" { return "\(reference) has no value: \(step) was skipped" }
            let reported = outputs[step].map { $0.keys.sorted().joined(separator: ", ") } ?? ""
            return "\(reference) has no value: \(step) wrote no '\(key)=…' line to $SLUICE_OUTPUT"
                + (reported.isEmpty ? "" : " (it reported: \(reported))")
        case .instanceOutput(let step, let item?, let key):
            guard let reported = instanceOutputs[step]?[item] else {
                return "\(reference) has no value: \(step) has no finished instance '\(item)'"
            }
            return "\(reference) has no value: \(step)[\(item)] wrote no '\(key)=…' line to $SLUICE_OUTPUT"
                + (reported.isEmpty ? "" : " (it reported: \(reported.keys.sorted().joined(separator: ", ")))")
        default: return "\(reference) has no value yet"
        }
    }

    /// `{"a":"1","b":"2"}`: keys sorted, values as JSON strings.
    static func jsonObject(_ values: [String: String]) -> String {
        "{"
            + values.keys.sorted().map { "\(JSONValue.quote($0)):\(JSONValue.quote(values[$0]!))" }.joined(
                separator: ",")
            + "}"
    }
}

/// A DAG resolved for one run: parameters bound, `foreach` expanded, static references substituted.
public struct RunPlan: Sendable {
    /// How a parameter got its value.
    public enum ValueSource: String, Sendable, Codable {
        case given, `default`
    }

    /// The DAG.
    public let spec: DAGSpec
    /// The DAG's parameters with their values, in declaration order.
    public let params: [(name: String, value: ParamValue, source: ValueSource)]
    /// The logical date (`YYYY-MM-DD`).
    public let logicalDate: String
    /// Step instances in file order.
    public let steps: [PlannedStep]
    /// Handlers with static references substituted.
    public let onFailure: [HandlerSpec]
    /// Handlers with static references substituted.
    public let onSuccess: [HandlerSpec]

    /// Creates a plan.
    public init(
        spec: DAGSpec, params: [(name: String, value: ParamValue, source: ValueSource)], logicalDate: String,
        steps: [PlannedStep], onFailure: [HandlerSpec], onSuccess: [HandlerSpec]
    ) {
        self.spec = spec
        self.params = params
        self.logicalDate = logicalDate
        self.steps = steps
        self.onFailure = onFailure
        self.onSuccess = onSuccess
    }

    /// The dependency graph over instances.
    public var graph: DAGGraph { DAGGraph(needs: steps.map(\.needs)) }

    /// Instance indices in dependency order (file order among independent instances).
    public var order: [Int] { graph.topologicalOrder() ?? Array(steps.indices) }
}

/// Why a DAG cannot be planned with the given parameters, or a step cannot be resolved.
public struct PlanError: Error, Sendable, CustomStringConvertible {
    /// Every problem.
    public let messages: [String]

    /// Creates the error.
    public init(_ messages: [String]) { self.messages = messages }

    /// One line per problem.
    public var description: String { messages.joined(separator: "\n") }
}

extension RuntimeValues {
    /// A run-time reference's value for a `when` condition; nil when it is not known.
    public func conditionValue(_ reference: Reference) -> ConditionValue? {
        switch reference {
        case .runID: return runID.map { .number(Double($0)) }
        case .stepOutput, .instanceOutput, .stepState: return value(reference).map { ConditionValue.infer($0) }
        default: return nil
        }
    }
}

extension RunPlan {
    /// The parameters' values as a run records them (and a re-plan from the record reads them back).
    public var recordedParams: [String: String] {
        Dictionary(params.map { ($0.name, $0.value.description) }, uniquingKeysWith: { first, _ in first })
    }
}
