import Foundation
import SluiceTestSupport
import Testing

@Suite("End to end: data versions, pins, skipping work already done, lineage queries")
struct LineageTests {
    /// The churn pipeline in small: raw → features → model (a named dataset) → a report with no outputs.
    private func pipeline(_ project: Project) throws {
        try project.directory.write("data/raw.csv", "id,churned\n1,0\n2,1\n")
        try project.dag(
            "churn",
            """
            dag: churn
            steps:
              features:
                command: "cp ../data/raw.csv ../data/features.csv"
                inputs: [../data/raw.csv]
                outputs: [../data/features.csv]
              train:
                needs: [features]
                command: "wc -l < ../data/features.csv > ../data/model.json; echo metric.auc=0.91 >> $SLUICE_OUTPUT; echo model=m1 >> $SLUICE_OUTPUT"
                inputs: [../data/features.csv]
                outputs: [{path: ../data/model.json, dataset: churn_model}]
              report:
                needs: [train]
                command: "echo ${{ steps.train.outputs.model }}"
            """)
    }

    private func show(_ project: Project, _ run: String = "latest") throws -> [String: Any] {
        try project.sluice("runs", "show", run, "--json").json()
    }

    private func attempt(_ show: [String: Any], _ step: String) -> [String: Any]? {
        (show["attempts"] as? [[String: Any]])?.last { $0["step"] as? String == step }
    }

    private func versions(_ attempt: [String: Any]?, _ key: String) -> [String: String] {
        var result: [String: String] = [:]
        for edge in attempt?[key] as? [[String: Any]] ?? [] {
            if let name = edge["name"] as? String { result[name] = edge["version"] as? String }
        }
        return result
    }

