import Foundation

/// Resolves a DAG for one run: checks and binds parameters, expands `foreach`, substitutes static references.
public enum Planner {
    /// Plans `spec` with `given` parameter values (`--param name=value`, in order) and a logical date.
    public static func plan(_ spec: DAGSpec, params given: [(String, String)] = [], logicalDate: String)
        throws(PlanError)
        -> RunPlan
    {
        var errors: [String] = []
        if !ParamSpec.isDate(logicalDate) {
            errors.append("the logical date must be a date written YYYY-MM-DD, got '\(logicalDate)'")
        }
        var values: [String: ParamValue] = [:]
        var sources: [String: RunPlan.ValueSource] = [:]
        for (name, text) in given {
            guard let param = spec.params.first(where: { $0.name == name }) else {
                let hint = Suggestions.hint(for: name, in: spec.params.map(\.name))
                let known =
                    spec.params.isEmpty
                    ? " (it declares none)" : " (it has: \(spec.params.map(\.name).joined(separator: ", ")))"
                errors.append(
                    "--param \(name): DAG \(spec.name) has no parameter '\(name)'\(hint)\(hint.isEmpty ? known : "")")
                continue
            }
            switch param.parse(text) {
            case .success(let value):
                values[name] = value
                sources[name] = .given
            case .failure(let failure): errors.append("--param \(name): \(failure.description)")
            }
        }
        for param in spec.params where values[param.name] == nil {
            if let value = param.defaultValue {
                values[param.name] = value
                sources[param.name] = .default
            } else if !given.contains(where: { $0.0 == param.name }) {
                errors.append(
                    "parameter '\(param.name)' (\(param.type.rawValue)) has no default; give it with --param \(param.name)=VALUE"
                )
            }
        }
        if !errors.isEmpty { throw PlanError(errors) }

        // Parameter values per scope: the DAG's, then each include's bindings resolved against the DAG's.
        var scopeValues: [[String: ParamValue]] = [values]
        for scope in spec.scopes.dropFirst() {
            var bound: [String: ParamValue] = [:]
            for param in scope.params {
                if let binding = scope.bindings[param.name] {
                    let text = binding.render(quote: false) { reference in
                        staticValue(reference, spec: spec, values: values, item: nil, logicalDate: logicalDate)
                    }
                    switch param.parse(text) {
                    case .success(let value): bound[param.name] = value
                    case .failure(let failure):
                        errors.append("\(scope.file) (included as \(scope.prefix ?? "-")): \(failure.description)")
                    }
                } else if let value = param.defaultValue {
                    bound[param.name] = value
                }
            }
            scopeValues.append(bound)
        }
        if !errors.isEmpty { throw PlanError(errors) }

        // Expand foreach: instance indices per step id, in file order.
        var instances: [(step: StepSpec, item: String?)] = []
        var byStep: [String: [Int]] = [:]
        for step in spec.steps {
            var items: [String?] = [nil]
            switch step.foreach {
            case .items(let list): items = list
            case .param(let name):
                if case .list(let list)? = scopeValues[step.scope][name] { items = list } else { items = [] }
            case nil: break
            }
            byStep[step.id] = []
            for item in items {
                byStep[step.id]!.append(instances.count)
                instances.append((step, item))
            }
        }
        var planned: [PlannedStep] = []
        for (step, item) in instances {
            let scopeValue = scopeValues[step.scope]
            let resolve: (Reference) -> String? = {
                staticValue($0, spec: spec, values: scopeValue, item: item, logicalDate: logicalDate)
            }
            let substitute: (Template) -> Template = { $0.substituting(resolve) }
            let workdirTemplate = step.workdir.map(substitute) ?? Template(literal: step.workdirBase)
            let workdir: Template
            if workdirTemplate.isResolved {
                workdir = Template(literal: absolute(workdirTemplate.description, base: step.workdirBase))
            } else {
                workdir = workdirTemplate
            }
            let when = step.when?.substituting { reference in
                switch reference {
                case .param(let name): return scopeValue[name]?.conditionValue
                case .item: return item.map { ConditionValue.infer($0) }
                case .dagName: return .string(spec.name)
                case .logicalDate: return .string(logicalDate)
                default: return nil
                }
            }
            planned.append(
                PlannedStep(
                    key: item.map { "\(step.id)[\($0)]" } ?? step.id, step: step, item: item,
                    needs: step.needs.flatMap { byStep[$0] ?? [] }, command: step.command.mapTemplates(substitute),
                    env: step.env.map { TemplatedVar(name: $0.name, value: substitute($0.value)) }, workdir: workdir,
                    when: when, inputs: step.inputs.map { $0.mapTemplate(substitute) },
                    outputs: step.outputs.map { $0.mapTemplate(substitute) }))
        }
        let handlerResolve: (Reference) -> String? = {
            staticValue($0, spec: spec, values: values, item: nil, logicalDate: logicalDate)
        }
        func handlers(_ list: [HandlerSpec]) -> [HandlerSpec] {
            list.map { handler in
                let workdir = handler.workdir.map { $0.substituting(handlerResolve) }
                let resolvedDir = workdir.map {
                    $0.isResolved ? Template(literal: absolute($0.description, base: spec.baseDirectory)) : $0
                }
                return HandlerSpec(
                    command: handler.command.mapTemplates { $0.substituting(handlerResolve) },
                    env: handler.env.map { TemplatedVar(name: $0.name, value: $0.value.substituting(handlerResolve)) },
                    workdir: resolvedDir ?? Template(literal: spec.baseDirectory), mark: handler.mark)
            }
        }
        return RunPlan(
            spec: spec,
            params: spec.params.compactMap { p in values[p.name].map { (p.name, $0, sources[p.name] ?? .default) } },
            logicalDate: logicalDate, steps: planned, onFailure: handlers(spec.onFailure),
            onSuccess: handlers(spec.onSuccess))
    }

    /// Today's date in the DAG's time zone (UTC when it has none), as `YYYY-MM-DD`.
    public static func today(timezone: String?) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timezone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: Date())
        return String(format: "%04d-%02d-%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
    }

    private static func staticValue(
        _ reference: Reference, spec: DAGSpec, values: [String: ParamValue], item: String?, logicalDate: String
    ) -> String? {
        switch reference {
        case .param(let name): return values[name]?.description
        case .item: return item
        case .dagName: return spec.name
        case .logicalDate: return logicalDate
        default: return nil
        }
    }

    private static func absolute(_ path: String, base: String) -> String {
        if path.hasPrefix("/") { return (path as NSString).standardizingPath }
        return ((base as NSString).appendingPathComponent(path) as NSString).standardizingPath
    }
}
