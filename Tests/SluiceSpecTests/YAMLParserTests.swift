import SluiceSpec
import Testing

@Suite("YAML parsing with source marks")
struct YAMLParserTests {
    private func parse(_ text: String) throws -> YAMLNode? { try YAMLParser.parse(Array(text.utf8)) }

    @Test func nodesKeepOneBasedLinesAndColumns() throws {
        let root = try #require(try parse("a: 1\nsteps:\n  b: [x, y]\n"))
        guard case .mapping(let top) = root.content, case .mapping(let steps) = top[1].value.content,
            case .sequence(let items) = steps[0].value.content
        else {
            Issue.record("unexpected shape")
            return
        }
        #expect(top[1].key.mark == SourceMark(line: 2, column: 1))
        #expect(steps[0].key.mark == SourceMark(line: 3, column: 3))
        #expect(items[1].mark == SourceMark(line: 3, column: 10))
    }

    @Test func aliasesResolveToTheAnchoredNode() throws {
        let root = try #require(try parse("x: &shared {k: v}\ny: *shared\n"))
        guard case .mapping(let pairs) = root.content, case .mapping(let aliased) = pairs[1].value.content,
            case .scalar(let value, _) = aliased[0].value.content
        else {
            Issue.record("alias did not resolve to a mapping")
            return
        }
        #expect(value == "v")
    }

    @Test func billionLaughsIsRefused() throws {
        var text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...9 {
            let refs = Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ")
            text += "a\(i): &a\(i) [\(refs)]\n"
        }
        let error = #expect(throws: YAMLSyntaxError.self) { try parse(text) }
        #expect(error?.message.contains("aliases") == true)
    }

    @Test func unknownAliasIsASyntaxError() {
        #expect(throws: YAMLSyntaxError.self) { try parse("a: *nowhere\n") }
    }

    @Test func moreThanOneDocumentIsRefused() {
        let error = #expect(throws: YAMLSyntaxError.self) { try parse("a: 1\n---\nb: 2\n") }
        #expect(error?.message.contains("more than one YAML document") == true)
        #expect(error?.mark.line == 2)
    }

    @Test func emptyStreamHasNoRoot() throws {
        #expect(try parse("") == nil)
        #expect(try parse("# only a comment\n") == nil)
    }

    @Test func syntaxErrorsCarryTheirPosition() {
        let error = #expect(throws: YAMLSyntaxError.self) { try parse("a: [1, 2\nb: 3\n") }
        #expect(error?.message.hasPrefix("YAML syntax error") == true)
        #expect((error?.mark.line ?? 0) >= 2)
    }

    @Test func plainNullsAreNullButQuotedOnesAreStrings() throws {
        let root = try #require(try parse("a: ~\nb: 'null'\nc:\nd: no\n"))
        guard case .mapping(let pairs) = root.content else {
            Issue.record("not a mapping")
            return
        }
        #expect(pairs.map(\.value.isNull) == [true, false, true, false])
    }
}
