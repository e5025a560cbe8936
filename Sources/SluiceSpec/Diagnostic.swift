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
    /// What is wrong, what was expected and, where possible, a suggestion.
    public let message: String

    /// Creates a diagnostic.
    public init(file: String, mark: SourceMark, path: String, message: String) {
        self.file = file
        self.line = mark.line
        self.column = mark.column
        self.path = path
        self.message = message
    }

    /// `file:line:column: message`, the form editors and compilers use.
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// The diagnostics of a DAG file that did not validate.
public struct SpecError: Error, Sendable, CustomStringConvertible {
    /// Every problem found, in source order.
    public let diagnostics: [Diagnostic]

    /// Creates the error from its diagnostics, sorting them into source order.
    public init(_ diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) }
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

    /// `file: reason`.
    public var description: String { "\(file): \(reason)" }
}
