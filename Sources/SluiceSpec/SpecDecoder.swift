/// A template file, decoded: its parameters and step drafts.
struct TemplateFile {
    let name: String
    let params: [ParamSpec]
    let steps: [(id: String, mark: SourceMark, draft: StepDraft)]
}

/// Reads an included file: its display name, bytes and directory; or why it cannot be read.
typealias IncludeReader = (_ path: String) -> Result<
    (file: String, bytes: [UInt8], directory: String, absolute: String), SpecReadError
>

/// Turns the YAML tree of a DAG file into a `DAGSpec`, or every diagnostic it has.
struct SpecDecoder {
    private var reader: NodeReader
    private var extra: [Diagnostic] = []
    private let readInclude: IncludeReader

    init(file: String, readInclude: @escaping IncludeReader) {
        reader = NodeReader(file: file)
        self.readInclude = readInclude
    }

    /// Decodes the root node; diagnostics are empty exactly when a spec is returned.
    mutating func decode(_ root: YAMLNode, baseDirectory: String, source: String) -> (DAGSpec?, [Diagnostic]) {
        if Self.isTemplate(root) && !root.content.mappingKeys.contains("dag") {
            reader.error(
                root.mark, "", "this is a template file (it has 'template:'); include it from a DAG file to run it",
                code: "template-file")
            return (nil, reader.diagnostics)
        }
        guard
            let top = reader.mapping(
                root, path: "", allowed: Vocabulary.names(Vocabulary.dag), what: "a mapping with 'dag' and 'steps'")
        else { return (nil, reader.diagnostics) }
        var name: String?
        var nameMark = root.mark
        var description: String?
        var owner: String?
        var tags: [Tag] = []
        var schedule: Schedule?
        var timezone: String?
        var catchup = false
        var cache = true
        var maxActiveRuns = 1
        var params: [ParamSpec] = []
        var invalidParams = Set<String>()
        var defaults = StepDraft()
        var stepNodes: [(id: String, mark: SourceMark, node: YAMLNode)] = []
        var includeNodes: [YAMLNode] = []
        var handlers: [String: [HandlerSpec]] = [:]
        var stepsSeen = false
        for (key, _, value) in top {
            switch key {
            case "dag":
                name = dagName(value, key: "dag")
                nameMark = value.mark
            case "description": description = reader.string(value, path: key)
            case "owner": owner = reader.nonEmptyString(value, path: key)
            case "tags": tags = reader.tags(value, path: key) ?? []
            case "schedule": schedule = self.schedule(value)
            case "timezone": timezone = self.timezone(value)
            case "catchup": catchup = reader.bool(value, path: key) ?? false
            case "cache": cache = reader.bool(value, path: key) ?? true
            case "max_active_runs": maxActiveRuns = reader.int(value, path: key, range: 1...1000) ?? 1
            case "params": (params, invalidParams) = reader.params(value, path: key)
            case "defaults":
                defaults =
                    reader.stepDraft(value, path: key, allowed: Vocabulary.defaults, what: "a mapping of step keys")
                    ?? StepDraft()
                defaults.commandWritten = false
            case "executor":
                defaults.executor = reader.choice(value, path: key, ExecutorKind.allCases.map(\.rawValue)).flatMap(
                    ExecutorKind.init)
            case "include":
                includeNodes = reader.list(value, path: key, of: "template files") ?? []
            case "steps":
                stepsSeen = true
                stepNodes = stepEntries(value)
            case "on_failure", "on_success": handlers[key] = self.handlers(value, path: key)
            default: break
            }
        }
        if let executorKey = top.first(where: { $0.key == "executor" }),
            top.first(where: { $0.key == "defaults" })?.value.content.mappingKeys.contains("executor") == true
        {
            reader.error(executorKey.keyMark, "executor", "executor is set both here and in defaults; keep one")
        }
        if !top.contains(where: { $0.key == "dag" }) {
            reader.error(
                root.mark, "dag", "missing required key 'dag' (the DAG's id, e.g. dag: churn_training)",
                code: "missing-key")
        }
        if !stepsSeen {
            reader.error(
                root.mark, "steps", "missing required key 'steps' (a mapping of step id to step)", code: "missing-key")
        }
        if schedule == nil, let tz = top.first(where: { $0.key == "timezone" }), timezone != nil {
            reader.error(
                tz.keyMark, "timezone", "timezone is set but there is no schedule; it only applies to schedule")
        }

        var scopes = [
            ParamScope(params: params, bindings: [:], file: reader.file, prefix: nil, invalidNames: invalidParams)
        ]
        var steps: [StepSpec] = []
        var included: [(file: String, source: String)] = []
        let problemsBeforeIncludes = reader.diagnostics.count + extra.count
        for (index, node) in includeNodes.enumerated() {
            steps += include(
                node, path: "include[\(index)]", scopes: &scopes, defaults: defaults, dagTags: tags,
                baseDirectory: baseDirectory, included: &included)
        }
        let includesFailed = reader.diagnostics.count + extra.count > problemsBeforeIncludes
        for entry in stepNodes {
            // A step that is not even a mapping still exists, so what needs it is not called unknown.
            let decoded = reader.stepDraft(
                entry.node, path: "steps.\(entry.id)", allowed: Vocabulary.step,
                what: "a mapping with at least 'command'")
            var draft = decoded ?? StepDraft()
            if decoded == nil { draft.commandWritten = true }  // its shape was reported; "missing" would repeat it
            if let step = build(
                id: entry.id, mark: entry.mark, draft: draft, defaults: defaults, dagTags: tags, scope: 0,
                file: reader.file,
                directory: baseDirectory, baseDirectory: baseDirectory)
            {
                steps.append(step)
            }
        }
        // Handlers get the defaults' env and workdir, as steps do.
        for (key, list) in handlers {
            handlers[key] = list.map { handler in
                var env = defaults.env ?? []
                for variable in handler.env {
                    if let index = env.firstIndex(where: { $0.name == variable.name }) {
                        env[index] = variable
                    } else {
                        env.append(variable)
                    }
                }
                return HandlerSpec(
                    command: handler.command, env: env, workdir: handler.workdir ?? defaults.workdir,
                    timeout: handler.timeout, mark: handler.mark)
            }
        }
        // The whole-DAG checks run on whatever decoded, so needs, cycles and references are reported in the
        // same round as key typos; what failed to decode is left out of them rather than reported twice.
        let all = reader.diagnostics + extra
        var spec = DAGSpec(
            name: name ?? "", description: description, owner: owner, tags: tags, schedule: schedule,
            timezone: timezone, catchup: catchup, maxActiveRuns: maxActiveRuns, scopes: scopes, steps: steps,
            onFailure: handlers["on_failure"] ?? [], onSuccess: handlers["on_success"] ?? [], file: reader.file,
            baseDirectory: baseDirectory, source: source, includedSources: included, nameMark: nameMark)
        spec.cache = cache
        let problems = SpecChecker.check(spec, allowExternalNeeds: includesFailed)
        if all.isEmpty && problems.isEmpty && name != nil { return (spec, []) }
        return (nil, all + problems)
    }

