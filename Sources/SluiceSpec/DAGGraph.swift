/// The dependency graph of a DAG's steps (or of a plan's step instances): cycles and a stable order.
public struct DAGGraph: Sendable {
    /// For each node (by file order), the indices of the nodes it needs.
    public let needs: [[Int]]
    /// For each node, the indices of the nodes that need it.
    public let dependents: [[Int]]

    /// Builds the graph from steps; needs that name no step are left out.
    public init(steps: [StepSpec]) {
        let index = Dictionary(steps.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.init(needs: steps.map { step in step.needs.compactMap { index[$0] } })
    }

    /// Builds the graph from needs given as indices.
    public init(needs: [[Int]]) {
        self.needs = needs
        var dependents = [[Int]](repeating: [], count: needs.count)
        for (i, deps) in needs.enumerated() { for d in deps { dependents[d].append(i) } }
        self.dependents = dependents
    }

    /// A topological order that keeps file order among independent nodes; nil when there is a cycle.
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

    /// One cycle, as node indices with the first repeated at the end; nil when acyclic. Iterative, so deep chains are fine.
    public func findCycle() -> [Int]? {
        var color = [UInt8](repeating: 0, count: needs.count)  // 0 new, 1 on stack, 2 done
        for root in needs.indices where color[root] == 0 {
            var stack: [(node: Int, next: Int)] = [(root, 0)]
            color[root] = 1
            while let top = stack.last {
                if top.next < needs[top.node].count {
                    stack[stack.count - 1].next += 1
                    let child = needs[top.node][top.next]
                    if color[child] == 1 {
                        let start = stack.firstIndex { $0.node == child }!
                        return stack[start...].map(\.node) + [child]
                    }
                    if color[child] == 0 {
                        color[child] = 1
                        stack.append((child, 0))
                    }
                } else {
                    color[top.node] = 2
                    stack.removeLast()
                }
            }
        }
        return nil
    }

    /// Every node `node` depends on, directly or not.
    public func ancestors(of node: Int) -> Set<Int> {
        var seen = Set<Int>()
        var stack = needs[node]
        while let next = stack.popLast() {
            if seen.insert(next).inserted { stack.append(contentsOf: needs[next]) }
        }
        return seen
    }
}
