/// Reads YAML nodes against the expected shape, collecting every problem instead of stopping at the first.
struct NodeReader {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String) { self.file = file }

    mutating func error(_ mark: SourceMark, _ path: String, _ message: String) {
        diagnostics.append(Diagnostic(file: file, mark: mark, path: path, message: message))
    }

    /// The pairs of a mapping node, keyed by their scalar key text; reports duplicates and unknown keys.
    mutating func mapping(
        _ node: YAMLNode, path: String, allowed: [String]?, what: String
    ) -> [(key: String, keyMark: SourceMark, value: YAMLNode)]? {
        guard case .mapping(let pairs) = node.content else {
            error(node.mark, path, "\(label(path)): expected \(what), found \(node.kindName)")
            return nil
        }
        var seen: [String: SourceMark] = [:]
        var result: [(key: String, keyMark: SourceMark, value: YAMLNode)] = []
        for pair in pairs {
            guard case .scalar(let key, _) = pair.key.content else {
                error(pair.key.mark, path, "\(label(path)): keys must be plain strings, found \(pair.key.kindName)")
                continue
            }
            if let first = seen[key] {
                error(
                    pair.key.mark, path,
                    "duplicate key '\(key)' in \(label(path)) (first defined at line \(first.line))")
                continue
            }
            seen[key] = pair.key.mark
            if let allowed, !allowed.contains(key) {
                let place = path.isEmpty ? "at the top level" : "in \(path)"
                error(
                    pair.key.mark, join(path, key),
                    "unknown key '\(key)' \(place)\(Suggestions.hint(for: key, in: allowed))")
                continue
            }
            result.append((key, pair.key.mark, pair.value))
        }
        return result
    }

    /// A string scalar; any plain scalar's text counts (so `no` is the string "no"), null does not.
    mutating func string(_ node: YAMLNode, path: String) -> String? {
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            error(node.mark, path, "\(path): expected a string, found \(node.kindName)")
            return nil
        }
        return text
    }

    /// A list of strings; a single string is not accepted, so the shape stays obvious.
    mutating func stringList(_ node: YAMLNode, path: String) -> [String]? {
        guard case .sequence(let items) = node.content else {
            error(node.mark, path, "\(path): expected a list of strings, found \(node.kindName)")
            return nil
        }
        var result: [String] = []
        var ok = true
        for (index, item) in items.enumerated() {
            if let text = string(item, path: "\(path)[\(index)]") { result.append(text) } else { ok = false }
        }
        return ok ? result : nil
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func label(_ path: String) -> String { path.isEmpty ? "the top level" : path }
}
