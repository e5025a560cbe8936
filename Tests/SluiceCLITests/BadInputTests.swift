import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

@Suite("End to end: bad input gets one clear line, a documented code, and loses nothing")
struct BadInputTests {
    @Test func invalidDAGsAreRefusedBeforeAnythingRuns() throws {
        let project = try Project()
        defer { project.remove() }
        let cases: [(String, String, String)] = [
            ("malformed", "dag: m\nsteps:\n  a: {command: [true,\n", "dags/malformed.yaml:4:1: YAML syntax error"),
            (
                "unknown_need", "dag: u\nsteps:\n  a: {command: x, needs: [b]}\n",
                "dags/unknown_need.yaml:3:27: steps.a.needs[0]: unknown step 'b'"
            ),
            (
                "cycle", "dag: c\nsteps:\n  a: {command: x, needs: [b]}\n  b: {command: x, needs: [a]}\n",
                "dags/cycle.yaml:3:3: dependency cycle: a -> b -> a"
            ),
        ]
        for (name, yaml, expected) in cases {
            let file = try project.dag(name, yaml)
            let result = try project.sluice("run", file)
            #expect(result.code == 2, "\(name): \(result.stderr)")
            #expect(result.stderr.hasPrefix(expected), "\(name): \(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(try project.sluice("validate", file).code == 1)
        }
        let missing = try project.sluice("run", "dags/nothing.yaml")
        #expect(missing.code == 3)
        #expect(missing.stderr == "sluice: dags/nothing.yaml: no such file\n")
        #expect(try project.sluice("validate", "dags/nothing.yaml").code == 3)
        let runs = try #require(try project.sluice("runs", "--json").json()["runs"] as? [Any])
        #expect(runs.isEmpty)
    }

    @Test func validateAcceptsAGoodFileAndReportsJSON() throws {
        let project = try Project()
        defer { project.remove() }
        let good = try project.dag("good", "dag: good\nsteps:\n  a: {command: x}\n")
        let bad = try project.dag("bad", "dag: bad\nsteps:\n  a: {comand: x}\n")
        let ok = try project.sluice("validate", good)
        #expect(ok.code == 0)
        #expect(ok.stdout == "dags/good.yaml: ok (dag good, 1 steps)\n")
        let result = try project.sluice("validate", good, bad, "--json")
        #expect(result.code == 1)
        let files = try #require(try result.json()["files"] as? [[String: Any]])
        #expect(files.map { $0["valid"] as? Bool } == [true, false])
        let diagnostics = try #require(files[1]["diagnostics"] as? [[String: Any]])
        #expect(diagnostics.contains { $0["line"] as? Int == 3 && $0["path"] as? String == "steps.a.comand" })
    }

    @Test func unreachableDatabaseNamesTheSocketButNeverThePassword() throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        try directory.write("dags/x.yaml", "dag: x\nsteps:\n  a: {command: \"true\"}\n")
        let url = "postgresql://alice:s3cr3t-pw@/warehouse?host=/nonexistent/socketdir"
        for arguments in [["run", "dags/x.yaml", "--database-url", url], ["status", "--database-url", url]] {
            let result = try SluiceBinary.run(arguments, in: directory.path)
            #expect(result.code == 4)
            #expect(result.stderr.contains("/nonexistent/socketdir/.s.PGSQL.5432"))
            #expect(result.stderr.contains("database warehouse"))
            #expect(!result.stderr.contains("s3cr3t-pw"))
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test func aDatabaseFromANewerSluiceIsRefused() throws {
        let project = try Project()
        defer { project.remove() }
        #expect(try project.sluice("db", "migrate").code == 0)
        try PGConnection(conninfo: project.databaseURL).query(
            "INSERT INTO sluice_migration (version, name, checksum) VALUES (9999, 'future', 'x')")
        let result = try project.sluice("status")
        #expect(result.code == 4)
        #expect(result.stderr.contains("newer Sluice"))
        let dbStatus = try project.sluice("db", "status", "--json").json()
        #expect((dbStatus["schema"] as? [String: Any])?["current_version"] as? Int == 9999)
    }

    @Test func usageErrorsExitWith64() throws {
        let project = try Project()
        defer { project.remove() }
        #expect(try project.sluice("run").code == 64)
        #expect(try project.sluice("runs", "--limit", "0").code == 64)
        #expect(try project.sluice("frobnicate").code == 64)
    }
}
