import SluiceModel

/// A step (or `defaults`) as written: every field optional, before defaults are applied.
struct StepDraft {
    var description: String?
    var kind: StepKind?
    var command: CommandSpec?
    var needs: [String] = []
    var needMarks: [SourceMark] = []
    var env: [TemplatedVar]?
    var workdir: Template?
    var when: Condition?
    var whenMark: SourceMark?
    var foreach: Foreach?
    var foreachMark: SourceMark?
    var retries: RetryPolicy?
    var timeout: Double?
    var resources: Resources?
    var inputs: [DataRef] = []
    var outputs: [DataRef] = []
    var tags: [Tag]?
    var executor: ExecutorKind?
    var cache: Bool?
    /// True when `command` was written, even if its value was wrong (so it is not also reported missing).
    var commandWritten = false
    /// False when some field was wrong (already reported); the rest still serves the whole-DAG checks.
    var complete = true
    /// The keys that were written but did not decode, so checks that depend on them stay quiet.
    var invalidKeys: Set<String> = []
}

extension NodeReader {
    /// Decodes the fields of a step or of `defaults` (whose allowed keys are fewer); nil when it is not a
    /// mapping. A draft with a wrong field comes back incomplete, with the fields that decoded.
    mutating func stepDraft(_ node: YAMLNode, path: String, allowed: [KeyDoc], what: String) -> StepDraft? {
        guard let fields = mapping(node, path: path, allowed: Vocabulary.names(allowed), what: what) else { return nil }
        var draft = StepDraft()
        // A misspelt `command` (reported as an unknown key with its suggestion) is not also "missing". Only
        // unknown keys can be one: suggestions for every key of every step were 40% of validating 10,000 steps.
        let names = Vocabulary.names(allowed)
        let known = Set(names)
        draft.commandWritten = node.content.mappingKeys.contains {
            !known.contains($0) && Suggestions.closest(to: $0, in: names) == "command"
        }
        let before = diagnostics.count
        for (key, _, value) in fields {
            let fieldPath = "\(path).\(key)"
            let problems = diagnostics.count
            defer { if diagnostics.count > problems { draft.invalidKeys.insert(key) } }
            switch key {
            case "command":
                draft.command = command(value, path: fieldPath)
                draft.commandWritten = true
            case "needs":
                if let list = stringList(value, path: fieldPath), case .sequence(let items) = value.content {
                    draft.needs = list
                    draft.needMarks = items.map(\.mark)
                }
            case "description": draft.description = string(value, path: fieldPath)
            case "kind":
                draft.kind = choice(value, path: fieldPath, StepKind.allCases.map(\.rawValue)).flatMap(StepKind.init)
            case "executor":
                draft.executor = choice(value, path: fieldPath, ExecutorKind.allCases.map(\.rawValue)).flatMap(
                    ExecutorKind.init)
            case "env": draft.env = env(value, path: fieldPath)
            case "workdir": draft.workdir = template(value, path: fieldPath, allowEmpty: false)
            case "when":
                draft.when = condition(value, path: fieldPath)
                draft.whenMark = value.mark
            case "foreach":
                draft.foreach = foreach(value, path: fieldPath)
                draft.foreachMark = value.mark
            case "retries": draft.retries = retries(value, path: fieldPath)
            case "timeout": draft.timeout = duration(value, path: fieldPath)
            case "resources": draft.resources = resources(value, path: fieldPath)
            case "inputs": draft.inputs = dataRefs(value, path: fieldPath) ?? []
            case "outputs": draft.outputs = dataRefs(value, path: fieldPath) ?? []
            case "tags": draft.tags = tags(value, path: fieldPath)
            case "cache": draft.cache = bool(value, path: fieldPath)
            default: break
            }
        }
        draft.complete = diagnostics.count == before
        return draft
    }

