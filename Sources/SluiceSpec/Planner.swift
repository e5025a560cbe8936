import Foundation
import SluiceBasics

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
        var firstGiven: [String: String] = [:]
        for (name, text) in given {
            if let earlier = firstGiven[name], let param = spec.params.first(where: { $0.name == name }) {
                // A list may be given piece by piece; anything else given twice is a mistake, not "last wins".
                if param.type == .list, case .success(.list(let more)) = param.parse(text),
                    case .list(let items)? = values[name]
                {
                    values[name] = .list(items + more)
                } else if param.type != .list {
                    errors.append(
                        "--param \(name) is given twice ('\(earlier)' and '\(text)'); give it once (only a list parameter may be repeated, to add items)"
                    )
                }
                continue
            }
            firstGiven[name] = text
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
            if case .shell(let template) = step.command {
                for (reference, _) in template.references {
                    if let value = resolve(reference), PlannedStep.hasLineBreak(value) {
                        let key = item.map { "\(step.id)[\($0)]" } ?? step.id
                        errors.append(PlannedStep.lineBreakMessage(reference, step: key))
                    }
                }
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
                    env: step.env.map { Self.planned($0, base: step.workdirBase, substitute) }, workdir: workdir,
                    when: when, inputs: step.inputs.map { $0.mapTemplate(substitute) },
                    outputs: step.outputs.map { $0.mapTemplate(substitute) },
                    tags: step.tags.map { $0.resolved($0.template.render(quote: false, resolve)) }))
        }
        let handlerResolve: (Reference) -> String? = {
            staticValue($0, spec: spec, values: values, item: nil, logicalDate: logicalDate)
        }
        for (kind, list) in [("on_failure", spec.onFailure), ("on_success", spec.onSuccess)] {
            for (index, handler) in list.enumerated() {
                guard case .shell(let template) = handler.command else { continue }
                for (reference, _) in template.references {
                    if let value = handlerResolve(reference), PlannedStep.hasLineBreak(value) {
                        errors.append(PlannedStep.lineBreakMessage(reference, step: "\(kind)[\(index)]"))
                    }
                }
            }
        }
        if !errors.isEmpty { throw PlanError(errors) }
        func handlers(_ list: [HandlerSpec]) -> [HandlerSpec] {
            list.map { handler in
                let workdir = handler.workdir.map { $0.substituting(handlerResolve) }
                let resolvedDir = workdir.map {
                    $0.isResolved ? Template(literal: absolute($0.description, base: spec.baseDirectory)) : $0
                }
                return HandlerSpec(
                    command: handler.command.mapTemplates { $0.substituting(handlerResolve) },
                    env: handler.env.map {
                        Self.planned($0, base: spec.baseDirectory) { $0.substituting(handlerResolve) }
                    },
                    workdir: resolvedDir ?? Template(literal: spec.baseDirectory), timeout: handler.timeout,
                    mark: handler.mark)
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

    /// A variable with its template substituted, or its secret file made absolute against the DAG's folder.
    private static func planned(_ variable: TemplatedVar, base: String, _ substitute: (Template) -> Template)
        -> TemplatedVar
    {
        if case .file(let path)? = variable.secret {
            return TemplatedVar(name: variable.name, value: variable.value, secret: .file(absolute(path, base: base)))
        }
        return variable.mapValue(substitute)
    }

    /// The `from_env` variables the plan's steps and handlers need that `environment` lacks, as messages.
    public static func missingSecrets(_ plan: RunPlan, environment: [String: String]) -> [String] {
        var missing: [String] = []
        var seen = Set<String>()
        let all =
            plan.steps.flatMap { step in step.env.map { ("steps.\(step.step.id).env.\($0.name)", $0) } }
            + (plan.onFailure + plan.onSuccess).flatMap { $0.env.map { ("a handler's env.\($0.name)", $0) } }
        for (path, variable) in all {
            guard case .environment(let name)? = variable.secret, environment[name] == nil,
                seen.insert(path).inserted
            else { continue }
            missing.append(
                "\(path) takes its value from_env \(name), but sluice's environment has no \(name); set it before starting sluice"
            )
        }
        return missing
    }

    /// `path` made absolute against `base`, with `.` and `..` resolved.
    static func absolute(_ path: String, base: String) -> String {
        FileSystem.lexicallyNormal(path.hasPrefix("/") ? path : base + "/" + path)
    }
}
