import SluiceSpec
import Testing

@Suite("The step graph")
struct DAGGraphTests {
    @Test func topologicalOrderKeepsFileOrderAmongIndependentSteps() throws {
        let spec = try load(
            """
            dag: d
            steps:
              report: {command: x, needs: [join]}
              b: {command: x}
              a: {command: x}
              join: {command: x, needs: [a, b]}
            """)
        let graph = DAGGraph(steps: spec.steps)
        let order = try #require(graph.topologicalOrder()).map { spec.steps[$0].id }
        #expect(order == ["b", "a", "join", "report"])
        #expect(graph.findCycles().isEmpty)
        #expect(graph.dependents[1] == [3])
    }

    @Test func suggestionsNeedAPlausibleMatch() {
        #expect(Suggestions.closest(to: "comand", in: ["command", "needs"]) == "command")
        #expect(Suggestions.closest(to: "nedes", in: ["command", "needs"]) == "needs")
        #expect(Suggestions.closest(to: "x", in: ["a", "b"]) == nil)
        // Words from other orchestrators name what Sluice calls the same thing, where that key is allowed.
        #expect(Suggestions.closest(to: "depends_on", in: ["command", "needs"]) == "needs")
        #expect(Suggestions.closest(to: "cron", in: ["schedule", "steps"]) == "schedule")
        #expect(Suggestions.closest(to: "depends_on", in: ["schedule", "steps"]) == nil)
        #expect(Suggestions.closest(to: "completely", in: ["command"]) == nil)
    }

}
