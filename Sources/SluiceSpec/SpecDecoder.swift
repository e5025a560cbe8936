/// Turns the YAML tree of a DAG file into a `DAGSpec`, or every diagnostic it has.
struct SpecDecoder {
    static let topLevelKeys = ["dag", "description", "steps"]
    static let stepKeys = ["command", "needs", "env", "workdir"]

    private var reader: NodeReader

    init(file: String) { reader = NodeReader(file: file) }

    /// Decodes the root node; diagnostics are empty exactly when a spec is returned.
    mutating func decode(
        _ root: YAMLNode, baseDirectory: String, source: String
    ) -> (DAGSpec?, [Diagnostic]) {
        guard
            let top = reader.mapping(
                root, path: "", allowed: Self.topLevelKeys, what: "a mapping with 'dag' and 'steps'")
        else { return (nil, reader.diagnostics) }
        var name: String?
        var description: String?
        var steps: [StepSpec] = []
        var stepsSeen = false
        for (key, _, value) in top {
            switch key {
            case "dag": name = dagName(value)
            case "description": description = reader.string(value, path: "description")
            case "steps":
                stepsSeen = true
                steps = decodeSteps(value)
            default: break
            }
        }
        if !top.contains(where: { $0.key == "dag" }) {
            reader.error(root.mark, "dag", "missing required key 'dag' (the DAG's id, e.g. dag: churn_training)")
        }
        if !stepsSeen {
            reader.error(root.mark, "steps", "missing required key 'steps' (a mapping of step id to step)")
        }
        let graphDiagnostics = DAGGraph.check(steps: steps, file: reader.file)
        let all = reader.diagnostics + graphDiagnostics
        guard all.isEmpty, let name else { return (nil, all) }
        let spec = DAGSpec(
            name: name, description: description, steps: steps, file: reader.file,
            baseDirectory: baseDirectory, source: source)
        return (spec, [])
    }

    private mutating func dagName(_ node: YAMLNode) -> String? {
        guard let text = reader.string(node, path: "dag") else { return nil }
        guard Identifiers.isDAGName(text) else {
            reader.error(
                node.mark, "dag",
                "dag: '\(text)' is not a valid DAG id: use lowercase letters, digits, '_' and '-', starting with a letter"
            )
            return nil
        }
        return text
    }

    private mutating func decodeSteps(_ node: YAMLNode) -> [StepSpec] {
        guard let entries = reader.mapping(node, path: "steps", allowed: nil, what: "a mapping of step id to step")
        else { return [] }
        if entries.isEmpty {
            reader.error(node.mark, "steps", "steps: a DAG needs at least one step")
        }
        var steps: [StepSpec] = []
        for (id, keyMark, value) in entries {
            let path = "steps.\(id)"
            if !Identifiers.isStepID(id) {
                reader.error(
                    keyMark, path,
                    "\(path): '\(id)' is not a valid step id: use letters, digits, '_' and '-', starting with a letter or '_'"
                )
            }
            if let step = decodeStep(id: id, mark: keyMark, node: value, path: path) { steps.append(step) }
        }
        return steps
    }

    private mutating func decodeStep(id: String, mark: SourceMark, node: YAMLNode, path: String) -> StepSpec? {
        guard
            let fields = reader.mapping(
                node, path: path, allowed: Self.stepKeys, what: "a mapping with at least 'command'")
        else { return nil }
        var command: Command?
        var needs: [String] = []
        var needMarks: [SourceMark] = []
        var env: [EnvVar] = []
        var workdir: String?
        var ok = true
        for (key, _, value) in fields {
            let fieldPath = "\(path).\(key)"
            switch key {
            case "command": command = decodeCommand(value, path: fieldPath)
            case "needs":
                if let list = reader.stringList(value, path: fieldPath), case .sequence(let items) = value.content {
                    needs = list
                    needMarks = items.map(\.mark)
                } else {
                    ok = false
                }
            case "env":
                if let vars = decodeEnv(value, path: fieldPath) { env = vars } else { ok = false }
            case "workdir":
                workdir = reader.string(value, path: fieldPath)
                if workdir == nil { ok = false }
            default: break
            }
        }
        if !fields.contains(where: { $0.key == "command" }) {
            reader.error(mark, path, "missing required key 'command' in \(path)")
        }
        guard ok, let command else { return nil }
        return StepSpec(
            id: id, command: command, needs: needs, needMarks: needMarks, env: env, workdir: workdir, mark: mark)
    }

    private mutating func decodeCommand(_ node: YAMLNode, path: String) -> Command? {
        switch node.content {
        case .scalar(let text, _) where !node.isNull:
            if text.allSatisfy(\.isWhitespace) {
                reader.error(node.mark, path, "\(path): the command is empty")
                return nil
            }
            return .shell(text)
        case .sequence:
            guard let argv = reader.stringList(node, path: path) else { return nil }
            guard let first = argv.first, !first.isEmpty else {
                reader.error(node.mark, path, "\(path): an argv command needs at least the program name")
                return nil
            }
            return .argv(argv)
        default:
            reader.error(
                node.mark, path,
                "\(path): expected a string (run by /bin/sh -c) or a list of strings (exec'd directly), found \(node.kindName)"
            )
            return nil
        }
    }

    private mutating func decodeEnv(_ node: YAMLNode, path: String) -> [EnvVar]? {
        guard let entries = reader.mapping(node, path: path, allowed: nil, what: "a mapping of variable name to value")
        else { return nil }
        var vars: [EnvVar] = []
        var ok = true
        for (name, keyMark, value) in entries {
            if !Identifiers.isEnvName(name) {
                reader.error(keyMark, "\(path).\(name)", "\(path): '\(name)' is not a valid environment variable name")
                ok = false
            }
            if case .scalar(let text, _) = value.content, !value.isNull {
                vars.append(EnvVar(name: name, value: text))
            } else {
                reader.error(
                    value.mark, "\(path).\(name)", "\(path).\(name): expected a string value, found \(value.kindName)")
                ok = false
            }
        }
        return ok ? vars : nil
    }
}
