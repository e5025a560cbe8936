/// One problem found in a DAG file, with where it is and what to do about it.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The file, as the user named it.
    public let file: String
    /// 1-based line.
    public let line: Int
    /// 1-based column.
    public let column: Int
    /// The key path, such as `steps.train.needs[0]`; empty for the whole file.
    public let path: String
    /// A stable kind for tools, such as `unknown-key` or `type`.
    public let code: String
    /// What is wrong, what was expected and, where possible, a suggestion.
    public let message: String
    /// What was expected, when the problem is a mismatch.
    public let expected: String?
    /// What was found, when the problem is a mismatch.
    public let found: String?
    /// The suggested replacement, when there is one.
    public let suggestion: String?

    /// Creates a diagnostic.
    public init(
        file: String, mark: SourceMark, path: String, message: String, code: String = "invalid",
        expected: String? = nil, found: String? = nil, suggestion: String? = nil
    ) {
        self.file = file
        self.line = mark.line
        self.column = mark.column
        self.path = path
        self.code = code
        self.message = message
        self.expected = expected
        self.found = found
        self.suggestion = suggestion
    }

    /// Where it is, as a mark.
    public var mark: SourceMark { SourceMark(line: line, column: column) }

    /// `file:line:column: message`, the form editors and compilers use.
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// The diagnostics of a DAG file that did not validate.
public struct SpecError: Error, Sendable, CustomStringConvertible {
    /// Every problem found, in source order (file by file).
    public let diagnostics: [Diagnostic]

    /// Creates the error from its diagnostics, sorting them into source order and dropping repeats.
    public init(_ diagnostics: [Diagnostic]) {
        var seen = Set<Diagnostic>()
        let unique = diagnostics.filter { seen.insert($0).inserted }
        let files = unique.map(\.file).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        self.diagnostics = unique.enumerated().sorted { a, b in
            let fa = files.firstIndex(of: a.element.file)!
            let fb = files.firstIndex(of: b.element.file)!
            return (fa, a.element.line, a.element.column, a.offset) < (fb, b.element.line, b.element.column, b.offset)
        }.map(\.element)
    }

    /// One line per diagnostic.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A DAG file that could not be read at all (missing, a directory, unreadable).
public struct SpecReadError: Error, Sendable, CustomStringConvertible {
    /// The file.
    public let file: String
    /// Why it could not be read.
    public let reason: String

    /// Creates the error.
    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    /// `file: reason`.
    public var description: String { "\(file): \(reason)" }
}
