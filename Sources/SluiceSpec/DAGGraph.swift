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

    /// One cycle in each strongly connected part of the graph that has one, in file order of their first
    /// node: independent cycles are all reported at once, each as node indices with the first repeated last.
    public func findCycles() -> [[Int]] {
        var cycles: [[Int]] = []
        for component in stronglyConnectedComponents() {
            let members = Set(component)
            guard component.count > 1 || needs[component[0]].contains(component[0]) else { continue }
            let start = component.min()!
            // Walk from the start inside the component until a node repeats: that closes a cycle.
            var path = [start]
            var position = [start: 0]
            var node = start
            while true {
                let next = needs[node].filter(members.contains).min()!
                if let index = position[next] {
                    cycles.append(Array(path[index...]) + [next])
                    break
                }
                position[next] = path.count
                path.append(next)
                node = next
            }
        }
        return cycles.sorted { $0.min()! < $1.min()! }
    }

    /// Tarjan's strongly connected components, iteratively (deep chains are fine).
    func stronglyConnectedComponents() -> [[Int]] {
        var index = [Int](repeating: -1, count: needs.count)
        var low = [Int](repeating: 0, count: needs.count)
        var onStack = [Bool](repeating: false, count: needs.count)
        var stack: [Int] = []
        var components: [[Int]] = []
        var counter = 0
        for root in needs.indices where index[root] == -1 {
            var work: [(node: Int, next: Int)] = [(root, 0)]
            index[root] = counter
            low[root] = counter
            counter += 1
            stack.append(root)
            onStack[root] = true
            while let top = work.last {
                if top.next < needs[top.node].count {
                    work[work.count - 1].next += 1
                    let child = needs[top.node][top.next]
                    if index[child] == -1 {
                        index[child] = counter
                        low[child] = counter
                        counter += 1
                        stack.append(child)
                        onStack[child] = true
                        work.append((child, 0))
                    } else if onStack[child] {
                        low[top.node] = min(low[top.node], index[child])
                    }
                    continue
                }
                work.removeLast()
                if let parent = work.last { low[parent.node] = min(low[parent.node], low[top.node]) }
                if low[top.node] == index[top.node] {
                    var component: [Int] = []
                    while let member = stack.popLast() {
                        onStack[member] = false
                        component.append(member)
                        if member == top.node { break }
                    }
                    components.append(component)
                }
            }
        }
        return components
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
