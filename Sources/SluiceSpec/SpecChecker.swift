/// The checks that need the whole DAG: step ids, needs, cycles, template references and output clashes.
enum SpecChecker {
    static func check(_ spec: DAGSpec, allowExternalNeeds: Bool = false) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        func report(
            _ file: String, _ mark: SourceMark, _ path: String, _ message: String, code: String,
            suggestion: String? = nil
        ) {
            diagnostics.append(
                Diagnostic(file: file, mark: mark, path: path, message: message, code: code, suggestion: suggestion))
        }
        var first: [String: StepSpec] = [:]
        for step in spec.steps {
            if let earlier = first[step.id] {
                report(
                    step.file, step.mark, "steps.\(step.id)",
                    "step id '\(step.id)' is already defined at \(earlier.file):\(earlier.mark.line); use 'as:' on the include to keep them apart",
                    code: "duplicate-step")
            } else {
                first[step.id] = step
            }
        }
        let ids = spec.steps.map(\.id)
        // Steps with a need that names no step (or needs that did not decode): what is upstream is unknown.
        var unsure = Set(spec.steps.filter { $0.invalidKeys.contains("needs") }.map(\.id))
        for step in spec.steps {
            var seen = Set<String>()
            for (i, need) in step.needs.enumerated() {
                let path = "steps.\(step.id).needs[\(i)]"
                if first[need] == nil {
                    unsure.insert(step.id)
                    if allowExternalNeeds { continue }
                    let suggestion = Suggestions.closest(to: need, in: ids)
                    report(
                        step.file, step.needMarks[i], path,
                        "\(path): unknown step '\(need)'\(Suggestions.phrase(suggestion))",
                        code: "unknown-step", suggestion: suggestion)
                } else if !seen.insert(need).inserted {
                    report(
                        step.file, step.needMarks[i], path, "\(path): '\(need)' is listed twice", code: "duplicate-need"
                    )
                }
            }
        }
        let graph = DAGGraph(steps: spec.steps)
        let cycles = graph.findCycles()
        for cycle in cycles {
            // Shown in the direction work flows: a -> b means b needs a.
            let flow = cycle.reversed().map { spec.steps[$0].id }
            let step = spec.steps[cycle[0]]
            report(
                step.file, step.mark, "steps.\(step.id).needs", "dependency cycle: \(flow.joined(separator: " -> "))",
                code: "cycle")
        }
        if !cycles.isEmpty { return diagnostics }  // "upstream" means nothing in a cycle
        let index = Dictionary(spec.steps.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        for (position, step) in spec.steps.enumerated() {
            let scope = spec.scopes[step.scope]
            var ancestors: Set<Int>?
            func checkReference(_ reference: Reference, _ mark: SourceMark, _ path: String, inForeach: Bool = false) {
                switch reference {
                case .param(let name):
                    if scope.invalidNames.contains(name) { return }  // its declaration was reported
                    guard let param = scope.params.first(where: { $0.name == name }) else {
                        let suggestion = Suggestions.closest(to: name, in: scope.params.map(\.name))
                        let known = scope.params.isEmpty ? " (no params are declared)" : ""
                        report(
                            step.file, mark, path,
                            "\(path): unknown parameter 'params.\(name)'\(known)\(Suggestions.phrase(suggestion, prefix: "params."))",
                            code: "unknown-reference", suggestion: suggestion.map { "params.\($0)" })
                        return
                    }
                    if param.type == .list && !inForeach {
                        report(
                            step.file, mark, path, "\(path): params.\(name) is a list; use it in foreach",
                            code: "list-param")
                    }
                case .item:
                    if step.foreach == nil && !step.invalidKeys.contains("foreach") {
                        report(
                            step.file, mark, path, "\(path): ${{ item }} is only defined in a step with foreach",
                            code: "unknown-reference")
                    }
                case .stepOutput(let other, _), .instanceOutput(let other, _, _), .stepState(let other):
                    guard let target = index[other] else {
                        let suggestion = Suggestions.closest(to: other, in: ids)
                        report(
                            step.file, mark, path,
                            "\(path): unknown step '\(other)' in \(reference)\(Suggestions.phrase(suggestion))",
                            code: "unknown-reference", suggestion: suggestion)
                        return
                    }
                    if ancestors == nil { ancestors = graph.ancestors(of: position) }
                    if !ancestors!.contains(target) {
                        if unsure.contains(step.id) { return }  // a misspelt need may be the missing link
                        report(
                            step.file, mark, path,
                            "\(path): \(reference) is not upstream of \(step.id); add '\(other)' to needs",
                            code: "not-upstream")
                    } else if case .instanceOutput(_, let item, let key) = reference {
                        switch spec.steps[target].foreach {
                        case nil:
                            report(
                                step.file, mark, path,
                                "\(path): \(other) has no foreach, so it has no instances; write steps.\(other).outputs.\(key)",
                                code: "not-foreach")
                        case .items(let items)?:
                            if let item, !items.contains(item) {
                                let suggestion = Suggestions.closest(to: item, in: items)
                                report(
                                    step.file, mark, path,
                                    "\(path): \(other) has no instance '\(item)' (its items: \(items.joined(separator: ", ")))\(Suggestions.phrase(suggestion))",
                                    code: "unknown-item", suggestion: suggestion)
                            }
                        case .param?: break  // the items are known when the run is planned
                        }
                    } else if case .stepOutput(_, let key) = reference, spec.steps[target].foreach != nil {
                        report(
                            step.file, mark, path,
                            "\(path): \(other) has foreach, so \(reference) is ambiguous; read one instance with steps.\(other)[ITEM].outputs.\(key), or every instance as a JSON object (item → value) with steps.\(other)[*].outputs.\(key)",
                            code: "ambiguous-reference")
                    }
                case .runID, .logicalDate, .dagName: break
                }
            }
            let base = "steps.\(step.id)"
            func checkTemplate(_ template: Template, _ path: String) {
                for (reference, mark) in template.references { checkReference(reference, mark, path) }
            }
            switch step.command {
            case .shell(let t): checkTemplate(t, "\(base).command")
            case .argv(let items): for (i, t) in items.enumerated() { checkTemplate(t, "\(base).command[\(i)]") }
            }
            for variable in step.env { checkTemplate(variable.value, "\(base).env.\(variable.name)") }
            if let workdir = step.workdir { checkTemplate(workdir, "\(base).workdir") }
            for tag in step.tags {
                for (reference, mark) in tag.template.references {
                    if reference.isRuntime {
                        report(
                            step.file, mark, "\(base).tags.\(tag.key)",
                            "\(base).tags.\(tag.key): ${{ \(reference) }} is only known while the run goes on, but tags are fixed when it is planned; tags may use params, item, dag.name and run.logical_date",
                            code: "unknown-reference")
                    } else {
                        checkReference(reference, mark, "\(base).tags.\(tag.key)")
                    }
                }
            }
            for (i, ref) in step.inputs.enumerated() { checkTemplate(ref.template, "\(base).inputs[\(i)]") }
            for (i, ref) in step.outputs.enumerated() { checkTemplate(ref.template, "\(base).outputs[\(i)]") }
            if let when = step.when, let whenMark = step.whenMark {
                for (reference, offset) in when.references {
                    checkReference(
                        reference, SourceMark(line: whenMark.line, column: whenMark.column + offset), "\(base).when")
                }
            }
            if case .param(let name) = step.foreach {
                let mark = step.mark
                if let param = scope.params.first(where: { $0.name == name }), param.type != .list {
                    report(
                        step.file, mark, "\(base).foreach",
                        "\(base).foreach: params.\(name) is \(param.type.rawValue), not list; declare it with type: list",
                        code: "type")
                } else {
                    checkReference(.param(name), mark, "\(base).foreach", inForeach: true)
                }
            }
        }
        for (key, handlers) in [("on_failure", spec.onFailure), ("on_success", spec.onSuccess)] {
            for (i, handler) in handlers.enumerated() {
                let path = "\(key)[\(i)]"
                let templates =
                    handler.command.templates + handler.env.map(\.value) + (handler.workdir.map { [$0] } ?? [])
                for template in templates {
                    for (reference, mark) in template.references {
                        switch reference {
                        case .param(let name) where !spec.params.contains(where: { $0.name == name }):
                            let suggestion = Suggestions.closest(to: name, in: spec.params.map(\.name))
                            report(
                                spec.file, mark, path,
                                "\(path): unknown parameter 'params.\(name)'\(Suggestions.phrase(suggestion, prefix: "params."))",
                                code: "unknown-reference")
                        case .item, .stepOutput, .instanceOutput, .stepState:
                            report(
                                spec.file, mark, path,
                                "\(path): \(reference) is not defined in a handler; handlers see params, dag.name, run.id and run.logical_date",
                                code: "unknown-reference")
                        default: break
                        }
                    }
                }
            }
        }
        var writers: [String: StepSpec] = [:]
        for step in spec.steps {
            for output in step.outputs {
                guard case .path(let template) = output.location, template.isResolved, step.foreach == nil,
                    let key = Self.resolvedPath(template.description, of: step)
                else {
                    continue
                }
                if let other = writers[key], other.id != step.id {
                    report(
                        step.file, output.mark, "steps.\(step.id).outputs",
                        "steps.\(step.id).outputs: '\(template.description)' is also an output of \(other.id) (\(other.file):\(other.mark.line)); two steps must not write the same path",
                        code: "output-clash")
                } else {
                    writers[key] = step
                }
            }
        }
        return diagnostics
    }

    /// An output path as the file it names: absolute against the step's workdir, `.` and `..` resolved; nil
    /// when the workdir is only known at run time.
    static func resolvedPath(_ path: String, of step: StepSpec) -> String? {
        var directory = step.workdirBase
        if let workdir = step.workdir {
            guard workdir.isResolved else { return nil }
            directory = Planner.absolute(workdir.description, base: step.workdirBase)
        }
        return Planner.absolute(path, base: directory)
    }
}
