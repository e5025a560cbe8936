/// Something a `${{ … }}` template or a `when` expression can refer to.
public enum Reference: Sendable, Hashable, CustomStringConvertible {
    /// `params.<name>`.
    case param(String)
    /// `item`: the current `foreach` item.
    case item
    /// `run.id`.
    case runID
    /// `run.logical_date`.
    case logicalDate
    /// `dag.name`.
    case dagName
    /// `steps.<id>.outputs.<key>`: a value an upstream step wrote to `$SLUICE_OUTPUT`.
    case stepOutput(step: String, key: String)
    /// `steps.<id>[<item>].outputs.<key>` (one `foreach` instance) or `steps.<id>[*].outputs.<key>` (item nil:
    /// every instance's value, as a JSON object of item → value).
    case instanceOutput(step: String, item: String?, key: String)
    /// `steps.<id>.state` (only in `when`).
    case stepState(String)

    /// The reference as written.
    public var description: String {
        switch self {
        case .param(let name): return "params.\(name)"
        case .item: return "item"
        case .runID: return "run.id"
        case .logicalDate: return "run.logical_date"
        case .dagName: return "dag.name"
        case .stepOutput(let step, let key): return "steps.\(step).outputs.\(key)"
        case .instanceOutput(let step, let item, let key): return "steps.\(step)[\(item ?? "*")].outputs.\(key)"
        case .stepState(let step): return "steps.\(step).state"
        }
    }

    /// True for references only known once the run exists (`run.id`, upstream outputs and states).
    public var isRuntime: Bool {
        switch self {
        case .runID, .stepOutput, .instanceOutput, .stepState: return true
        default: return false
        }
    }

    /// The forms a reference can take, for messages.
    static let forms =
        "params.<name>, item, run.id, run.logical_date, dag.name, steps.<id>.outputs.<key> or steps.<id>[<item>].outputs.<key>"

    /// Parses `params.x`, `steps.a.outputs.k`, …; nil with a reason when the text names nothing.
    static func parse(_ text: String, allowState: Bool) -> Result<Reference, ReferenceError> {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "params" where parts.count == 2 && !parts[1].isEmpty: return .success(.param(parts[1]))
        case "item" where parts.count == 1: return .success(.item)
        case "run" where parts.count == 2 && parts[1] == "id": return .success(.runID)
        case "run" where parts.count == 2 && parts[1] == "logical_date": return .success(.logicalDate)
        case "dag" where parts.count == 2 && parts[1] == "name": return .success(.dagName)
        case "steps" where parts.count >= 3:
            if let outputs = parts.lastIndex(of: "outputs"), outputs >= 2, outputs == parts.count - 2,
                !parts[parts.count - 1].isEmpty
            {
                let step = parts[1..<outputs].joined(separator: ".")
                let key = parts[outputs + 1]
                if step.hasSuffix("]"), let open = step.firstIndex(of: "[") {
                    let id = String(step[..<open])
                    let item = String(step[step.index(after: open)..<step.index(before: step.endIndex)])
                    guard !id.isEmpty, !item.isEmpty else {
                        return .failure(
                            ReferenceError(
                                message: "'\(text)': write steps.<id>[<item>].outputs.<key>, or [*] for every instance")
                        )
                    }
                    return .success(.instanceOutput(step: id, item: item == "*" ? nil : item, key: key))
                }
                return .success(.stepOutput(step: step, key: key))
            }
            if parts.last == "state" {
                let step = parts[1..<(parts.count - 1)].joined(separator: ".")
                if allowState { return .success(.stepState(step)) }
                return .failure(
                    ReferenceError(
                        message: "'\(text)' can only be used in 'when'; in templates use steps.\(step).outputs.<key>"))
            }
        default: break
        }
        let known = ["params", "item", "run.id", "run.logical_date", "dag.name", "steps"]
        var hint = Suggestions.hint(for: text, in: known)
        if hint.isEmpty, let head = parts.first, parts.count > 1 {
            let fixed = Suggestions.closest(to: head, in: ["params", "run", "dag", "steps"])
            if let fixed, fixed != head {
                hint = Suggestions.phrase(([fixed] + parts.dropFirst()).joined(separator: "."))
            }
        }
        return .failure(ReferenceError(message: "unknown reference '\(text)': expected \(forms)\(hint)"))
    }
}

/// Why the text inside `${{ … }}` names nothing.
struct ReferenceError: Error {
    let message: String
}

