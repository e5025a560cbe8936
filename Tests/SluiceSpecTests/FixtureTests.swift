import Foundation
import SluiceSpec
import Testing

/// The fixture folders under Tests/Fixtures/dags.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/dags").path

    static func files(_ folder: String) -> [String] {
        let directory = root + "/" + folder
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            $0.hasSuffix(".yaml")
        }
        .sorted().map { directory + "/" + $0 }
    }

    /// The diagnostics of a DAG file, as `sluice validate` prints them, with paths relative to the fixtures root.
    static func diagnostics(_ path: String) -> String {
        do {
            _ = try SpecLoader.load(path: path)
            return "(valid)\n"
        } catch let error as SpecError {
            return error.diagnostics.map { $0.description.replacingOccurrences(of: root + "/", with: "") + "\n" }
                .joined()
        } catch {
            return "unexpected error: \(error)\n"
        }
    }
}

@Suite("DAG fixtures: golden diagnostics")
struct FixtureTests {
    @Test func thereAreAtLeastSixtyInvalidFixtures() {
        #expect(Fixtures.files("invalid").count >= 60)
    }

    /// Each invalid fixture's diagnostics equal its `.expected` file. Run with SLUICE_UPDATE_GOLDEN=1 to rewrite them.
    @Test(arguments: Fixtures.files("invalid"))
    func invalidFixtureMatchesItsGoldenDiagnostics(_ path: String) throws {
        let actual = Fixtures.diagnostics(path)
        let golden = String(path.dropLast(".yaml".count)) + ".expected"
        if ProcessInfo.processInfo.environment["SLUICE_UPDATE_GOLDEN"] == "1" {
            try actual.write(toFile: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: golden, encoding: .utf8)
        #expect(actual == expected, "\(path)")
        #expect(actual != "(valid)\n")
    }

    @Test(arguments: Fixtures.files("valid"))
    func validFixtureValidates(_ path: String) {
        #expect(Fixtures.diagnostics(path) == "(valid)\n")
    }

    @Test(arguments: Fixtures.files("templates").filter { !$0.hasSuffix("broken.yaml") })
    func templateFixtureValidatesOnItsOwn(_ path: String) throws {
        guard case .template = try SpecLoader.check(path: path) else {
            Issue.record("\(path) was not read as a template")
            return
        }
    }

    /// Between them, the valid fixtures use every key of every mapping in the vocabulary.
    @Test func validFixturesCoverEveryKey() throws {
        var text = ""
        for path in Fixtures.files("valid") + Fixtures.files("templates") {
            text += try String(contentsOfFile: path, encoding: .utf8)
        }
        let all =
            Vocabulary.dag + Vocabulary.template + Vocabulary.step + Vocabulary.param + Vocabulary.resources
            + Vocabulary.retries + Vocabulary.include + Vocabulary.data + Vocabulary.handler
        let missing = all.map(\.name).filter { name in
            !text.contains("\(name):") && !text.contains("{\(name):") && !text.contains(" \(name): ")
        }
        #expect(missing.isEmpty, "keys no valid fixture uses: \(missing)")
    }
}
