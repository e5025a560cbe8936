import Foundation
import SluiceTestSupport
import Testing

@Suite("The language on the command line: examples, validate, plan, graph, schema")
struct LanguageCommandTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// A project holding copies of the repository's example DAGs and scripts.
    private func exampleProject() throws -> Project {
        let project = try Project()
        for folder in ["dags", "examples"] {
            try FileManager.default.copyItem(
                atPath: Self.repository + "/" + folder, toPath: project.path + "/" + folder)
        }
        for generated in ["data", "models"] {
            try? FileManager.default.removeItem(atPath: project.path + "/examples/churn/" + generated)
        }
        return project
    }

    @Test func theExampleFeatureTrainingAndScoringDAGsRunInOrder() throws {
        let project = try exampleProject()
        defer { project.remove() }
        for dag in ["churn_features", "churn_training", "churn_scoring"] {
            let result = try project.sluice("run", "dags/\(dag).yaml", "--logical-date", "2026-11-20")
            #expect(result.code == 0, "\(dag): \(result.stdout)\(result.stderr)")
        }
        let scores = try String(
            contentsOfFile: project.path + "/examples/churn/data/scores/2026-11-20/all.csv", encoding: .utf8)
        #expect(scores.hasPrefix("customer,churn_probability\n"))
        #expect(scores.split(separator: "\n").count > 100)
        let show = try project.sluice("runs", "show", "latest", "--json")
        #expect(show.stdout.contains("\"score[delhaize]\""))
        // The promoted model's lineage reaches through the brand template (included three times) to the
        // raw extracts; the same model file, declared as a path by one step and as a dataset by another, is
        // one version.
        let up = try project.sluice("lineage", "up", "churn_model_promoted")
        #expect(up.code == 0, "\(up.stderr)")
        for expected in [
            "churn_training.promote", "churn_training.train", "churn_features@sha256:", "churn_features.combine",
            "churn_features.ah.features", "churn_features.albert.extract", "churn_features.delhaize.extract",
            "/examples/churn/data/raw/ah.csv@sha256:",
        ] {
            #expect(up.stdout.contains(expected), "\(expected) missing from:\n\(up.stdout)")
        }
        let down = try project.sluice("lineage", "down", "churn_features")
        #expect(down.stdout.contains("churn_training.train") && down.stdout.contains("churn_scoring.score[ah]"))
    }

    @Test func validateChecksFoldersTemplatesAndUniqueIDs() throws {
        let project = try exampleProject()
        defer { project.remove() }
        let ok = try project.sluice("validate", "dags")
        #expect(ok.code == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("dags/templates/brand_features.yaml: ok (template brand_features)"))
        try project.dag("copy", "dag: churn_scoring\nsteps:\n  a: {command: echo}\n")
        let duplicate = try project.sluice("validate", "dags", "--json")
        #expect(duplicate.code == 1)
        #expect(duplicate.stdout.contains("\"code\" : \"duplicate-dag\""))
        #expect(duplicate.stdout.contains("is already the id of dags/churn_scoring.yaml:2"))
        let unreadable = try project.sluice("validate", "dags/nope.yaml")
        #expect(unreadable.code == 3)
        #expect(unreadable.stderr.contains("dags/nope.yaml: no such file"))
    }

    @Test func planResolvesWithoutRunningAndRejectsBadParams() throws {
        let project = try exampleProject()
        defer { project.remove() }
        let plan = try project.sluice(
            "plan", "dags/churn_scoring.yaml", "--param", "brands=ah,albert", "--logical-date", "2026-11-20")
        #expect(plan.code == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("score[albert]"))
        #expect(plan.stdout.contains("--out data/scores/2026-11-20/albert.csv"))
        #expect(!plan.stdout.contains("score[delhaize]"))
        #expect(!FileManager.default.fileExists(atPath: project.path + "/examples/churn/data"))
        let json = try project.sluice("plan", "dags/churn_training.yaml", "--json", "--param", "epochs=10")
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((parsed?["steps"] as? [[String: Any]])?.map { $0["key"] as? String } == ["train", "promote"])
        let bad = try project.sluice("plan", "dags/churn_training.yaml", "--param", "epoch=10", "--param", "min_auc=2")
        #expect(bad.code == 2)
        #expect(
            bad.stderr.contains("--param epoch: DAG churn_training has no parameter 'epoch' — did you mean 'epochs'?"))
        #expect(bad.stderr.contains("--param min_auc: parameter 'min_auc' must be at most 1.0, got 2.0"))
    }

    @Test func graphDrawsTextDotAndMermaid() throws {
        let project = try exampleProject()
        defer { project.remove() }
        let text = try project.sluice("graph", "dags/churn_features.yaml")
        #expect(text.stdout.contains("ah.extract\n└─ ah.features\n   └─ combine\n"))
        #expect(text.stdout.contains("albert.features\n   └─ combine ↑"))
        let dot = try project.sluice("graph", "dags/churn_scoring.yaml", "--format", "dot")
        #expect(dot.stdout.contains("\"score\" -> \"publish\";"))
        let mermaid = try project.sluice("graph", "dags/churn_scoring.yaml", "--format", "mermaid")
        #expect(mermaid.stdout.hasPrefix("flowchart LR\n"))
        #expect(mermaid.stdout.contains("s0 --> s1"))
    }

    @Test func schemaPrintsTheCommittedSchema() throws {
        let project = try Project()
        defer { project.remove() }
        let schema = try project.sluice("schema")
        let committed = try String(contentsOfFile: Self.repository + "/docs/sluice-dag.schema.json", encoding: .utf8)
        #expect(schema.stdout == committed)
    }
}