/// A string with `${{ … }}` references, parsed once so every later step works on its parts.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    /// One part of a template.
    public enum Segment: Sendable, Hashable {
        /// Text written in the file.
        case literal(String)
        /// A value already substituted (from a parameter, the item, the DAG name): quoted in shell commands.
        case value(String)
        /// A reference still to be resolved, with its character offset in the original text.
        case reference(Reference, offset: Int)
    }

    /// The parts, in order.
    public let segments: [Segment]
    /// Where the scalar was written.
    public let mark: SourceMark
    /// Whether offsets map onto columns (a one-line scalar), and the column of its first character.
    let firstColumn: Int?

    /// Creates a template from parts.
    public init(segments: [Segment], mark: SourceMark, firstColumn: Int? = nil) {
        self.segments = segments
        self.mark = mark
        self.firstColumn = firstColumn
    }

    /// A template of plain text.
    public init(literal text: String, mark: SourceMark = SourceMark(line: 1, column: 1)) {
        self.init(segments: text.isEmpty ? [] : [.literal(text)], mark: mark)
    }

    /// Every reference with its position.
    public var references: [(reference: Reference, mark: SourceMark)] {
        segments.compactMap {
            if case .reference(let reference, let offset) = $0 { return (reference, markAt(offset)) }
            return nil
        }
    }

    /// True when nothing is left to substitute.
    public var isResolved: Bool { references.isEmpty }

    /// The text with values substituted as is, and remaining references shown as `${{ ref }}`.
    public var description: String { render(quote: false) { _ in nil } }

    /// The position of a character offset, exact on one-line scalars and the scalar's start otherwise.
    func markAt(_ offset: Int) -> SourceMark {
        guard let firstColumn else { return mark }
        return SourceMark(line: mark.line, column: firstColumn + offset)
    }

    /// Replaces references that `resolve` knows with values; others stay.
    public func substituting(_ resolve: (Reference) -> String?) -> Template {
        Template(
            segments: segments.map {
                if case .reference(let reference, _) = $0, let value = resolve(reference) { return .value(value) }
                return $0
            }, mark: mark, firstColumn: firstColumn)
    }

    /// Rewrites references (used to prefix the step ids of included templates).
    func mapReferences(_ transform: (Reference) -> Reference) -> Template {
        Template(
            segments: segments.map {
                if case .reference(let reference, let offset) = $0 {
                    return .reference(transform(reference), offset: offset)
                }
                return $0
            }, mark: mark, firstColumn: firstColumn)
    }

    /// The final text; values are shell-quoted when `quote` is set; unresolved references appear as written.
    public func render(quote: Bool, _ resolve: (Reference) -> String?) -> String {
        var text = ""
        for segment in segments {
            switch segment {
            case .literal(let literal): text += literal
            case .value(let value): text += quote ? ShellQuote.quote(value) : value
            case .reference(let reference, _):
                if let value = resolve(reference) {
                    text += quote ? ShellQuote.quote(value) : value
                } else {
                    text += "${{ \(reference) }}"
                }
            }
        }
        return text
    }

    /// Parses `text`; errors carry the offset of the bad `${{`.
    static func parse(_ text: String, mark: SourceMark, firstColumn: Int?) -> Result<Template, TemplateError> {
        var segments: [Segment] = []
        var literal = ""
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            if chars[i] == "$", i + 2 < chars.count, chars[i + 1] == "{", chars[i + 2] == "{" {
                var j = i + 3
                var closed: Int?
                while j + 1 < chars.count {
                    if chars[j] == "}" && chars[j + 1] == "}" {
                        closed = j
                        break
                    }
                    j += 1
                }
                guard let end = closed else {
                    return .failure(TemplateError(offset: i, message: "'${{' is not closed with '}}'"))
                }
                let inner = String(chars[(i + 3)..<end]).strip()
                if inner.isEmpty {
                    return .failure(TemplateError(offset: i, message: "empty '${{ }}': expected \(Reference.forms)"))
                }
                switch Reference.parse(inner, allowState: false) {
                case .success(let reference):
                    if !literal.isEmpty { segments.append(.literal(literal)) }
                    literal = ""
                    segments.append(.reference(reference, offset: i))
                case .failure(let error):
                    return .failure(TemplateError(offset: i, message: error.message))
                }
                i = end + 2
            } else {
                literal.append(chars[i])
                i += 1
            }
        }
        if !literal.isEmpty { segments.append(.literal(literal)) }
        return .success(Template(segments: segments, mark: mark, firstColumn: firstColumn))
    }
}

/// A malformed `${{ … }}` in a string.
struct TemplateError: Error {
    let offset: Int
    let message: String
}

/// POSIX shell quoting with Python's `shlex.quote` rules: safe words stay as they are.
public enum ShellQuote {
    /// `ah` → `ah`, `a b` → `'a b'`, `it's` → `'it'"'"'s'`, empty → `''`.
    public static func quote(_ value: String) -> String {
        if value.isEmpty { return "''" }
        if value.unicodeScalars.allSatisfy(isSafe) { return value }
        return "'" + value.replacingAll("'", with: "'\"'\"'") + "'"
    }

    private static func isSafe(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
            || "@%+=:,./_-".unicodeScalars.contains(c)
    }
}

extension String {
    /// Every occurrence of `target` replaced, without Foundation.
    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