    mutating func command(_ node: YAMLNode, path: String) -> CommandSpec? {
        switch node.content {
        case .scalar where !node.isNull:
            guard let template = template(node, path: path) else { return nil }
            if template.description.strip(" \t\n").isEmpty {
                error(node.mark, path, "\(path): the command is empty")
                return nil
            }
            let references = template.references
            let findings = ShellContext.check(template)
            for finding in findings {
                let (reference, mark) = references[finding.index]
                let advice =
                    finding.code == "quoted-template"
                    ? "" : "; pass it through env instead (env: {NAME: \"${{ \(reference) }}\"}) and use \"$NAME\""
                error(
                    mark, path, "\(path): ${{ \(reference) }} is \(finding.problem)\(advice)", code: finding.code)
            }
            return findings.isEmpty ? .shell(template) : nil
        case .sequence(let items):
            var argv: [Template] = []
            var ok = true
            for (index, item) in items.enumerated() {
                if let t = template(item, path: "\(path)[\(index)]") { argv.append(t) } else { ok = false }
            }
            guard ok else { return nil }
            guard let first = argv.first, !first.description.isEmpty else {
                error(node.mark, path, "\(path): an argv command needs at least the program name")
                return nil
            }
            return .argv(argv)
        default:
            mismatch(node, path, expected: "a string (run by /bin/sh -c) or a list of strings (exec'd directly)")
            return nil
        }
    }

    mutating func env(_ node: YAMLNode, path: String) -> [TemplatedVar]? {
        guard let entries = mapping(node, path: path, allowed: nil, what: "a mapping of variable name to value")
        else { return nil }
        var vars: [TemplatedVar] = []
        for (name, keyMark, value) in entries {
            if !Identifiers.isEnvName(name) {
                error(keyMark, "\(path).\(name)", "\(path): '\(name)' is not a valid environment variable name")
            } else if name.hasPrefix("SLUICE_") {
                error(
                    keyMark, "\(path).\(name)",
                    "\(path): '\(name)' is reserved: Sluice sets the SLUICE_* variables itself")
            }
            if case .mapping = value.content {
                if let secret = secret(value, path: "\(path).\(name)") {
                    vars.append(TemplatedVar(name: name, value: Template(literal: ""), secret: secret))
                }
            } else if let template = template(value, path: "\(path).\(name)") {
                vars.append(TemplatedVar(name: name, value: template))
            }
        }
        return vars
    }

    /// `{from_env: NAME}` or `{from_file: PATH}`: a value Sluice reads when the step starts, never stores.
    mutating func secret(_ node: YAMLNode, path: String) -> SecretSource? {
        let expected = "a string, or a secret written {from_env: NAME} or {from_file: PATH}"
        guard
            let fields = mapping(
                node, path: path, allowed: Vocabulary.names(Vocabulary.secret), what: expected),
            fields.count == 1, let (key, _, value) = fields.first
        else {
            if case .mapping(let pairs) = node.content, pairs.count != 1 {
                mismatch(node, path, expected: expected)
            }
            return nil
        }
        guard let text = nonEmptyString(value, path: "\(path).\(key)") else { return nil }
        if text.contains("${{") {
            error(
                value.mark, "\(path).\(key)", "\(path).\(key): a secret's source is written as it is, without ${{ }}")
            return nil
        }
        if key == "from_env" {
            guard Identifiers.isEnvName(text) else {
                error(value.mark, "\(path).\(key)", "\(path).from_env: '\(text)' is not an environment variable name")
                return nil
            }
            return .environment(text)
        }
        return .file(text)
    }

    mutating func condition(_ node: YAMLNode, path: String) -> Condition? {
        let text: String
        switch node.content {
        case .scalar(let value, .plain) where value == "true" || value == "false": text = value
        default:
            guard let value = nonEmptyString(node, path: path) else { return nil }
            text = value
        }
        switch ConditionParser.parse(text) {
        case .success(let condition): return condition
        case .failure(let failure):
            let mark =
                Self.contentColumn(node, text).map {
                    SourceMark(line: node.mark.line, column: $0 + failure.offset)
                } ?? node.mark
            error(mark, path, "\(path): \(failure.message)", code: "condition")
            return nil
        }
    }

