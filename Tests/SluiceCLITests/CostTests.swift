import Foundation
import SluiceModel
import SluiceStore
import SluiceTestSupport
import Testing

@Suite("End to end: tags, the price book, cost lines, reports, right-sizing")
struct CostTests {
    private func json(_ result: CommandResult) throws -> [String: Any] {
        #expect(result.code == 0, "\(result.stdout)\(result.stderr)")
        return try result.json()
    }

    private func close(_ a: Double?, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
        guard let a else { return false }
        return abs(a - b) <= tolerance * max(1, abs(b))
    }

    /// Attempts as `runs show --json` records them: step, number, wall seconds and requested CPUs.
    private func attempts(_ project: Project, _ run: String) throws -> [[String: Any]] {
        try json(project.sluice("runs", "show", run, "--json"))["attempts"] as? [[String: Any]] ?? []
    }

    @Test func amountsMatchAHandComputationAcrossAPriceChangeAndARetry() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write(
            "sluice.yaml",
            """
            prices:
              - {resource: cpu, price: 0.04, basis: requested}
              - {resource: attempt, price: 0.5}
            """)
        // `flaky` fails once, then succeeds: its first attempt is waste.
        try project.dag(
            "priced",
            """
            dag: priced
            tags: {team: churn}
            steps:
              prepare:
                command: "true"
                resources: {cpus: 0.5}
              flaky:
                needs: [prepare]
                command: "test -f ../flag-$SLUICE_RUN_ID && exit 0; touch ../flag-$SLUICE_RUN_ID; exit 1"
                resources: {cpus: 2}
                retries: {attempts: 2, backoff: 1s}
            """)
        #expect(try project.sluice("run", "dags/priced.yaml").code == 0)
        let before = try json(project.sluice("cost", "run", "1", "--json"))
        // A new flat price from now on: run 2's attempts pay it, run 1's keep theirs.
        #expect(try project.sluice("prices", "set", "attempt", "0.75").code == 0)
        #expect(try project.sluice("run", "dags/priced.yaml").code == 0)
        #expect(
            try json(project.sluice("cost", "run", "1", "--json"))["amount"] as? Double == before["amount"] as? Double)

        var expected = 0.0
        var expectedWaste = 0.0
        for (run, flat) in [("1", 0.5), ("2", 0.75)] {
            let recorded = try attempts(project, run)
            #expect(recorded.count == 3)
            let costs = try json(project.sluice("cost", "run", run, "--json"))["attempts"] as? [[String: Any]] ?? []
            for attempt in recorded {
                let step = attempt["step"] as? String ?? ""
                let number = attempt["number"] as? Int ?? 0
                let wall = attempt["wall_seconds"] as? Double ?? -1
                let cpus = step == "prepare" ? 0.5 : 2.0
                // By hand: requested cores × wall hours × 0.04, plus the flat price per attempt.
                let amount = cpus * wall / 3600 * 0.04 + flat
                let cost = costs.first { $0["step"] as? String == step && $0["number"] as? Int == number }
                #expect(close(cost?["amount"] as? Double, amount), "\(step) #\(number) in run \(run)")
                let lines = cost?["lines"] as? [[String: Any]] ?? []
                let cpu = lines.first { $0["resource"] as? String == "cpu" }
                #expect(close(cpu?["quantity"] as? Double, cpus * wall / 3600))
                #expect(cpu?["basis"] as? String == "requested")
                #expect(lines.first { $0["resource"] as? String == "attempt" }?["unit_price"] as? Double == flat)
                // Memory has no price: its line keeps the usage, with no amount.
                #expect(lines.contains { $0["resource"] as? String == "memory" && $0["amount"] == nil })
                let failed = step == "flaky" && number == 1
                #expect(cost?["waste"] as? Bool == failed)
                expected += amount
                if failed { expectedWaste += amount }
            }
        }
        let report = try json(project.sluice("cost", "--by", "team", "--json"))
        let groups = report["groups"] as? [[String: Any]] ?? []
        #expect(groups.count == 1)
        #expect(groups.first?["keys"] as? [String] == ["churn"])
        #expect(close(groups.first?["amount"] as? Double, expected))
        #expect(close(groups.first?["waste"] as? Double, expectedWaste))
        #expect(groups.first?["attempts"] as? Int == 6)
        #expect(groups.first?["failed_attempts"] as? Int == 2)
        #expect(groups.first?["unpriced_attempts"] as? Int == 6)  // memory is priced nowhere

        // History is never rewritten: a price at run 1's effective date with another value is refused.
        let rewrite = try project.sluice("prices", "set", "attempt", "0.9", "--from", "1970-01-01")
        #expect(rewrite.code == 64)
        #expect(rewrite.stderr.contains("never rewrites past costs"), "\(rewrite.stderr)")
        // So is editing sluice.yaml's price in place, at the line of the price.
        try project.directory.write(
            "sluice.yaml",
            """
            prices:
              - {resource: cpu, price: 0.05, basis: requested}
              - {resource: attempt, price: 0.5}
            """)
        let edited = try project.sluice("run", "dags/priced.yaml")
        #expect(edited.code == 2)
        #expect(edited.stderr.contains("sluice.yaml:2:5: cpu from 1970-01-01"), "\(edited.stderr)")
        let prices = try project.sluice("prices", "--json").jsonArray()
        #expect(prices.count == 3)
        #expect(prices.filter { $0["in_effect"] as? Bool == true }.count == 2)
    }

    @Test func requiredTagsAreRejectedWhereTheyAreMissingOrWrong() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write(
            "sluice.yaml",
            """
            required_tags:
              team: [churn, growth]
              cost_center: ~
            """)
        try project.dag(
            "untagged",
            """
            dag: untagged
            steps:
              a:
                command: "true"
            """)
        let missing = try project.sluice("validate", "dags/untagged.yaml")
        #expect(missing.code != 0)
        #expect(missing.stderr.contains("dags/untagged.yaml:1:6: dag untagged has no tag 'team'"), "\(missing.stderr)")
        #expect(missing.stderr.contains("sluice.yaml:2:3"))
        #expect(missing.stderr.contains("no tag 'cost_center'"))
        // One step has the tags, the other lacks one: the error is at that step; a wrong value at its own place.
        try project.dag(
            "partial",
            """
            dag: partial
            tags: {cost_center: cc-1}
            steps:
              good:
                command: "true"
                tags: {team: churn}
              bad:
                command: "true"
              typo:
                command: "true"
                tags: {team: chrun}
            """)
        let partial = try project.sluice("validate", "dags/partial.yaml")
        #expect(partial.code != 0)
        #expect(partial.stderr.contains("dags/partial.yaml:7:3: step bad has no tag 'team'"), "\(partial.stderr)")
        #expect(
            partial.stderr.contains(
                "dags/partial.yaml:11:18: step typo: tag team is 'chrun', which is not one of churn, growth"),
            "\(partial.stderr)")
        #expect(partial.stderr.contains("did you mean 'churn'"))
        for command in ["plan", "run"] {
            #expect(try project.sluice(command, "dags/partial.yaml").code != 0)
        }
        // A tag from a parameter is checked once resolved, at the tag's place.
        try project.dag(
            "templated",
            """
            dag: templated
            params:
              team: {type: string, default: churn}
            tags: {team: "${{ params.team }}", cost_center: cc-1}
            steps:
              a:
                command: "true"
            """)
        #expect(try project.sluice("plan", "dags/templated.yaml").code == 0)
        let wrong = try project.sluice("run", "dags/templated.yaml", "--param", "team=sales")
        #expect(wrong.code != 0)
        #expect(
            wrong.stderr.contains("dags/templated.yaml:4:14: step a: tag team is 'sales'"), "\(wrong.stderr)")
        #expect((try project.sluice("runs", "--json").json()["runs"] as? [Any])?.isEmpty == true)  // nothing written
    }

    @Test func theServiceDoesNotLoadADAGWithoutARequiredTagAndSaysWhere() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("sluice.yaml", "required_tags: [team]\n")
        try project.dag("bare", "dag: bare\nsteps:\n  a: {command: \"true\"}\n")
        try project.dag("tagged", "dag: tagged\ntags: {team: churn}\nsteps:\n  a: {command: \"true\"}\n")
        #expect(try project.sluice("serve", "--once").code == 0)
        let status = try json(project.sluice("status", "--json"))
        let broken = status["broken_files"] as? [[String: Any]] ?? []
        let error = broken.first { ($0["file"] as? String)?.hasSuffix("bare.yaml") == true }?["error"] as? String
        #expect(error?.contains("bare.yaml:1:6: dag bare has no tag 'team'") == true, "\(status)")
        let dags = (status["dags"] as? [[String: Any]] ?? []).compactMap { $0["dag"] as? String }
        #expect(dags == ["tagged"])
        // A trigger whose parameter makes a tag that is not allowed is refused before anything is queued.
        try project.directory.write("sluice.yaml", "required_tags: {team: [churn, growth]}\n")
        try project.dag(
            "param",
            """
            dag: param
            params:
              team: {type: string, default: churn}
            tags: {team: "${{ params.team }}"}
            steps:
              a: {command: "true"}
            """)
        #expect(try project.sluice("serve", "--once").code == 0)
        let refused = try project.sluice("trigger", "param", "--param", "team=sales")
        #expect(refused.code == 2)
        #expect(refused.stderr.contains("dags/param.yaml:4:14: step a: tag team is 'sales'"), "\(refused.stderr)")
        #expect((try project.sluice("runs", "--json").json()["runs"] as? [Any])?.isEmpty == true)  // none queued
    }

    @Test func usageWithoutATagIsReportedUntaggedAndCSVReadsBack() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("sluice.yaml", "prices:\n  - {resource: memory, price: 0.01}\n")
        try project.dag(
            "mixed",
            """
            dag: mixed
            steps:
              plain:
                command: "true"
              quoted:
                command: "true"
                tags: {team: 'a, "b"'}
            """)
        #expect(try project.sluice("run", "dags/mixed.yaml").code == 0)
        let report = try json(project.sluice("cost", "--by", "team", "--json"))
        let groups = report["groups"] as? [[String: Any]] ?? []
        #expect(Set(groups.compactMap { ($0["keys"] as? [String])?.first }) == ["(untagged)", "a, \"b\""])
        #expect(groups.allSatisfy { $0["attempts"] as? Int == 1 })
        let text = try project.sluice("cost", "--by", "team")
        #expect(text.stdout.contains("(untagged)"))
        let csv = try project.sluice("cost", "--by", "team,step", "--csv")
        #expect(csv.code == 0)
        try project.directory.write("report.csv", csv.stdout)
        let read = try SluiceBinary.runProgram(
            [
                "/usr/bin/python3", "-c",
                "import csv, json, sys; print(json.dumps(list(csv.DictReader(open(sys.argv[1], newline='')))))",
                project.path + "/report.csv",
            ], in: project.path)
        #expect(read.code == 0, "\(read.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [[String: String]] ?? []
        #expect(rows.count == 2)
        let quoted = rows.first { $0["team"] == "a, \"b\"" }
        #expect(quoted?["step"] == "mixed/quoted")
        let fromJSON = groups.first { ($0["keys"] as? [String])?.first == "a, \"b\"" }?["amount"] as? Double
        #expect(close(Double(quoted?["amount"] ?? ""), fromJSON ?? -1, 1e-5))
        #expect(rows.allSatisfy { $0["currency"] == "USD" })
    }

    @Test func efficiencyRecommendsFromPeakMemoryAndRaisesAfterAnOOMKill() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("sluice.yaml", "prices:\n  - {resource: memory, price: 0.01}\n")
        try project.dag(
            "sizing",
            """
            dag: sizing
            steps:
              known:
                command: "python3 -c 'x = bytearray(200 * 1024 * 1024)'"
                resources: {memory: 1Gi}
              hog:
                command: "python3 -c 'x = bytearray(400 * 1024 * 1024)'"
                resources: {memory: 64Mi}
            """)
        _ = try project.sluice("run", "dags/sizing.yaml")
        let recorded = try attempts(project, "latest")
        let known = recorded.first { $0["step"] as? String == "known" }
        let peak = Int64(known?["max_rss_bytes"] as? Int ?? 0)
        #expect(peak > 200 << 20 && peak < 240 << 20, "peak \(peak)")
        let report = try json(project.sluice("efficiency", "--json"))
        let steps = report["steps"] as? [[String: Any]] ?? []
        let sized = steps.first { $0["step"] as? String == "known" }
        let memory = sized?["memory"] as? [String: Any]
        // 200 MiB and the interpreter, plus 20%, rounded up to 64 MiB: 256 MiB … 320 MiB.
        let recommended = Int64(memory?["recommended"] as? Double ?? 0)
        #expect(recommended == Sizing.roundUpMemory(Int64((Double(peak) * 1.2).rounded(.up))))
        #expect(recommended % (64 << 20) == 0 && recommended >= 256 << 20 && recommended <= 320 << 20)
        #expect(close(memory?["used_over_requested_p50"] as? Double, Double(peak) / Double(1 << 30), 1e-6))
        // It would have saved (1 GiB − recommended) × hours × 0.01 on its one attempt.
        let hours = (known?["wall_seconds"] as? Double ?? 0) / 3600
        let saves = (Double(1 << 30) - Double(recommended)) / Double(1 << 30) * hours * 0.01
        #expect(close(sized?["saves"] as? Double, saves, 1e-6))
        // The OOM-killed step: the run's message and the recommendation name the same size.
        let hog = steps.first { $0["step"] as? String == "hog" }
        #expect(hog?["oom_kills"] as? Int == 1)
        let raised = Int64((hog?["memory"] as? [String: Any])?["recommended"] as? Double ?? 0)
        #expect(raised == 128 << 20)
        let message = recorded.first { $0["step"] as? String == "hog" }?["message"] as? String ?? ""
        #expect(message.contains("(e.g. \(Sizing.memoryText(raised)))"), "\(message)")
        #expect((hog?["advice"] as? [String])?.first?.contains("raise resources.memory to 128Mi") == true)
        let text = try project.sluice("efficiency")
        #expect(text.stdout.contains("sizing/hog: 1 OOM kill: raise resources.memory to 128Mi"), "\(text.stdout)")
    }

    @Test func cachedStepsRecordWhatTheySavedAndOldAttemptsAreBackfilled() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("sluice.yaml", "prices:\n  - {resource: attempt, price: 2}\n")
        try project.directory.write("data/in.txt", "x\n")
        try project.dag(
            "cached",
            """
            dag: cached
            steps:
              copy:
                command: "cp ../data/in.txt ../data/out.txt"
                inputs: [../data/in.txt]
                outputs: [../data/out.txt]
            """)
        #expect(try project.sluice("run", "dags/cached.yaml").code == 0)
        #expect(try project.sluice("run", "dags/cached.yaml").code == 0)
        let second = try json(project.sluice("cost", "run", "2", "--json"))
        #expect((second["attempts"] as? [Any])?.isEmpty == true)
        // `latest` names the newest run, as in `runs show` and `logs`; anything else that is not an id is refused.
        #expect(try json(project.sluice("cost", "run", "latest", "--json"))["run"] as? Int == 2)
        let notAnID = try project.sluice("cost", "run", "newest")
        #expect(notAnID.code == 64 && notAnID.stderr.contains("'newest' is not a run id"), "\(notAnID.stderr)")
        let cached = (second["cached"] as? [[String: Any]])?.first
        #expect(cached?["saved"] as? Double == 2)
        let report = try json(project.sluice("cost", "--by", "dag", "--json"))
        #expect((report["totals"] as? [String: Any])?["saved"] as? Double == 2)
        #expect((report["totals"] as? [String: Any])?["cached_steps"] as? Int == 1)

        // An attempt recorded before costs were kept: no lines, no tags. Backfill costs it at the price then.
        let database = try PGConnection(conninfo: project.databaseURL)
        #expect(try project.sluice("run", "dags/cached.yaml", "--force").code == 0)
        try database.query("ALTER TABLE cost_line DISABLE TRIGGER cost_line_is_final")
        try database.query("DELETE FROM cost_line WHERE attempt_id = (SELECT max(id) FROM attempt)")
        try database.query("ALTER TABLE cost_line ENABLE TRIGGER cost_line_is_final")
        try database.query("DELETE FROM attempt_cost WHERE attempt_id = (SELECT max(id) FROM attempt)")
        try database.query("UPDATE attempt SET tag_set_id = NULL WHERE id = (SELECT max(id) FROM attempt)")
        // Run 4 reuses that attempt, which has no cost yet: its saving is unknown until the backfill.
        #expect(try project.sluice("run", "dags/cached.yaml").code == 0)
        let fourth = try json(project.sluice("cost", "run", "4", "--json"))
        #expect((fourth["cached"] as? [[String: Any]])?.first?["saved"] == nil)
        // As after an upgrade: attempts up to the newest one were recorded before costs were kept.
        try database.query("UPDATE cost_state SET backfill_below = (SELECT max(id) FROM attempt)")
        #expect(try json(project.sluice("cost", "--json"))["backfill_pending"] as? Bool == true)
        #expect(try project.sluice("cost").stdout.contains("run: sluice cost backfill"))
        let dry = try json(project.sluice("cost", "backfill", "--dry-run", "--json"))
        #expect(dry["attempts_without_lines"] as? Int == 1)
        let done = try json(project.sluice("cost", "backfill", "--json"))
        #expect(done["attempts_costed"] as? Int == 1)
        let third = try json(project.sluice("cost", "run", "3", "--json"))
        let backfilled = (third["attempts"] as? [[String: Any]])?.first
        #expect(backfilled?["amount"] as? Double == 2)
        #expect(backfilled?["tags"] as? [String: String] == ["dag": "cached", "step": "copy"])
        let saved = try json(project.sluice("cost", "run", "4", "--json"))["cached"] as? [[String: Any]]
        #expect(saved?.first?["saved"] as? Double == 2)
        #expect(saved?.first?["reused_attempt"] as? Int == backfilled?["attempt"] as? Int)
        #expect(try json(project.sluice("cost", "backfill", "--json"))["attempts_costed"] as? Int == 0)
        #expect(try json(project.sluice("cost", "--json"))["backfill_pending"] as? Bool == false)
    }

    @Test func unpricedLinesArePricedByBackfillWithoutTouchingPricedOnes() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag("plain", "dag: plain\nsteps:\n  a:\n    command: \"true\"\n")
        #expect(try project.sluice("run", "dags/plain.yaml").code == 0)
        let unpriced = try json(project.sluice("cost", "--by", "dag", "--json"))
        #expect((unpriced["totals"] as? [String: Any])?["unpriced_attempts"] as? Int == 1)
        #expect(try project.sluice("cost", "--by", "dag").stdout.contains("sluice cost backfill"))
        #expect(try project.sluice("prices", "set", "memory", "0.01", "--from", "2000-01-01").code == 0)
        let done = try json(project.sluice("cost", "backfill", "--json"))
        #expect(done["attempts_priced"] as? Int == 1)
        #expect(done["attempts_still_unpriced"] as? Int == 1)  // CPU has no price still
        let lines =
            (try json(project.sluice("cost", "run", "1", "--json"))["attempts"] as? [[String: Any]])?.first?[
                "lines"] as? [[String: Any]] ?? []
        let memory = lines.first { $0["resource"] as? String == "memory" }
        let quantity = memory?["quantity"] as? Double ?? -1
        #expect(close(memory?["amount"] as? Double, quantity * 0.01))
        // A priced line cannot be rewritten, even directly in SQL.
        let database = try PGConnection(conninfo: project.databaseURL)
        #expect(throws: DatabaseError.self) {
            try database.query("UPDATE cost_line SET amount = 0 WHERE resource = 'memory'")
        }
    }

    @Test func aReadOnlyRoleCanSelectAndCannotWrite() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag("plain", "dag: plain\nsteps:\n  a:\n    command: \"true\"\n")
        #expect(try project.sluice("run", "dags/plain.yaml").code == 0)
        let grant = try json(project.sluice("db", "grant-readonly", "dash board", "--json"))
        #expect(grant["created"] as? Bool == true)
        #expect(try project.sluice("db", "grant-readonly", "sluice").code == 64)  // a superuser is refused
        let database = try PGConnection(conninfo: project.databaseURL)
        try database.withSession { session in
            try session.script("SET ROLE \"dash board\"")
            #expect(try session.query("SELECT count(*) AS n FROM attempt_cost").rows.first?.int("n") == 1)
            #expect(try session.query("SELECT count(*) AS n FROM run").rows.first?.int("n") == 1)
            for statement in [
                "INSERT INTO price (resource, unit_price, currency, effective_from, source, set_by) VALUES ('cpu', 1, 'USD', now(), 'x', 'x')",
                "UPDATE run SET message = 'x'", "DELETE FROM event", "CREATE TABLE sneaky (id int)",
            ] {
                #expect(throws: DatabaseError.self) { try session.query(SQL(stringLiteral: statement)) }
            }
            try session.script("RESET ROLE")
        }
        let config = try database.query(
            "SELECT array_to_string(rolconfig, ',') AS c FROM pg_roles WHERE rolname = 'dash board'"
        ).rows.first?["c"]
        #expect(config == "default_transaction_read_only=on")
    }
}
