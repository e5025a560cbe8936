extension NodeReader {
    /// Decodes `params:`: a mapping of name to `{type, default, enum, min, max, description}`; the names of
    /// declarations that are wrong come back too, so the whole-DAG checks do not call their uses unknown.
    mutating func params(_ node: YAMLNode, path: String) -> (params: [ParamSpec], invalid: Set<String>) {
        guard let entries = mapping(node, path: path, allowed: nil, what: "a mapping of parameter name to declaration")
        else { return ([], []) }
        var result: [ParamSpec] = []
        var invalid = Set<String>()
        for (name, keyMark, value) in entries {
            let paramPath = "\(path).\(name)"
            if !Identifiers.isEnvName(name) {
                error(
                    keyMark, paramPath,
                    "\(paramPath): '\(name)' is not a valid parameter name: use letters, digits and '_', starting with a letter or '_'"
                )
            }
            if let param = param(name: name, mark: keyMark, node: value, path: paramPath) {
                result.append(param)
            } else {
                invalid.insert(name)
            }
        }
        return (result, invalid)
    }

    private mutating func param(name: String, mark: SourceMark, node: YAMLNode, path: String) -> ParamSpec? {
        guard
            let fields = mapping(
                node, path: path, allowed: Vocabulary.names(Vocabulary.param),
                what: "a mapping with 'type' and optionally default, enum, min, max")
        else { return nil }
        let before = diagnostics.count
        guard let typeField = fields.first(where: { $0.key == "type" }) else {
            error(
                mark, path,
                "missing required key 'type' in \(path) (one of \(ParamType.allCases.map(\.rawValue).joined(separator: ", ")))",
                code: "missing-key")
            return nil
        }
        guard
            let type = choice(typeField.value, path: "\(path).type", ParamType.allCases.map(\.rawValue)).flatMap(
                ParamType.init)
        else { return nil }
        var defaultValue: ParamValue?
        var allowed: [ParamValue]?
        var min: ParamValue?
        var max: ParamValue?
        var description: String?
        for (key, keyMark, value) in fields {
            let fieldPath = "\(path).\(key)"
            switch key {
            case "default": defaultValue = paramValue(value, type: type, path: fieldPath)
            case "enum":
                if type == .bool || type == .list {
                    error(keyMark, fieldPath, "\(fieldPath): enum is not allowed for a \(type.rawValue) parameter")
                    continue
                }
                guard let items = list(value, path: fieldPath, of: "values") else { continue }
                if items.isEmpty { error(value.mark, fieldPath, "\(fieldPath): the list of allowed values is empty") }
                allowed = items.enumerated().compactMap { paramValue($1, type: type, path: "\(fieldPath)[\($0)]") }
            case "min", "max":
                guard type == .int || type == .float || type == .date else {
                    error(
                        keyMark, fieldPath,
                        "\(fieldPath): \(key) applies to int, float and date parameters, not \(type.rawValue)")
                    continue
                }
                let bound = paramValue(value, type: type, path: fieldPath)
                if key == "min" { min = bound } else { max = bound }
            case "description": description = string(value, path: fieldPath)
            default: break
            }
        }
        if let min, let max, ParamSpec.less(max, min) {
            error(mark, path, "\(path): min (\(min)) is above max (\(max))", code: "range")
        }
        guard diagnostics.count == before else { return nil }
        let spec = ParamSpec(
            name: name, type: type, defaultValue: nil, allowed: allowed, min: min, max: max, description: description,
            mark: mark)
        if let defaultValue, case .failure(let failure) = spec.check(defaultValue),
            let node = fields.first(where: { $0.key == "default" })?.value
        {
            error(node.mark, "\(path).default", "\(path).default: \(failure.description)", code: "range")
            return nil
        }
        return ParamSpec(
            name: name, type: type, defaultValue: defaultValue, allowed: allowed, min: min, max: max,
            description: description, mark: mark)
    }

    /// A value of `type` written in YAML, typed by the declaration rather than by YAML's guessing.
    mutating func paramValue(_ node: YAMLNode, type: ParamType, path: String) -> ParamValue? {
        switch type {
        case .string: return string(node, path: path).map { .string($0) }
        case .path: return nonEmptyString(node, path: path).map { .path($0) }
        case .int: return int(node, path: path).map { .int($0) }
        case .float: return number(node, path: path, positive: false).map { .float($0) }
        case .bool: return bool(node, path: path).map { .bool($0) }
        case .date:
            guard let text = string(node, path: path) else { return nil }
            guard ParamSpec.isDate(text) else {
                mismatch(node, path, expected: "a date (YYYY-MM-DD)")
                return nil
            }
            return .date(text)
        case .list:
            guard let items = list(node, path: path, of: "strings") else { return nil }
            var values: [String] = []
            for (index, item) in items.enumerated() {
                guard let text = nonEmptyString(item, path: "\(path)[\(index)]") else { return nil }
                values.append(text)
            }
            return .list(values)
        }
    }
}
