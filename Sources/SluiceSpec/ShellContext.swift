/// Finds the `${{ … }}` references of a shell command that sit where shell quoting cannot protect a value.
///
/// Sluice quotes every substituted value, which makes it one literal word wherever the shell reads words.
/// Some places read text differently, and a quoted value there can still run code or change the script:
/// a heredoc body (no quoting at all, and a line equal to the delimiter ends it), arithmetic `$(( ))` and
/// `(( ))`, bash's `[[ ]]`, backticks, `${…}`, the arguments of `eval`, `trap`, `alias` and `let`, the
/// script of `sh -c`, and the name part of `export`/`declare`. References there are refused at validation;
/// the way out is always the same: pass the value through `env` and use `"$VAR"`.
enum ShellContext {
    /// A reference in a place where quoting does not protect it.
    struct Finding: Equatable {
        /// Which reference (its index among the template's references).
        let index: Int
        /// Why the place is unsafe, to follow "${{ ref }} is ...".
        let problem: String
        /// The diagnostic code.
        let code: String
    }

    /// The unsafe references of a string command.
    static func check(_ template: Template) -> [Finding] {
        var text: [Character] = []
        var count = 0
        for segment in template.segments {
            switch segment {
            case .literal(let literal): text += Array(literal)
            case .value(let value): text += Array(ShellQuote.quote(value))
            case .reference:
                text.append(placeholder)
                count += 1
            }
        }
        var scanner = Scanner(text: text)
        scanner.run()
        var seen = Set<Int>()
        return scanner.findings.filter { seen.insert($0.index).inserted }
    }

    /// Stands for a reference in the scanned text; a private-use character that no script contains.
    static let placeholder: Character = "\u{E000}"

    private static let evaluating: Set<String> = ["eval", "trap", "alias", "let"]
    private static let shells: Set<String> = ["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"]
    private static let declaring: Set<String> = ["export", "readonly", "local", "declare", "typeset"]
    private static let commandStarters: Set<String> = [
        "if", "then", "else", "elif", "do", "while", "until", "!", "{", "time",
    ]

    /// A small POSIX shell (and bash) scanner that tracks the context of every character.
    private struct Scanner {
        let text: [Character]
        var i = 0
        var reference = 0
        var findings: [Finding] = []
        /// Heredocs announced on the current line: delimiter and whether leading tabs are stripped.
        var pendingHeredocs: [(delimiter: String, stripTabs: Bool)] = []
        // The simple command being read at the top level (and inside $( )).
        var words: [String] = []
        var word = ""
        var wordHasReference: [Int] = []
        var expectRedirectTarget = false

        init(text: [Character]) { self.text = text }

        mutating func run() {
            scanCommands(until: nil)
        }

        private func peek(_ offset: Int = 0) -> Character? {
            i + offset < text.count ? text[i + offset] : nil
        }

        private func startsWith(_ s: String) -> Bool {
            var k = i
            for c in s {
                guard k < text.count, text[k] == c else { return false }
                k += 1
            }
            return true
        }

        private mutating func report(_ problem: String, code: String = "shell-context") {
            findings.append(Finding(index: reference, problem: problem, code: code))
        }

        /// Consumes a placeholder met in a context described by `problem` (nil: safe here).
        private mutating func takeReference(unsafe problem: String?, code: String = "shell-context") {
            if let problem { report(problem, code: code) }
            wordHasReference.append(reference)
            reference += 1
            i += 1
        }

