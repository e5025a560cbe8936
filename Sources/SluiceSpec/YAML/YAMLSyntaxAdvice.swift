/// Turns libyaml's syntax errors about the common hand-editing mistakes (a tab, a key out of line with its
/// siblings, a missing colon or the space after it) into what to fix, still at a line and column.
enum YAMLSyntaxAdvice {
    /// The message and place to report for `error` in a file whose lines are `lines`.
    static func explain(_ error: YAMLSyntaxError, lines: [Substring]) -> (message: String, mark: SourceMark) {
        func line(_ number: Int) -> Substring? { number >= 1 && number <= lines.count ? lines[number - 1] : nil }
        func indent(_ text: Substring) -> Int { text.prefix { $0 == " " }.count }
        let here = line(error.mark.line) ?? ""
        let at = here.dropFirst(max(0, error.mark.column - 1)).first

        // A tab where indentation or a token should be.
        if at == "\t"
            || (error.problem.contains("cannot start any token")
                && here.prefix { $0 == " " || $0 == "\t" }.contains("\t"))
        {
            let column = (here.firstIndex(of: "\t").map { here.distance(from: here.startIndex, to: $0) } ?? 0) + 1
            return (
                "a tab character: YAML indents with spaces only; replace the tab with spaces",
                SourceMark(line: error.mark.line, column: column)
            )
        }
        // "key value" or "key:value" on the line before a line that does have "key: value".
        if error.problem.contains("mapping values are not allowed")
            || error.problem.contains("could not find expected ':'")
        {
            var previous = error.mark.line - 1
            while let text = line(previous), text.allSatisfy(\.isWhitespace) { previous -= 1 }
            if let text = line(previous), indent(text) == indent(here), !text.contains(": "), !text.hasSuffix(":"),
                !text.trimmingPrefix(" ").hasPrefix("-"), !text.trimmingPrefix(" ").hasPrefix("#")
            {
                let content = text.dropFirst(indent(text))
                let mark = SourceMark(line: previous, column: indent(text) + 1)
                if let colon = content.firstIndex(of: ":") {
                    let key = content[..<colon]
                    let value = content[content.index(after: colon)...]
                    return (
                        "'\(content)' needs a space after the colon to be a key and a value: write '\(key): \(value)'",
                        mark
                    )
                }
                if let space = content.firstIndex(of: " ") {
                    let key = content[..<space]
                    let value = content[content.index(after: space)...].drop { $0 == " " }
                    return ("'\(key)' needs a colon after it to be a key: write '\(key): \(value)'", mark)
                }
            }
            if error.problem.contains("mapping values are not allowed") {
                return (
                    "\(error.message); a ': ' inside an unquoted value starts a mapping, so quote the whole value",
                    error.mark
                )
            }
        }
        // A key indented differently from the keys of the mapping it seems to belong to.
        if error.problem.contains("did not find expected key"), let context = error.contextMark {
            let expected = context.column - 1
            let found = indent(here)
            if found != expected {
                let content = here.dropFirst(found)
                let name = content.prefix { $0 != ":" }
                var previous = error.mark.line - 1
                while let text = line(previous), text.allSatisfy(\.isWhitespace) { previous -= 1 }
                let above = line(previous).map(indent)
                let others =
                    above.map { $0 != expected ? " and the line above it \($0)" : "" } ?? ""
                return (
                    "'\(name)' is indented \(found) space\(found == 1 ? "" : "s"), like no key before it: the keys of the mapping that starts on line \(context.line) are indented \(expected)\(others); line it up with the keys it belongs with",
                    SourceMark(line: error.mark.line, column: found + 1)
                )
            }
            if let previous = line(error.mark.line - 1), !previous.contains(":") {
                return (
                    "line \(error.mark.line - 1) is not 'key: value'; a key in a mapping needs ': ' after it",
                    SourceMark(line: error.mark.line - 1, column: indent(previous) + 1)
                )
            }
        }
        return (error.message, error.mark)
    }
}

extension Substring {
    /// The text without leading `character`s.
    fileprivate func trimmingPrefix(_ character: Character) -> Substring { drop { $0 == character } }
}
