/// A 1-based line and column in a source file.
public struct SourceMark: Sendable, Hashable, Comparable, Codable {
    /// 1-based line.
    public let line: Int
    /// 1-based column, in characters.
    public let column: Int

    /// Creates a mark.
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// Orders marks by position in the file.
    public static func < (a: SourceMark, b: SourceMark) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}