    mutating func foreach(_ node: YAMLNode, path: String) -> Foreach? {
        let expected = "a list or a list parameter such as ${{ params.brands }}"
        if case .mapping = node.content {
            mismatch(node, path, expected: expected)
            return nil
        }
        if case .sequence(let items) = node.content {
            var values: [String] = []
            var seen: [String: Int] = [:]
            for (index, item) in items.enumerated() {
                guard case .scalar(let text, _) = item.content, !item.isNull else {
                    mismatch(item, "\(path)[\(index)]", expected: "a scalar item")
                    continue
                }
                if text.isEmpty {
                    error(item.mark, "\(path)[\(index)]", "\(path)[\(index)]: an item must not be empty")
                } else if let first = seen[text] {
                    error(
                        item.mark, "\(path)[\(index)]",
                        "\(path)[\(index)]: '\(text)' is already item \(first); items must be unique")
                }
                seen[text] = seen[text] ?? index
                values.append(text)
            }
            return .items(values)
        }
        guard let template = template(node, path: path) else { return nil }
        if case .reference(.param(let name), _)? = template.segments.first, template.segments.count == 1 {
            return .param(name)
        }
        mismatch(node, path, expected: expected)
        return nil
    }

    mutating func retries(_ node: YAMLNode, path: String) -> RetryPolicy? {
        if case .scalar = node.content {
            guard let count = int(node, path: path, range: 0...100) else { return nil }
            return RetryPolicy(attempts: count + 1)
        }
        guard
            let fields = mapping(
                node, path: path, allowed: Vocabulary.names(Vocabulary.retries),
                what: "a number of retries or a mapping with attempts, backoff, max_backoff, on")
        else { return nil }
        var policy = RetryPolicy()
        for (key, _, value) in fields {
            let fieldPath = "\(path).\(key)"
            switch key {
            case "attempts": policy.attempts = int(value, path: fieldPath, range: 1...100)
            case "backoff": policy.backoff = duration(value, path: fieldPath)
            case "max_backoff": policy.maxBackoff = duration(value, path: fieldPath)
            case "on":
                guard let names = stringList(value, path: fieldPath) else { break }
                var on: [RetryOn] = []
                for (index, name) in names.enumerated() {
                    if let parsed = RetryOn.parse(name) {
                        on.append(parsed)
                    } else {
                        let itemPath = "\(fieldPath)[\(index)]"
                        let mark = (value.content.items?[index].mark) ?? value.mark
                        let hint = Suggestions.hint(
                            for: name, in: ["exit", "killed", "oom_killed", "timed_out", "failed_to_start"])
                        error(
                            mark, itemPath,
                            "\(itemPath): expected one of \(RetryOn.names.joined(separator: ", ")), found '\(name)'\(hint)",
                            code: "type")
                    }
                }
                policy.on = on
            default: break
            }
        }
        if let backoff = policy.backoff, let max = policy.maxBackoff, max < backoff {
            error(
                node.mark, path,
                "\(path): max_backoff (\(Units.formatDuration(max))) is shorter than backoff (\(Units.formatDuration(backoff)))"
            )
        }
        return policy
    }

    package mutating func resources(_ node: YAMLNode, path: String) -> Resources? {
        guard
            let fields = mapping(
                node, path: path, allowed: Vocabulary.names(Vocabulary.resources),
                what: "a mapping with cpus, memory, gpus, max_processes, max_open_files")
        else { return nil }
        var resources = Resources()
        for (key, _, value) in fields {
            let fieldPath = "\(path).\(key)"
            resources.marks[key] = value.mark
            switch key {
            case "cpus": resources.cpus = number(value, path: fieldPath, positive: true)
            case "memory": resources.memoryBytes = memory(value, path: fieldPath)
            case "gpus": resources.gpus = int(value, path: fieldPath, range: 0...Int.max)
            case "max_processes": resources.maxProcesses = int(value, path: fieldPath, range: 1...Int.max)
            case "max_open_files": resources.maxOpenFiles = int(value, path: fieldPath, range: 3...Int.max)
            default: break
            }
        }
        return resources
    }