    /// Decodes a template file on its own, for `sluice validate` of a templates folder.
    mutating func decodeTemplateFile(_ root: YAMLNode) -> [Diagnostic] {
        guard let template = templateFile(root) else { return reader.diagnostics }
        var steps: [StepSpec] = []
        for entry in template.steps {
            if let step = build(
                id: entry.id, mark: entry.mark, draft: entry.draft, defaults: StepDraft(), dagTags: [], scope: 0,
                file: reader.file, directory: "/", baseDirectory: "/")
            {
                steps.append(step)
            }
        }
        guard reader.diagnostics.isEmpty else { return reader.diagnostics }
        let spec = DAGSpec(
            name: template.name,
            scopes: [ParamScope(params: template.params, bindings: [:], file: reader.file, prefix: nil)],
            steps: steps, file: reader.file, baseDirectory: "/", source: "")
        return SpecChecker.check(spec, allowExternalNeeds: true)
    }

    /// True when the root is a mapping with a `template` key.
    static func isTemplate(_ root: YAMLNode) -> Bool { root.content.mappingKeys.contains("template") }

    private mutating func templateFile(_ root: YAMLNode) -> TemplateFile? {
        guard
            let top = reader.mapping(
                root, path: "", allowed: Vocabulary.names(Vocabulary.template),
                what: "a mapping with 'template' and 'steps'")
        else { return nil }
        var name: String?
        var params: [ParamSpec] = []
        var steps: [(id: String, mark: SourceMark, draft: StepDraft)] = []
        var stepsSeen = false
        for (key, _, value) in top {
            switch key {
            case "template": name = dagName(value, key: "template")
            case "description": _ = reader.string(value, path: key)
            case "params": params = reader.params(value, path: key).params
            case "steps":
                stepsSeen = true
                for entry in stepEntries(value) {
                    if let draft = reader.stepDraft(
                        entry.node, path: "steps.\(entry.id)", allowed: Vocabulary.step,
                        what: "a mapping with at least 'command'")
                    {
                        steps.append((entry.id, entry.mark, draft))
                    }
                }
            default: break
            }
        }
        if !top.contains(where: { $0.key == "template" }) {
            reader.error(
                root.mark, "template", "missing required key 'template' (the template's name)", code: "missing-key")
        }
        if !stepsSeen {
            reader.error(
                root.mark, "steps", "missing required key 'steps' (a mapping of step id to step)", code: "missing-key")
        }
        guard let name else { return nil }
        return TemplateFile(name: name, params: params, steps: steps)
    }

