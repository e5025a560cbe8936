import Foundation
import SluiceHost
import SluiceSpec
import Testing

@Suite("Every YAML example in docs/ is checked")
struct DocExampleTests {
    static let docs = SchemaTests.repository + "/docs"

    /// The ```yaml blocks of every Markdown file under docs/, with the line each starts on.
    static func examples() -> [String] {
        var found: [String] = []
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: docs)) ?? []).sorted()
        where name.hasSuffix(".md") {
            guard let text = try? String(contentsOfFile: docs + "/" + name, encoding: .utf8) else { continue }
            var block: [String]?
            var start = 0
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if block == nil && line == "```yaml" {
                    block = []
                    start = number + 2
                } else if block != nil && line == "```" {
                    found.append("\(name):\(start)\n" + block!.joined(separator: "\n") + "\n")
                    block = nil
                } else if block != nil {
                    block!.append(String(line))
                }
            }
        }
        return found
    }

    @Test func theDocsHaveExamples() {
        #expect(Self.examples().count >= 15)
    }

    @Test(arguments: examples())
    func exampleValidatesOrFailsAsItSays(_ example: String) {
        let newline = example.firstIndex(of: "\n")!
        let origin = String(example[..<newline])
        let text = String(example[example.index(after: newline)...])
        let firstLine = text.prefix { $0 != "\n" }
        do {
            if firstLine == "# sluice.yaml" {
                // A host configuration example: it must load as one.
                let file = "/tmp/sluice-doc-config-\(getpid())-\(UUID().uuidString).yaml"
                try text.write(toFile: file, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(atPath: file) }
                _ = try HostConfig.load(path: file)
                return
            }
            _ = try SpecLoader.parse(bytes: Array(text.utf8), file: origin, baseDirectory: Self.docs)
            #expect(!firstLine.hasPrefix("# invalid:"), "\(origin): expected it to fail")
        } catch let error as SpecError {
            guard firstLine.hasPrefix("# invalid: ") else {
                Issue.record("\(origin): \(error)")
                return
            }
            let expected = String(firstLine.dropFirst("# invalid: ".count))
            #expect(error.description.contains(expected), "\(origin): \(error)")
        } catch {
            Issue.record("\(origin): \(error)")
        }
    }

    /// Every key of the vocabulary appears in the reference, so no key goes undocumented.
    @Test func theReferenceMentionsEveryKey() throws {
        let text = try String(contentsOfFile: Self.docs + "/dag-reference.md", encoding: .utf8)
        let all =
            Vocabulary.dag + Vocabulary.template + Vocabulary.step + Vocabulary.param + Vocabulary.resources
            + Vocabulary.retries + Vocabulary.include + Vocabulary.data + Vocabulary.handler + Vocabulary.secret
        let missing = Set(all.map(\.name)).filter { !text.contains("`\($0)`") }
        #expect(missing.isEmpty, "undocumented keys: \(missing.sorted())")
    }
}
