import Foundation
import SluiceEngine
import SluiceSpec
import SluiceStore
import SluiceTestSupport
import Testing

@Suite("Running the DAG language: params, foreach, when, outputs, handlers")
struct LanguageRunTests {
    private func run(_ yaml: String, params: [(String, String)] = [], in directory: TempDirectory) throws -> (
        RunResult, RunDetail, Store
    ) {
        let file = try directory.write("dags/test.yaml", yaml)
        let plan = try Planner.plan(try SpecLoader.load(path: file), params: params, logicalDate: "2026-11-20")
        let store = try TestDatabase.freshStore()
        var options = RunOptions(logRoot: directory.path + "/logs")
        options.parallelism = 2
        let result = try RunDriver(store: store, observer: RecordingObserver(), options: options).run(plan)
        return (result, try #require(try RunQueries(store: store).runDetail(id: result.runID)), store)
    }

    @Test func parametersForeachAndOutputsReachTheCommands() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (result, detail, store) = try run(
            """
            dag: lang
            params:
              greeting: {type: string, default: hello}
              brands: {type: list, default: [ah]}
            steps:
              train:
                command: echo "model_uri=file:///m/$SLUICE_LOGICAL_DATE" >> "$SLUICE_OUTPUT"
              score:
                needs: [train]
                foreach: ${{ params.brands }}
                command: echo ${{ params.greeting }} ${{ item }} ${{ steps.train.outputs.model_uri }} ${{ run.id }} >> ../out.txt
              done:
                needs: [score]
                command: [sh, -c, 'echo "$0" >> ../out.txt', "${{ dag.name }}"]
            """, params: [("greeting", "it's me"), ("brands", "ah,albert")], in: dir)
        #expect(result.state == .succeeded)
        #expect(detail.steps.map(\.step) == ["train", "score[ah]", "score[albert]", "done"])
        let lines = try String(contentsOfFile: dir.path + "/out.txt", encoding: .utf8).split(separator: "\n").map(
            String.init)
        #expect(
            Set(lines.prefix(2)) == [
                "it's me ah file:///m/2026-11-20 \(result.runID)",
                "it's me albert file:///m/2026-11-20 \(result.runID)",
            ])
        #expect(lines.last == "lang")
        let row = try store.connection.query(
            "SELECT params::text AS p, logical_date::text AS d FROM run WHERE id = \(result.runID)"
        ).rows[0]
        #expect(row["p"] == #"{"brands": "ah,albert", "greeting": "it's me"}"#)
        #expect(row["d"] == "2026-11-20")
        let outputs = try store.connection.query(
            """
            SELECT a.outputs::text AS o, a.command::text AS c FROM attempt a JOIN step_instance s ON s.id = a.step_instance_id
            WHERE s.run_id = \(result.runID) AND s.step_key = 'score[ah]'
            """
        ).rows[0]
        #expect(outputs["o"] == nil)
        #expect(outputs["c"]?.contains("'it'\\\"'\\\"'s me' ah file:///m/2026-11-20") == true)
    }

    @Test func whenSkipsAndSkippedStepsLetDownstreamRun() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (result, detail, _) = try run(
            """
            dag: conditions
            params:
              mode: {type: string, default: full, enum: [full, quick]}
            steps:
              check:
                command: echo rows=3 >> "$SLUICE_OUTPUT"
              full:
                needs: [check]
                when: params.mode == 'full' && steps.check.outputs.rows > 5
                command: "true"
              quick:
                needs: [check]
                when: steps.check.outputs.rows <= 5
                command: "true"
              report:
                needs: [full, quick]
                when: steps.full.state == 'skipped'
                command: "true"
            """, in: dir)
        #expect(result.state == .succeeded)
        let states = Dictionary(uniqueKeysWithValues: detail.steps.map { ($0.step, $0.state) })
        #expect(states == ["check": .succeeded, "full": .skipped, "quick": .succeeded, "report": .succeeded])
        let full = try #require(detail.steps.first { $0.step == "full" })
        #expect(full.attempts == 0)
        #expect(full.message?.contains("skipped: when") == true)
    }

    @Test func aMissingOutputFailsTheStepWithTheReason() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (result, detail, _) = try run(
            """
            dag: missing
            steps:
              train: {command: echo other=1 >> "$SLUICE_OUTPUT"}
              score:
                needs: [train]
                command: echo ${{ steps.train.outputs.model_uri }}
            """, in: dir)
        #expect(result.state == .failed)
        let score = try #require(detail.steps.first { $0.step == "score" })
        #expect(score.state == .failed)
        #expect(
            score.message
                == "step score could not start: steps.train.outputs.model_uri has no value: train wrote no 'model_uri=…' line to $SLUICE_OUTPUT (it reported: other)"
        )
    }

    @Test func onFailureHandlersRunWithTheFailedSteps() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (result, detail, _) = try run(
            """
            dag: handlers
            steps:
              a: {command: exit 4}
              b: {command: "true"}
            on_failure:
              - command: echo "$SLUICE_RUN_STATE $SLUICE_FAILED_STEPS" ${{ dag.name }} > ../handler.txt; echo handled
            on_success:
              - command: touch ../never.txt
            """, in: dir)
        #expect(result.state == .failed)
        #expect(try String(contentsOfFile: dir.path + "/handler.txt", encoding: .utf8) == "failed a handlers\n")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/never.txt"))
        // The handler is recorded like a step of its own, with an attempt whose logs can be read.
        #expect(detail.steps.map(\.step) == ["a", "b"])
        #expect(detail.run.steps == 2)
        let handler = try #require(detail.handlers.first)
        #expect(detail.handlers.count == 1)
        #expect(handler.step == "on_failure[0]" && handler.state == .succeeded && handler.exitCode == 0)
        let attempt = try #require(detail.attempts.first { $0.step == "on_failure[0]" })
        #expect(attempt.state == .exited)
        #expect(try String(contentsOfFile: attempt.stdoutPath, encoding: .utf8) == "handled\n")
    }
}