    private mutating func include(
        _ node: YAMLNode, path: String, scopes: inout [ParamScope], defaults: StepDraft, dagTags: [Tag],
        baseDirectory: String, included: inout [(file: String, source: String)]
    ) -> [StepSpec] {
        var fileNode: YAMLNode?
        var prefix: String?
        var bindingNodes: [(key: String, keyMark: SourceMark, value: YAMLNode)] = []
        if case .scalar = node.content {
            fileNode = node
        } else {
            guard
                let fields = reader.mapping(
                    node, path: path, allowed: Vocabulary.names(Vocabulary.include),
                    what: "a file name or a mapping with file, as, params")
            else { return [] }
            for (key, _, value) in fields {
                switch key {
                case "file": fileNode = value
                case "as":
                    guard let text = reader.string(value, path: "\(path).as") else { continue }
                    if Identifiers.isStepID(text) {
                        prefix = text
                    } else {
                        reader.error(
                            value.mark, "\(path).as",
                            "\(path).as: '\(text)' is not a valid step id prefix: use letters, digits, '_' and '-'")
                    }
                case "params":
                    bindingNodes =
                        reader.mapping(
                            value, path: "\(path).params", allowed: nil, what: "a mapping of parameter name to value")
                        ?? []
                default: break
                }
            }
        }
        guard let fileNode else {
            reader.error(node.mark, path, "missing required key 'file' in \(path)", code: "missing-key")
            return []
        }
        guard let relative = reader.nonEmptyString(fileNode, path: "\(path).file") else { return [] }
        let loaded: (file: String, bytes: [UInt8], directory: String, absolute: String)
        switch readInclude(relative) {
        case .success(let value): loaded = value
        case .failure(let failure):
            reader.error(
                fileNode.mark, "\(path).file", "\(path).file: cannot read '\(relative)': \(failure.reason)",
                code: "include")
            return []
        }
        var sub = SpecDecoder(file: loaded.file, readInclude: { _ in .failure(SpecReadError(file: "", reason: "")) })
        let root: YAMLNode
        switch SpecLoader.parseTree(bytes: loaded.bytes, file: loaded.file) {
        case .success(let tree): root = tree
        case .failure(let error):
            extra += error.diagnostics
            return []
        }
        guard Self.isTemplate(root) else {
            reader.error(
                fileNode.mark, "\(path).file",
                "\(path).file: '\(relative)' is not a template file (it has no 'template:' key)", code: "include")
            return []
        }
        guard let template = sub.templateFile(root) else {
            extra += sub.reader.diagnostics
            return []
        }
        included.append((loaded.absolute, String(decoding: loaded.bytes, as: UTF8.self)))
        var bindings: [String: Template] = [:]
        for (key, keyMark, value) in bindingNodes {
            let bindingPath = "\(path).params.\(key)"
            guard let param = template.params.first(where: { $0.name == key }) else {
                let suggestion = Suggestions.closest(to: key, in: template.params.map(\.name))
                reader.error(
                    keyMark, bindingPath,
                    "\(path).params: template '\(template.name)' has no parameter '\(key)'\(Suggestions.phrase(suggestion))",
                    code: "unknown-param", suggestion: suggestion)
                continue
            }
            if case .scalar(let text, _) = value.content, text.contains("${{") {
                if let t = reader.template(value, path: bindingPath) { bindings[key] = t }
            } else if let typed = reader.paramValue(value, type: param.type, path: bindingPath) {
                if case .failure(let failure) = param.check(typed) {
                    reader.error(value.mark, bindingPath, "\(bindingPath): \(failure.description)", code: "range")
                } else {
                    bindings[key] = Template(segments: [.value(typed.description)], mark: value.mark)
                }
            }
        }
        for param in template.params
        where param.defaultValue == nil && !bindingNodes.contains(where: { $0.key == param.name }) {
            reader.error(
                node.mark, "\(path).params",
                "\(path): template '\(template.name)' needs a value for parameter '\(param.name)' (\(param.type.rawValue)); add it under params",
                code: "missing-param")
        }
        extra += sub.reader.diagnostics
        let scope = scopes.count
        scopes.append(ParamScope(params: template.params, bindings: bindings, file: loaded.file, prefix: prefix))
        let siblings = Set(template.steps.map(\.id))
        func rename(_ id: String) -> String {
            guard let prefix, siblings.contains(id) else { return id }
            return "\(prefix).\(id)"
        }
        var steps: [StepSpec] = []
        for entry in template.steps {
            var draft = entry.draft
            draft.needs = draft.needs.map(rename)
            let rewrite: (Reference) -> Reference = {
                switch $0 {
                case .stepOutput(let step, let key): return .stepOutput(step: rename(step), key: key)
                case .instanceOutput(let step, let item, let key):
                    return .instanceOutput(step: rename(step), item: item, key: key)
                case .stepState(let step): return .stepState(rename(step))
                default: return $0
                }
            }
            draft.command = draft.command?.mapTemplates { $0.mapReferences(rewrite) }
            draft.env = draft.env?.map { $0.mapValue { $0.mapReferences(rewrite) } }
            draft.workdir = draft.workdir?.mapReferences(rewrite)
            draft.when = draft.when?.mapReferences(rewrite)
            draft.inputs = draft.inputs.map { $0.mapTemplate { $0.mapReferences(rewrite) } }
            draft.outputs = draft.outputs.map { $0.mapTemplate { $0.mapReferences(rewrite) } }
            if let step = build(
                id: rename(entry.id), mark: entry.mark, draft: draft, defaults: defaults, dagTags: dagTags,
                scope: scope,
                file: loaded.file, directory: loaded.directory, baseDirectory: baseDirectory)
            {
                steps.append(step)
            }
        }
        return steps
    }

