import Foundation
import SluiceSpec

/// Drawings of a DAG's steps: work flows from a step to the steps that need it.
enum GraphRendering {
    /// A step's label: its id, with its fan-out.
    static func label(_ step: StepSpec) -> String {
        switch step.foreach {
        case .items(let items)?: return "\(step.id) ×\(items.count) (foreach: \(items.joined(separator: ", ")))"
        case .param(let name)?: return "\(step.id) (foreach: params.\(name))"
        case nil: return step.id
        }
    }

    /// A tree from each root; a step reached again is shown once more as `name ↑` instead of repeating its subtree.
    static func tree(_ spec: DAGSpec) -> String {
        let graph = DAGGraph(steps: spec.steps)
        var printed = Set<Int>()
        var lines: [String] = []
        func visit(_ node: Int, prefix: String, connector: String, childPrefix: String) {
            let step = spec.steps[node]
            if printed.contains(node) {
                lines.append(prefix + connector + step.id + " ↑")
                return
            }
            printed.insert(node)
            var text = label(step)
            if step.when != nil { text += " (when …)" }
            lines.append(prefix + connector + text)
            let children = graph.dependents[node]
            for (i, child) in children.enumerated() {
                let last = i == children.count - 1
                visit(
                    child, prefix: prefix + childPrefix, connector: last ? "└─ " : "├─ ",
                    childPrefix: last ? "   " : "│  ")
            }
        }
        for root in spec.steps.indices where graph.needs[root].isEmpty {
            visit(root, prefix: "", connector: "", childPrefix: "")
        }
        return lines.joined(separator: "\n")
    }

    /// Graphviz DOT, left to right.
    static func dot(_ spec: DAGSpec) -> String {
        func quote(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var lines = ["digraph \(quote(spec.name)) {", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
        for step in spec.steps {
            let extra = step.foreach != nil ? ", peripheries=2" : ""
            lines.append("  \(quote(step.id)) [label=\(quote(label(step)))\(extra)];")
        }
        for step in spec.steps { for need in step.needs { lines.append("  \(quote(need)) -> \(quote(step.id));") } }
        lines.append("}")
        return lines.joined(separator: "\n")
    }

    /// A Mermaid flowchart, left to right.
    static func mermaid(_ spec: DAGSpec) -> String {
        let ids = Dictionary(spec.steps.enumerated().map { ($1.id, "s\($0)") }, uniquingKeysWith: { a, _ in a })
        func text(_ s: String) -> String { s.replacingOccurrences(of: "\"", with: "#quot;") }
        var lines = ["flowchart LR"]
        for (i, step) in spec.steps.enumerated() {
            let shape = step.foreach != nil ? ("[[\"", "\"]]") : ("[\"", "\"]")
            lines.append("  s\(i)\(shape.0)\(text(label(step)))\(shape.1)")
        }
        for step in spec.steps {
            for need in step.needs { lines.append("  \(ids[need]!) --> \(ids[step.id]!)") }
        }
        return lines.joined(separator: "\n")
    }
}
