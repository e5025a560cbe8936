import SluiceModel

/// Reads YAML nodes against the expected shape, collecting every problem instead of stopping at the first.
package struct NodeReader {
    package let file: String
    package private(set) var diagnostics: [Diagnostic] = []

    package init(file: String) { self.file = file }

    package mutating func error(
        _ mark: SourceMark, _ path: String, _ message: String, code: String = "invalid", suggestion: String? = nil
    ) {
        diagnostics.append(
            Diagnostic(file: file, mark: mark, path: path, message: message, code: code, suggestion: suggestion))
    }

    /// Reports "path: expected X, found Y" for `node`.
    package mutating func mismatch(_ node: YAMLNode, _ path: String, expected: String, hint: String = "") {
        let found = Self.found(node)
        diagnostics.append(
            Diagnostic(
                file: file, mark: node.mark, path: path,
                message: "\(path): expected \(expected), found \(found)\(hint)",
                code: "type", expected: expected, found: found))
    }

    /// How a node reads in "found …": `'abc'`, `the quoted string "3"`, `a list`.
    package static func found(_ node: YAMLNode) -> String {
        if node.isNull { return "null" }
        switch node.content {
        case .scalar(let text, let style):
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            return style == .plain ? "'\(shown)'" : "the quoted string \"\(shown)\""
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }

    /// The pairs of a mapping node, keyed by their scalar key text; reports duplicates and unknown keys.
    package mutating func mapping(
        _ node: YAMLNode, path: String, allowed: [String]?, what: String
    ) -> [(key: String, keyMark: SourceMark, value: YAMLNode)]? {
        guard case .mapping(let pairs) = node.content else {
            mismatch(node, label(path), expected: what)
            return nil
        }
        var seen: [String: SourceMark] = [:]
        var result: [(key: String, keyMark: SourceMark, value: YAMLNode)] = []
        for pair in pairs {
            guard case .scalar(let key, _) = pair.key.content, !pair.key.isNull else {
                error(pair.key.mark, path, "\(label(path)): keys must be plain strings, found \(Self.found(pair.key))")
                continue
            }
            if let first = seen[key] {
                error(
                    pair.key.mark, join(path, key),
                    "duplicate key '\(key)' in \(label(path)) (first defined at line \(first.line))",
                    code: "duplicate-key")
                continue
            }
            seen[key] = pair.key.mark
            if let allowed, !allowed.contains(key) {
                let place = path.isEmpty ? "at the top level" : "in \(path)"
                let suggestion = Suggestions.closest(to: key, in: allowed)
                error(
                    pair.key.mark, join(path, key),
                    "unknown key '\(key)' \(place)\(Suggestions.phrase(suggestion))",
                    code: "unknown-key", suggestion: suggestion)
                continue
            }
            result.append((key, pair.key.mark, pair.value))
        }
        return result
    }

    /// A string scalar; any scalar's text counts (so `no` is the string "no"), null does not.
    package mutating func string(_ node: YAMLNode, path: String) -> String? {
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            mismatch(node, path, expected: "a string")
            return nil
        }
        return text
    }

    /// A non-empty string.
    package mutating func nonEmptyString(_ node: YAMLNode, path: String) -> String? {
        guard let text = string(node, path: path) else { return nil }
        if text.strip(" \t\n").isEmpty {
            error(node.mark, path, "\(path): must not be empty")
            return nil
        }
        return text
    }

    /// A plain, untagged scalar's text: numbers and booleans must not be quoted.
    private func plain(_ node: YAMLNode) -> String? {
        guard case .scalar(let text, .plain) = node.content, !node.isNull else { return nil }
        if let tag = node.tag,
            tag != "tag:yaml.org,2002:int" && tag != "tag:yaml.org,2002:float"
                && tag != "tag:yaml.org,2002:bool"
        {
            return nil
        }
        return text
    }

    /// An integer written as a number (`3`, not `"3"`), within `range`.
    package mutating func int(_ node: YAMLNode, path: String, range: ClosedRange<Int>? = nil) -> Int? {
        let expected = range.map { Self.rangeText($0) } ?? "an integer"
        guard let text = plain(node), ParamSpec.isInteger(text), let value = Int(text) else {
            mismatch(node, path, expected: expected)
            return nil
        }
        if let range, !range.contains(value) {
            error(node.mark, path, "\(path): expected \(expected), found \(value)", code: "range")
            return nil
        }
        return value
    }

    /// A number written as a number, above zero when `positive`.
    package mutating func number(_ node: YAMLNode, path: String, positive: Bool) -> Double? {
        let expected = positive ? "a number above 0" : "a number"
        guard let text = plain(node), let value = ParamSpec.value(text, as: .float)?.number else {
            mismatch(node, path, expected: expected)
            return nil
        }
        if positive && !(value > 0) {
            error(node.mark, path, "\(path): expected \(expected), found \(text)", code: "range")
            return nil
        }
        return value
    }

    /// `true` or `false`, unquoted.
    package mutating func bool(_ node: YAMLNode, path: String) -> Bool? {
        guard let text = plain(node), case .bool(let value)? = ParamSpec.value(text, as: .bool) else {
            mismatch(node, path, expected: "true or false")
            return nil
        }
        return value
    }

    /// One of `choices`, with a suggestion for near misses.
    package mutating func choice(_ node: YAMLNode, path: String, _ choices: [String]) -> String? {
        guard let text = string(node, path: path) else { return nil }
        guard choices.contains(text) else {
            let suggestion = Suggestions.closest(to: text, in: choices)
            let expected = "one of " + choices.joined(separator: ", ")
            diagnostics.append(
                Diagnostic(
                    file: file, mark: node.mark, path: path,
                    message:
                        "\(path): expected \(expected), found '\(text)'\(Suggestions.phrase(suggestion))",
                    code: "type", expected: expected, found: "'\(text)'", suggestion: suggestion))
            return nil
        }
        return text
    }

    /// A duration such as `30s`, `10m`, `2h`, `1d` or `1h30m`, above zero.
    package mutating func duration(_ node: YAMLNode, path: String) -> Double? {
        let expected = "a duration such as 30s, 10m, 2h or 1d"
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            mismatch(node, path, expected: expected)
            return nil
        }
        guard let seconds = Units.duration(text) else {
            let hint = ParamSpec.isInteger(text) ? " — add a unit, e.g. '\(text)s'" : ""
            mismatch(node, path, expected: expected, hint: hint)
            return nil
        }
        if seconds <= 0 {
            error(
                node.mark, path, "\(path): expected \(expected), found '\(text)', which is no time at all",
                code: "range")
            return nil
        }
        return seconds
    }

    /// A memory size with a unit, such as `4Gi`.
    package mutating func memory(_ node: YAMLNode, path: String) -> Int64? {
        let expected = "a size with a unit (Ki, Mi, Gi, Ti, K, M, G, T), such as 4Gi"
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            mismatch(node, path, expected: expected)
            return nil
        }
        guard let bytes = Units.memory(text) else {
            let suggestion = Units.memorySuggestion(text)
            mismatch(node, path, expected: expected, hint: Suggestions.phrase(suggestion))
            return nil
        }
        return bytes
    }

    /// A string parsed for `${{ … }}` references.
    mutating func template(_ node: YAMLNode, path: String, allowEmpty: Bool = true) -> Template? {
        guard let text = allowEmpty ? string(node, path: path) : nonEmptyString(node, path: path) else { return nil }
        let firstColumn = Self.contentColumn(node, text)
        switch Template.parse(text, mark: node.mark, firstColumn: firstColumn) {
        case .success(let template): return template
        case .failure(let failure):
            let mark = firstColumn.map { SourceMark(line: node.mark.line, column: $0 + failure.offset) } ?? node.mark
            error(mark, path, "\(path): \(failure.message)", code: "template")
            return nil
        }
    }

    /// A list; a single value is not accepted, so the shape stays obvious.
    package mutating func list(_ node: YAMLNode, path: String, of what: String) -> [YAMLNode]? {
        guard case .sequence(let items) = node.content else {
            mismatch(node, path, expected: "a list of \(what)")
            return nil
        }
        return items
    }

    /// A list of strings.
    package mutating func stringList(_ node: YAMLNode, path: String) -> [String]? {
        guard let items = list(node, path: path, of: "strings") else { return nil }
        var result: [String] = []
        var ok = true
        for (index, item) in items.enumerated() {
            if let text = string(item, path: "\(path)[\(index)]") { result.append(text) } else { ok = false }
        }
        return ok ? result : nil
    }

    /// The column of a one-line scalar's first character (after its quote), so offsets in it map onto columns.
    static func contentColumn(_ node: YAMLNode, _ text: String) -> Int? {
        guard case .scalar(_, let style) = node.content, !text.contains("\n") else { return nil }
        switch style {
        case .plain: return node.mark.column
        case .singleQuoted, .doubleQuoted: return node.mark.column + 1
        default: return nil
        }
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func label(_ path: String) -> String { path.isEmpty ? "the top level" : path }

    private static func rangeText(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "an integer of at least \(range.lowerBound)" }
        return "an integer from \(range.lowerBound) to \(range.upperBound)"
    }
}