    /// Applies `defaults` and the DAG's tags to a step draft.
    private mutating func build(
        id: String, mark: SourceMark, draft: StepDraft, defaults: StepDraft, dagTags: [Tag], scope: Int, file: String,
        directory: String, baseDirectory: String
    ) -> StepSpec? {
        if draft.command == nil && !draft.commandWritten {
            let message = "missing required key 'command' in steps.\(id)"
            if file == reader.file {
                reader.error(mark, "steps.\(id)", message, code: "missing-key")
            } else {
                extra.append(
                    Diagnostic(file: file, mark: mark, path: "steps.\(id)", message: message, code: "missing-key"))
            }
        }
        // A step whose command is wrong or missing (reported) stays in the model for the whole-DAG checks only.
        let command = draft.command ?? .argv([Template(literal: "true")])
        var env = defaults.env ?? []
        for variable in draft.env ?? [] {
            if let index = env.firstIndex(where: { $0.name == variable.name }) {
                env[index] = variable
            } else {
                env.append(variable)
            }
        }
        let workdir = draft.workdir ?? defaults.workdir
        let retries = (draft.retries ?? RetryPolicy()).over(defaults.retries ?? RetryPolicy()).over(.standard)
        var step = StepSpec(
            id: id, description: draft.description, kind: draft.kind ?? defaults.kind ?? .other, command: command,
            needs: draft.needs, needMarks: draft.needMarks, env: env, workdir: workdir,
            workdirBase: draft.workdir != nil ? directory : baseDirectory, when: draft.when, whenMark: draft.whenMark,
            foreach: draft.foreach, retries: retries, timeout: draft.timeout ?? defaults.timeout,
            resources: (draft.resources ?? Resources()).over(defaults.resources ?? Resources()), inputs: draft.inputs,
            outputs: draft.outputs, tags: Tag.merge(Tag.merge(dagTags, defaults.tags ?? []), draft.tags ?? []),
            executor: draft.executor ?? defaults.executor ?? .local, scope: scope, file: file, mark: mark)
        step.invalidKeys = draft.invalidKeys
        step.cache = draft.cache ?? true
        return step
    }

