import SluiceModel
import SluiceSpec

/// The tags an attempt carries, and the check that none that `sluice.yaml` requires is missing.
public enum TagPolicy {
    /// The keys Sluice sets itself on every attempt; they override a tag of the same name.
    public static let builtIn = ["dag", "step", "kind", "owner", "executor"]

    /// A step's effective tags: its own (DAG < defaults < step, resolved), then `dag`, `step`, `kind`,
    /// `executor`, `owner` (the DAG's, when it names one) and `host_class` (when the host has one).
    public static func effective(
        _ step: StepSpec, tags: [Tag], dag: DAGSpec, hostClass: String? = nil
    ) -> [String: String] {
        var result: [String: String] = [:]
        for tag in tags where !tag.value.isEmpty { result[tag.key] = tag.value }
        result["dag"] = dag.name
        result["step"] = step.id
        result["kind"] = step.kind.rawValue
        result["executor"] = step.executor.rawValue
        if let owner = dag.owner, !owner.isEmpty { result["owner"] = owner }
        if let hostClass { result["host_class"] = hostClass }
        return result
    }

    /// The tags of a handler (`on_failure[0]`): the DAG's own, `dag`, `step` (the handler's name), `kind`
    /// `handler`, `executor` `local`, `owner` and `host_class`.
    public static func handler(_ name: String, dag: DAGSpec, hostClass: String? = nil) -> [String: String] {
        var result: [String: String] = [:]
        for tag in dag.tags where !tag.value.isEmpty && tag.template.references.isEmpty { result[tag.key] = tag.value }
        result["dag"] = dag.name
        result["step"] = name
        result["kind"] = "handler"
        result["executor"] = "local"
        if let owner = dag.owner, !owner.isEmpty { result["owner"] = owner }
        if let hostClass { result["host_class"] = hostClass }
        return result
    }

    /// One diagnostic per required tag a DAG's steps lack, or whose written value is not allowed. A value with
    /// `${{ … }}` is checked once resolved, by `check(_:required:)` on the plan.
    public static func check(_ spec: DAGSpec, required: [RequiredTag]) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        for rule in required {
            let origin = "\(rule.file):\(rule.mark.line):\(rule.mark.column)"
            var lacking: [StepSpec] = []
            if rule.key == "dag" || (rule.key == "owner" && !(spec.owner ?? "").isEmpty) {
                let value = rule.key == "dag" ? spec.name : spec.owner ?? ""
                diagnostics += disallowed(rule, value: value, file: spec.file, mark: spec.nameMark, origin, nil)
                continue
            }
            for step in spec.steps {
                if TagPolicy.builtIn.contains(rule.key) && rule.key != "owner" {
                    let value = effective(step, tags: [], dag: spec)[rule.key] ?? ""
                    diagnostics += disallowed(rule, value: value, file: step.file, mark: step.mark, origin, step.id)
                    continue
                }
                guard let tag = step.tags.last(where: { $0.key == rule.key }), !tag.value.isEmpty else {
                    lacking.append(step)
                    continue
                }
                if tag.template.references.isEmpty {
                    diagnostics += disallowed(
                        rule, value: tag.value, file: tag.file ?? step.file, mark: tag.mark ?? step.mark, origin,
                        step.id)
                }
            }
            let fix = "add `\(rule.key): VALUE` under `tags:`"
            if !lacking.isEmpty && lacking.count == spec.steps.count {
                diagnostics.append(
                    Diagnostic(
                        file: spec.file, mark: spec.nameMark, path: "tags.\(rule.key)",
                        message:
                            "dag \(spec.name) has no tag '\(rule.key)', which \(origin) requires of every step; \(fix) at the top of the DAG (or of each step)\(allowedText(rule))",
                        code: "missing-tag"))
            } else {
                for step in lacking {
                    diagnostics.append(
                        Diagnostic(
                            file: step.file, mark: step.mark, path: "steps.\(step.id).tags.\(rule.key)",
                            message:
                                "step \(step.id) has no tag '\(rule.key)', which \(origin) requires of every step; \(fix) in the step, in defaults or at the top of the DAG\(allowedText(rule))",
                            code: "missing-tag"))
                }
            }
        }
        return diagnostics
    }

    /// Required tags whose values were templates, checked once the run is planned (an empty value is missing).
    public static func check(_ plan: RunPlan, required: [RequiredTag]) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        for rule in required where !TagPolicy.builtIn.contains(rule.key) {
            let origin = "\(rule.file):\(rule.mark.line):\(rule.mark.column)"
            for planned in plan.steps {
                guard let tag = planned.tags.last(where: { $0.key == rule.key }) else { continue }
                let file = tag.file ?? planned.step.file
                let mark = tag.mark ?? planned.step.mark
                if tag.value.isEmpty {
                    diagnostics.append(
                        Diagnostic(
                            file: file, mark: mark, path: "steps.\(planned.step.id).tags.\(rule.key)",
                            message:
                                "step \(planned.key): tag '\(rule.key)' resolves to an empty value, and \(origin) requires it",
                            code: "missing-tag"))
                } else {
                    diagnostics += disallowed(rule, value: tag.value, file: file, mark: mark, origin, planned.key)
                }
            }
        }
        return diagnostics
    }

    private static func disallowed(
        _ rule: RequiredTag, value: String, file: String, mark: SourceMark, _ origin: String, _ step: String?
    ) -> [Diagnostic] {
        guard let allowed = rule.allowed, !allowed.contains(value) else { return [] }
        let suggestion = Suggestions.closest(to: value, in: allowed)
        return [
            Diagnostic(
                file: file, mark: mark, path: step.map { "steps.\($0).tags.\(rule.key)" } ?? "tags.\(rule.key)",
                message:
                    "\(step.map { "step \($0)" } ?? "dag"): tag \(rule.key) is '\(value)', which is not one of \(allowed.joined(separator: ", ")) (\(origin))\(Suggestions.phrase(suggestion))",
                code: "tag-value", suggestion: suggestion)
        ]
    }

    private static func allowedText(_ rule: RequiredTag) -> String {
        rule.allowed.map { "; allowed values: \($0.joined(separator: ", "))" } ?? ""
    }
}