    @Test func anEditedInputChangesItsVersionAndFingerprintsAndAnUnchangedRunCachesWithoutHashing() throws {
        let project = try Project()
        defer { project.remove() }
        try pipeline(project)
        let first = try project.sluice("run", "dags/churn.yaml")
        #expect(first.code == 0, "\(first.stdout)\(first.stderr)")
        let run1 = try show(project)
        #expect((run1["bytes_hashed"] as? Int ?? 0) > 0)
        let train1 = attempt(run1, "train")
        #expect(versions(train1, "output_data")["churn_model"]?.hasPrefix("sha256:") == true)
        #expect((train1?["metrics"] as? [String: Double]) == ["auc": 0.91])
        #expect(train1?["lineage"] as? String == "complete")
        let raw = project.path + "/data/raw.csv"
        #expect(versions(attempt(run1, "features"), "inputs")[raw]?.hasPrefix("sha256:") == true)

        // Nothing changed: the steps with outputs are cached, by stats alone; the report (no outputs) runs.
        let second = try project.sluice("run", "dags/churn.yaml")
        #expect(second.code == 0 && second.stdout.contains("1 of 3 steps succeeded, 2 cached"), "\(second.stdout)")
        let run2 = try show(project)
        #expect(run2["bytes_hashed"] as? Int == 0)
        let steps2 = run2["steps"] as? [[String: Any]] ?? []
        #expect(steps2.map { $0["state"] as? String } == ["cached", "cached", "succeeded"])
        #expect(steps2[1]["reused_attempt"] as? Int == train1?["id"] as? Int)
        #expect(try project.sluice("logs", "latest", "report").stdout == "m1\n")

        // An edited input: a new version, new fingerprints downstream, everything runs again.
        try project.directory.write("data/raw.csv", "id,churned\n1,0\n2,1\n3,0\n")
        #expect(try project.sluice("run", "dags/churn.yaml").code == 0)
        let run3 = try show(project)
        #expect(
            (run3["steps"] as? [[String: Any]])?.map { $0["state"] as? String } == [
                "succeeded", "succeeded", "succeeded",
            ])
        #expect(
            versions(attempt(run3, "features"), "inputs")[raw] != versions(attempt(run1, "features"), "inputs")[raw])
        for step in ["features", "train"] {
            #expect(attempt(run3, step)?["fingerprint"] as? String != attempt(run1, step)?["fingerprint"] as? String)
        }
        // --force runs every step; --force-step the one named; an unknown step is refused.
        let forced = try project.sluice("run", "dags/churn.yaml", "--force")
        #expect(forced.stdout.contains("3 of 3 steps succeeded"), "\(forced.stdout)")
        let one = try project.sluice("run", "dags/churn.yaml", "--force-step", "train")
        #expect(one.stdout.contains("2 of 3 steps succeeded, 1 cached"), "\(one.stdout)")
        let typo = try project.sluice("run", "dags/churn.yaml", "--force-step", "trian")
        #expect(typo.code == 64 && typo.stderr.contains("has no step trian"), "\(typo.stderr)")
    }

    @Test func anInputChangedWhileTheStepRanIsFlaggedAndAMissingOutputFailsIt() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("data/in.txt", "a\n")
        try project.dag(
            "edgy",
            """
            dag: edgy
            cache: false
            steps:
              grow:
                command: "echo b >> ../data/in.txt"
                inputs: [../data/in.txt]
              promise:
                command: "true"
                outputs: [../data/never.txt]
            """)
        let run = try project.sluice("run", "dags/edgy.yaml")
        #expect(run.code != 0)
        let detail = try show(project)
        let grow = attempt(detail, "grow")
        #expect(grow?["lineage"] as? String == "input_changed")
        #expect((grow?["inputs"] as? [[String: Any]])?.first?["changed"] as? Bool == true)
        #expect((grow?["warnings"] as? [String])?.contains { $0.contains("changed while it ran") } == true)
        let promise = (detail["steps"] as? [[String: Any]])?.first { $0["step"] as? String == "promise" }
        #expect(promise?["state"] as? String == "failed")
        #expect((promise?["message"] as? String)?.contains("declared output is missing") == true, "\(promise ?? [:])")
        #expect((promise?["message"] as? String)?.contains("never.txt does not exist") == true)
    }

    @Test func lineageUpAndDownAcrossFanOutAndASecondDAGWithFromStepVersions() throws {
        let project = try Project()
        defer { project.remove() }
        try pipeline(project)
        try project.dag(
            "scoring",
            """
            dag: scoring
            steps:
              score:
                foreach: [north, south]
                command: "cat ../data/model.json > ../data/scores_${{ item }}.csv"
                inputs: [{path: ../data/model.json, dataset: churn_model}]
                outputs: ["../data/scores_${{ item }}.csv"]
              publish:
                needs: [score]
                command: "echo version.churn_scores=v7 >> $SLUICE_OUTPUT"
                inputs: [../data/scores_north.csv, ../data/scores_south.csv]
                outputs: [{uri: "warehouse://marts/churn_scores", dataset: churn_scores}]
            """)
        try project.dag(
            "consumer",
            """
            dag: consumer
            steps:
              read:
                command: "true"
                inputs: [{uri: "warehouse://marts/churn_scores", dataset: churn_scores}]
            """)
        #expect(try project.sluice("run", "dags/churn.yaml").code == 0)
        let scoring = try project.sluice("run", "dags/scoring.yaml")
        #expect(scoring.code == 0, "\(scoring.stdout)")
        #expect(try project.sluice("run", "dags/consumer.yaml").code == 0)
        let consumer = try show(project)
        #expect(versions(attempt(consumer, "read"), "inputs") == ["churn_scores": "v7"])

        // Up from the published table: publish ← both score instances ← the model ← features ← raw.
        let up = try project.sluice("lineage", "up", "churn_scores@v7")
        #expect(up.code == 0, "\(up.stderr)")
        for expected in [
            "churn_scores@v7", "scoring.publish", "scoring.score[north]", "scoring.score[south]",
            "churn_model@sha256:", "churn.train", "churn.features", "raw.csv@sha256:",
            "source: no recorded step wrote it",
        ] {
            #expect(up.stdout.contains(expected), "\(expected) missing from:\n\(up.stdout)")
        }
        let json = try project.sluice("lineage", "up", "churn_scores", "--json").json()
        #expect(json["name"] as? String == "churn_scores" && json["version"] as? String == "v7")
        let producer = (json["produced_by"] as? [[String: Any]])?.first
        #expect((producer?["attempt"] as? [String: Any])?["step"] as? String == "publish")
        #expect((producer?["inputs"] as? [[String: Any]])?.count == 2)

        // Down from the raw data: everything derived from it, through both DAGs, to the published table.
        let down = try project.sluice("lineage", "down", "data/raw.csv")
        for expected in [
            "features.csv@", "churn_model@", "scores_north.csv@", "scores_south.csv@", "churn_scores@v7",
            "consumer.read",
        ] {
            #expect(down.stdout.contains(expected), "\(expected) missing from:\n\(down.stdout)")
        }
        let dot = try project.sluice("lineage", "down", "data/raw.csv", "--format", "dot").stdout
        #expect(dot.hasPrefix("digraph lineage {") && dot.contains(" -> "))
        let mermaid = try project.sluice("lineage", "up", "churn_model", "--format", "mermaid").stdout
        #expect(mermaid.hasPrefix("flowchart LR") && mermaid.contains(" --> "))

        // Impact: who read this model version, and whether what they wrote is still current.
        let impact = try project.sluice("lineage", "impact", "churn_model", "--json").json()
        let readers = impact["read_by"] as? [[String: Any]] ?? []
        #expect(Set(readers.compactMap { $0["step"] as? String }) == ["score[north]", "score[south]"])
        #expect(readers.allSatisfy { ($0["outputs"] as? [[String: Any]])?.first?["current"] as? Bool == true })

        // Mistakes: an unknown name, an ambiguous or unknown version.
        let unknown = try project.sluice("lineage", "up", "no_such_dataset")
        #expect(unknown.code == 5 && unknown.stderr.contains("no recorded version of no_such_dataset"))
        #expect(try project.sluice("lineage", "up", "churn_model@sha256:ffff").code == 5)
    }

    @Test func diffShowsWhatDiffersBetweenTwoRuns() throws {
        let project = try Project()
        defer { project.remove() }
        try pipeline(project)
        #expect(try project.sluice("run", "dags/churn.yaml").code == 0)
        try project.directory.write("data/raw.csv", "id,churned\n9,1\n")
        #expect(try project.sluice("run", "dags/churn.yaml").code == 0)
        let same = try project.sluice("diff", "1", "1", "--json").json()
        #expect(same["differences"] as? Int == 0)
        let diff = try project.sluice("diff", "1", "2", "--json", "--changed-only").json()
        let rows = diff["rows"] as? [[String: Any]] ?? []
        let raw = project.path + "/data/raw.csv"
        #expect(rows.contains { $0["section"] as? String == "input" && $0["item"] as? String == raw })
        #expect(rows.contains { $0["section"] as? String == "output" && $0["item"] as? String == "churn_model" })
        #expect(!rows.contains { $0["section"] as? String == "metric" })  // the same auc
        let text = try project.sluice("diff", "1", "2").stdout
        #expect(text.contains("≠") && text.contains("differences"))
    }
}