        /// Reads commands until `terminator` (a closing `)` of `$(`), or the end.
        private mutating func scanCommands(until terminator: Character?) {
            var depth = 0
            let savedWords = words
            let savedWord = word
            let savedRefs = wordHasReference
            words = []
            word = ""
            wordHasReference = []
            defer {
                words = savedWords
                word = savedWord
                wordHasReference = savedRefs
            }
            while let c = peek() {
                if c == ShellContext.placeholder {
                    takeReference(unsafe: nil)
                    word.append(c)
                    continue
                }
                switch c {
                case " ", "\t":
                    endWord()
                    i += 1
                case "\n":
                    endWord()
                    endCommand()
                    i += 1
                    readHeredocBodies()
                case "#" where word.isEmpty:
                    while let d = peek(), d != "\n" {
                        if d == ShellContext.placeholder { takeReference(unsafe: nil) } else { i += 1 }
                    }
                case "\\":
                    word.append(c)
                    i += 1
                    if let next = peek() {
                        if next == ShellContext.placeholder {
                            takeReference(unsafe: "escaped with a backslash, which quotes only its first character")
                        } else {
                            word.append(next)
                            i += 1
                        }
                    }
                case "'":
                    word.append(c)
                    i += 1
                    while let d = peek(), d != "'" {
                        if d == ShellContext.placeholder {
                            takeReference(
                                unsafe: "inside quotes; remove them: Sluice shell-quotes every value it substitutes",
                                code: "quoted-template")
                        } else {
                            i += 1
                        }
                    }
                    i += 1
                    word.append("'")
                case "\"":
                    word.append(c)
                    i += 1
                    scanDoubleQuoted()
                case "`":
                    word.append(c)
                    i += 1
                    scanUntil("`", problem: "inside backticks, where quoting works differently (use $( ) instead)")
                case "$":
                    scanDollar()
                case "[" where word.isEmpty && startsWith("[[") && isWordEnd(at: i + 2):
                    i += 2
                    scanUntilSequence(
                        "]]", problem: "inside [[ ]], where bash may evaluate it as arithmetic (use [ ] instead)")
                case "(" where word.isEmpty && startsWith("(("):
                    i += 2
                    scanUntilSequence(
                        "))", problem: "inside (( )), where the shell evaluates it as an arithmetic expression")
                case "(" where terminator != nil:
                    depth += 1
                    endWord()
                    endCommand()
                    i += 1
                case ")" where terminator != nil:
                    if depth == 0 {
                        endWord()
                        endCommand()
                        i += 1
                        return
                    }
                    depth -= 1
                    endWord()
                    endCommand()
                    i += 1
                case ";", "&", "|", "(", ")":
                    endWord()
                    endCommand()
                    i += 1
                case "<" where startsWith("<<<"):
                    endWord()
                    i += 3
                case "<" where startsWith("<<"):
                    endWord()
                    i += 2
                    readHeredocDelimiter()
                case ">", "<":
                    endWord()
                    i += 1
                    while let d = peek(), d == ">" || d == "&" || d == "|" { i += 1 }
                    expectRedirectTarget = true
                default:
                    word.append(c)
                    i += 1
                }
            }
            endWord()
            endCommand()
        }

        private func isWordEnd(at index: Int) -> Bool {
            index >= text.count || text[index] == " " || text[index] == "\t" || text[index] == "\n"
        }

        /// Inside `"…"`: references are refused (quoting them again would change the value).
        private mutating func scanDoubleQuoted() {
            while let c = peek(), c != "\"" {
                if c == ShellContext.placeholder {
                    takeReference(
                        unsafe: "inside quotes; remove them: Sluice shell-quotes every value it substitutes",
                        code: "quoted-template")
                } else if c == "\\" {
                    i += 2
                } else if c == "$" {
                    scanDollar()
                } else if c == "`" {
                    i += 1
                    scanUntil("`", problem: "inside backticks, where quoting works differently (use $( ) instead)")
                } else {
                    i += 1
                }
            }
            i += 1
            word.append("\"")
        }

        /// `$(`, `$((`, `${`, `$[`, or a plain `$name`.
        private mutating func scanDollar() {
            word.append("$")
            if startsWith("$((") {
                i += 3
                scanUntilSequence(
                    "))", problem: "inside $(( )), where the shell evaluates it as an arithmetic expression")
            } else if startsWith("$(") {
                i += 2
                scanCommands(until: ")")
            } else if startsWith("${") {
                i += 2
                scanUntil("}", problem: "inside ${…}, where the shell reads it as part of a parameter expansion")
            } else if startsWith("$[") {
                i += 2
                scanUntil("]", problem: "inside $[ ], where the shell evaluates it as an arithmetic expression")
            } else {
                i += 1
            }
        }