    mutating func dataRefs(_ node: YAMLNode, path: String) -> [DataRef]? {
        guard let items = list(node, path: path, of: "paths or {path|uri, dataset, version} mappings") else {
            return nil
        }
        var refs: [DataRef] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            if case .scalar = item.content {
                if let t = template(item, path: itemPath, allowEmpty: false) {
                    refs.append(DataRef(location: .path(t), dataset: nil, version: .content, mark: item.mark))
                }
                continue
            }
            guard
                let fields = mapping(
                    item, path: itemPath, allowed: Vocabulary.names(Vocabulary.data),
                    what: "a path or a mapping with path or uri")
            else { continue }
            var location: DataRef.Location?
            var locationWritten = false
            var dataset: String?
            var version: VersionSource?
            var versionNode: YAMLNode?
            for (key, keyMark, value) in fields {
                let fieldPath = "\(itemPath).\(key)"
                switch key {
                case "path", "uri":
                    if locationWritten {
                        error(keyMark, fieldPath, "\(itemPath): give either path or uri, not both")
                        continue
                    }
                    locationWritten = true
                    guard let t = template(value, path: fieldPath, allowEmpty: false) else { continue }
                    if key == "uri" {
                        let text = t.description
                        let scheme = text.prefix { $0 != ":" }
                        if !text.contains("://") || scheme.isEmpty || !Identifiers.isURIScheme(String(scheme)) {
                            mismatch(value, fieldPath, expected: "a URI such as warehouse://marts/churn_scores")
                            continue
                        }
                        location = .uri(t)
                    } else {
                        location = .path(t)
                    }
                case "dataset":
                    guard let name = string(value, path: fieldPath) else { continue }
                    if Identifiers.isDatasetName(name) {
                        dataset = name
                    } else {
                        error(
                            value.mark, fieldPath,
                            "\(fieldPath): '\(name)' is not a valid dataset name: use lowercase letters, digits, '_', '-', '.' and '/', starting with a letter"
                        )
                    }
                case "version":
                    version = choice(value, path: fieldPath, VersionSource.allCases.map(\.rawValue)).flatMap(
                        VersionSource.init)
                    versionNode = value
                default: break
                }
            }
            guard let location else {
                if !locationWritten {
                    error(item.mark, itemPath, "\(itemPath): missing 'path' or 'uri'", code: "missing-key")
                }
                continue
            }
            if case .uri = location, let version, version != .fromStep, let versionNode {
                error(
                    versionNode.mark, "\(itemPath).version",
                    "\(itemPath).version: '\(version.rawValue)' needs a local path; a URI's version comes from_step")
            }
            let defaultVersion: VersionSource
            if case .uri = location { defaultVersion = .fromStep } else { defaultVersion = .content }
            refs.append(
                DataRef(location: location, dataset: dataset, version: version ?? defaultVersion, mark: item.mark))
        }
        return refs
    }

    mutating func tags(_ node: YAMLNode, path: String) -> [Tag]? {
        guard let entries = mapping(node, path: path, allowed: nil, what: "a mapping of tag name to value") else {
            return nil
        }
        var tags: [Tag] = []
        for (key, keyMark, value) in entries {
            if !Identifiers.isTagKey(key) {
                error(
                    keyMark, "\(path).\(key)",
                    "\(path): '\(key)' is not a valid tag name: use lowercase letters, digits, '_', '-', '.' and '/', starting with a letter"
                )
                continue
            }
            if let template = template(value, path: "\(path).\(key)") {
                tags.append(Tag(key: key, template: template, file: file, mark: value.mark))
            }
        }
        return tags
    }
}

extension YAMLNode.Content {
    /// The items of a sequence, nil otherwise.
    var items: [YAMLNode]? {
        if case .sequence(let items) = self { return items }
        return nil
    }
}