    private mutating func stepEntries(_ node: YAMLNode) -> [(id: String, mark: SourceMark, node: YAMLNode)] {
        guard let entries = reader.mapping(node, path: "steps", allowed: nil, what: "a mapping of step id to step")
        else { return [] }
        if entries.isEmpty { reader.error(node.mark, "steps", "steps: a DAG needs at least one step") }
        var result: [(id: String, mark: SourceMark, node: YAMLNode)] = []
        for (id, keyMark, value) in entries {
            let path = "steps.\(id)"
            if !Identifiers.isStepID(id) {
                reader.error(
                    keyMark, path,
                    "\(path): '\(id)' is not a valid step id: use letters, digits, '_' and '-', starting with a letter or '_'"
                )
            }
            result.append((id, keyMark, value))
        }
        return result
    }

    private mutating func handlers(_ node: YAMLNode, path: String) -> [HandlerSpec] {
        guard let items = reader.list(node, path: path, of: "handlers ({command: …})") else { return [] }
        var result: [HandlerSpec] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard
                let fields = reader.mapping(
                    item, path: itemPath, allowed: Vocabulary.names(Vocabulary.handler),
                    what: "a mapping with 'command'")
            else { continue }
            var command: CommandSpec?
            var env: [TemplatedVar] = []
            var workdir: Template?
            var timeout = HandlerSpec.defaultTimeout
            for (key, _, value) in fields {
                switch key {
                case "command": command = reader.command(value, path: "\(itemPath).command")
                case "env": env = reader.env(value, path: "\(itemPath).env") ?? []
                case "workdir": workdir = reader.template(value, path: "\(itemPath).workdir", allowEmpty: false)
                case "timeout": timeout = reader.duration(value, path: "\(itemPath).timeout") ?? timeout
                default: break
                }
            }
            if !fields.contains(where: { $0.key == "command" }) {
                reader.error(item.mark, itemPath, "missing required key 'command' in \(itemPath)", code: "missing-key")
            }
            if let command {
                result.append(
                    HandlerSpec(command: command, env: env, workdir: workdir, timeout: timeout, mark: item.mark))
            }
        }
        return result
    }

    private mutating func dagName(_ node: YAMLNode, key: String) -> String? {
        guard let text = reader.string(node, path: key) else { return nil }
        guard Identifiers.isDAGName(text) else {
            reader.error(
                node.mark, key,
                "\(key): '\(text)' is not a valid id: use lowercase letters, digits, '_' and '-', starting with a letter"
            )
            return nil
        }
        return text
    }

    private mutating func schedule(_ node: YAMLNode) -> Schedule? {
        guard let text = reader.nonEmptyString(node, path: "schedule") else { return nil }
        switch Schedule.parse(text) {
        case .success(let schedule): return schedule
        case .failure(let failure):
            reader.error(node.mark, "schedule", "schedule: \(failure.message)", code: "schedule")
            return nil
        }
    }

    private mutating func timezone(_ node: YAMLNode) -> String? {
        guard let text = reader.nonEmptyString(node, path: "timezone") else { return nil }
        guard TimeZones.isKnown(text) else {
            let suggestion = Suggestions.closest(to: text, in: TimeZones.all)
            reader.error(
                node.mark, "timezone",
                "timezone: '\(text)' is not a tz database zone such as Europe/Amsterdam or UTC\(Suggestions.phrase(suggestion))",
                code: "timezone", suggestion: suggestion)
            return nil
        }
        return text
    }
}

extension YAMLNode.Content {
    /// The scalar keys of a mapping; empty otherwise.
    var mappingKeys: [String] {
        guard case .mapping(let pairs) = self else { return [] }
        return pairs.compactMap { if case .scalar(let key, _) = $0.key.content { return key } else { return nil } }
    }
}
