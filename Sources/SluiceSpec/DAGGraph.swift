/// The dependency graph of a DAG's steps: unknown needs, cycles and a stable topological order.
public struct DAGGraph: Sendable {
    /// For each step (by file order), the indices of the steps it needs.
    public let needs: [[Int]]
    /// For each step, the indices of the steps that need it.
    public let dependents: [[Int]]

    /// Builds the graph from steps whose `needs` all name existing steps.
    public init(steps: [StepSpec]) {
        let index = Dictionary(steps.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        needs = steps.map { step in step.needs.compactMap { index[$0] } }
        var dependents = [[Int]](repeating: [], count: steps.count)
        for (i, deps) in needs.enumerated() { for d in deps { dependents[d].append(i) } }
        self.dependents = dependents
    }

    /// A topological order that keeps file order among independent steps; nil when there is a cycle.
    public func topologicalOrder() -> [Int]? {
        var remaining = needs.map { Set($0).count }
        var ready = remaining.indices.filter { remaining[$0] == 0 }
        var order: [Int] = []
        var cursor = 0
        while cursor < ready.count {
            let node = ready[cursor]
            cursor += 1
            order.append(node)
            for dependent in Set(dependents[node]).sorted() {
                remaining[dependent] -= 1
                if remaining[dependent] == 0 { ready.append(dependent) }
            }
        }
        return order.count == needs.count ? order : nil
    }

    /// One cycle, as step indices with the first repeated at the end; nil when acyclic.
    public func findCycle() -> [Int]? {
        var color = [UInt8](repeating: 0, count: needs.count)  // 0 new, 1 on stack, 2 done
        var stack: [Int] = []
        func visit(_ node: Int) -> [Int]? {
            color[node] = 1
            stack.append(node)
            for next in needs[node] {
                if color[next] == 1 {
                    let start = stack.firstIndex(of: next)!
                    return Array(stack[start...]) + [next]
                }
                if color[next] == 0, let cycle = visit(next) { return cycle }
            }
            stack.removeLast()
            color[node] = 2
            return nil
        }
        for node in needs.indices where color[node] == 0 {
            if let cycle = visit(node) { return cycle }
        }
        return nil
    }

    /// Diagnostics for needs that name no step, steps needing themselves twice over, and cycles.
    static func check(steps: [StepSpec], file: String) -> [Diagnostic] {
        let ids = steps.map(\.id)
        let known = Set(ids)
        var diagnostics: [Diagnostic] = []
        for step in steps {
            var seen = Set<String>()
            for (i, need) in step.needs.enumerated() {
                let path = "steps.\(step.id).needs[\(i)]"
                if !known.contains(need) {
                    diagnostics.append(
                        Diagnostic(
                            file: file, mark: step.needMarks[i], path: path,
                            message: "\(path): unknown step '\(need)'\(Suggestions.hint(for: need, in: ids))"))
                } else if !seen.insert(need).inserted {
                    diagnostics.append(
                        Diagnostic(
                            file: file, mark: step.needMarks[i], path: path,
                            message: "\(path): '\(need)' is listed twice"))
                }
            }
        }
        guard diagnostics.isEmpty else { return diagnostics }
        // Cycles are shown in the direction work flows: a -> b means b needs a.
        if let cycle = DAGGraph(steps: steps).findCycle() {
            let flow = cycle.reversed().map { steps[$0].id }
            let first = steps[cycle[0]]
            diagnostics.append(
                Diagnostic(
                    file: file, mark: first.mark, path: "steps.\(first.id).needs",
                    message: "dependency cycle: \(flow.joined(separator: " -> "))"))
        }
        return diagnostics
    }
}
