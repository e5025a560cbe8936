import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

@Suite("End to end: --database-url goes through libpq as it is")
struct DatabaseURLTests {
    @Test func pgEnvironmentVariablesFillInWhatTheURLLeavesOut() throws {
        let project = try Project()
        defer { project.remove() }
        let options = try #require(conninfoOptions(project.databaseURL))
        let result = try SluiceBinary.run(
            ["status", "--json", "--database-url", "user=sluice"], in: project.path,
            env: ["PGHOST": options["host"]!, "PGDATABASE": options["dbname"]!])
        #expect(result.code == 0, "\(result.stderr)")
        #expect((try result.json()["dags"] as? [Any]) != nil)
    }

    @Test func aMultiHostURLFallsThroughToTheHostThatAnswers() throws {
        let project = try Project()
        defer { project.remove() }
        let options = try #require(conninfoOptions(project.databaseURL))
        let url = "postgresql:///\(options["dbname"]!)?host=/nonexistent/first,\(options["host"]!)&user=sluice"
        let result = try SluiceBinary.run(["db", "status", "--json", "--database-url", url], in: project.path)
        #expect(result.code == 0, "\(result.stderr)")
        #expect((try result.json()["database"] as? String)?.contains(options["host"]!) == true)
    }

    /// The `key=value` pairs of a simple conninfo string.
    private func conninfoOptions(_ conninfo: String) -> [String: String]? {
        var options: [String: String] = [:]
        for part in conninfo.split(separator: " ") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { return nil }
            options[pair[0]] = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        return options
    }
}