        /// Skips to the next `end`, refusing every reference on the way.
        private mutating func scanUntil(_ end: Character, problem: String) {
            while let c = peek(), c != end {
                if c == ShellContext.placeholder { takeReference(unsafe: problem) } else { i += c == "\\" ? 2 : 1 }
            }
            i += 1
        }

        /// Skips to the next `end` sequence, refusing every reference on the way.
        private mutating func scanUntilSequence(_ end: String, problem: String) {
            while peek() != nil && !startsWith(end) {
                if peek() == ShellContext.placeholder { takeReference(unsafe: problem) } else { i += 1 }
            }
            i += end.count
        }

        /// After `<<` or `<<-`: the delimiter word, whose body starts at the next newline.
        private mutating func readHeredocDelimiter() {
            var stripTabs = false
            if peek() == "-" {
                stripTabs = true
                i += 1
            }
            while peek() == " " || peek() == "\t" { i += 1 }
            var delimiter = ""
            while let c = peek(), !" \t\n;&|<>()".contains(c) {
                if c == ShellContext.placeholder {
                    takeReference(unsafe: "a heredoc delimiter")
                } else {
                    if c != "'" && c != "\"" && c != "\\" { delimiter.append(c) }
                    i += 1
                }
            }
            pendingHeredocs.append((delimiter, stripTabs))
        }

        /// The bodies of the heredocs announced on the line just ended: no quoting applies there.
        private mutating func readHeredocBodies() {
            let heredocs = pendingHeredocs
            pendingHeredocs = []
            for heredoc in heredocs {
                while peek() != nil {
                    var line: [Character] = []
                    var lineRefs = 0
                    while let c = peek(), c != "\n" {
                        if c == ShellContext.placeholder {
                            takeReference(
                                unsafe:
                                    "inside a heredoc, where quoting does not apply and a line equal to its delimiter ends it"
                            )
                            lineRefs += 1
                        } else {
                            i += 1
                        }
                        line.append(c)
                    }
                    if peek() == "\n" { i += 1 }
                    var body = line[...]
                    if heredoc.stripTabs { body = body.drop { $0 == "\t" } }
                    if lineRefs == 0 && String(body) == heredoc.delimiter { break }
                }
            }
        }

        /// A word ended: apply the rules of the command it belongs to.
        private mutating func endWord() {
            guard !word.isEmpty else { return }
            defer {
                word = ""
                wordHasReference = []
            }
            if expectRedirectTarget {
                expectRedirectTarget = false
                return
            }
            let isAssignment =
                words.isEmpty && word.first.map { $0.isLetter || $0 == "_" } == true
                && word.prefix { $0 != "=" }.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
                && word.contains("=")
            if isAssignment { return }  // FOO=value before the command: the value is one word
            if words.isEmpty && ShellContext.commandStarters.contains(word) { return }
            words.append(word)
            guard words.count > 1, !wordHasReference.isEmpty else { return }
            let command = (words[0].split(separator: "/").last).map(String.init) ?? words[0]
            let saved = reference
            for index in wordHasReference {
                reference = index
                if ShellContext.evaluating.contains(command) {
                    report("an argument of \(command), which runs it as shell code")
                } else if ShellContext.shells.contains(command), words.count >= 2,
                    words[words.count - 2].hasPrefix("-"), words[words.count - 2].hasSuffix("c")
                {
                    report("the script given to \(command) \(words[words.count - 2]), which runs it as shell code")
                } else if ShellContext.declaring.contains(command), let eq = word.firstIndex(of: "="),
                    word[..<eq].contains(ShellContext.placeholder)
                {
                    report("in the name part of \(command) (before '='), where bash evaluates array subscripts")
                } else if ShellContext.declaring.contains(command), !word.contains("=") {
                    report("an argument of \(command) without '=', which names a variable")
                }
            }
            reference = saved
        }

        private mutating func endCommand() {
            words = []
            expectRedirectTarget = false
        }
    }
}
