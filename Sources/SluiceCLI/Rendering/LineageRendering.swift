import Foundation
import SluiceBasics
import SluiceStore

/// A node of a lineage tree: a version, with the attempts that wrote it (up) or read it (down).
struct LineageNode: Encodable {
    let id: Int64
    let kind: String
    let name: String
    let version: String
    let method: String
    let sizeBytes: Int64?
    /// Up: the attempt that wrote this version (the latest, when several wrote the same bytes).
    var producedBy: [LineageStep]?
    /// Down: the attempts that read it.
    var readBy: [LineageStep]?
    /// Set when this version was shown higher up in the tree already.
    var seenAbove: Bool?
}

/// An attempt in a lineage tree, with the versions it read (up) or wrote (down).
struct LineageStep: Encodable {
    let attempt: LineageAttempt
    /// For an input read while it changed.
    let inputChanged: Bool
    var inputs: [LineageNode]?
    var outputs: [LineageNode]?
}

/// `lineage up` and `lineage down`: walks the graph and prints it as a tree, JSON, dot or mermaid.
enum LineageWalk {
    static func run(target: String, up: Bool, format: LineageFormat, json: Bool, global: GlobalOptions) throws {
        let queries = LineageQueries(store: try global.openStore(migrate: false))
        let start = try LineageTarget.resolve(target, queries: queries)
        let graph = try queries.walk(from: [start.id], up: up)
        if json {
            var seen = Set<Int64>()
            try JSONOutput.print(tree(start.id, graph: graph, up: up, seen: &seen))
            return
        }
        switch format {
        case .dot: print(dot(graph))
        case .mermaid: print(mermaid(graph))
        case .text:
            var seen = Set<Int64>()
            var lines: [String] = []
            text(tree(start.id, graph: graph, up: up, seen: &seen), prefix: "", last: true, root: true, into: &lines)
            for line in lines { print(line) }
        }
    }

    /// The tree under a version; a version met again is marked, not expanded twice.
    static func tree(_ id: Int64, graph: LineageGraph, up: Bool, seen: inout Set<Int64>) -> LineageNode {
        let version = graph.versions[id]
        var node = LineageNode(
            id: id, kind: version?.kind ?? "", name: version?.name ?? "?", version: version?.version ?? "?",
            method: version?.method ?? "", sizeBytes: version?.sizeBytes)
        guard seen.insert(id).inserted else {
            node.seenAbove = true
            return node
        }
        if up {
            let writers = graph.edges.filter { $0.role == "output" && $0.version == id }.map(\.attempt)
            guard let writer = writers.max(), let attempt = graph.attempts[writer] else {
                node.producedBy = []
                return node
            }
            let reads = graph.edges.filter { $0.role == "input" && $0.attempt == writer }
            var step = LineageStep(attempt: attempt, inputChanged: reads.contains { $0.changed })
            step.inputs = reads.map { tree($0.version, graph: graph, up: true, seen: &seen) }
            node.producedBy = [step]
        } else {
            let readers = graph.edges.filter { $0.role == "input" && $0.version == id }
            node.readBy = readers.compactMap { edge in
                guard let attempt = graph.attempts[edge.attempt] else { return nil }
                var step = LineageStep(attempt: attempt, inputChanged: edge.changed)
                step.outputs = graph.edges.filter { $0.role == "output" && $0.attempt == edge.attempt }.map {
                    tree($0.version, graph: graph, up: false, seen: &seen)
                }
                return step
            }
        }
        return node
    }

    static func text(_ node: LineageNode, prefix: String, last: Bool, root: Bool, into lines: inout [String]) {
        let branch = root ? "" : (last ? "└─ " : "├─ ")
        let more = root ? "" : (last ? "   " : "│  ")
        var line = "\(prefix)\(branch)\(node.name)@\(LineageText.short(node.version))"
        if node.seenAbove == true { line += "  (shown above)" }
        if node.producedBy?.isEmpty == true { line += "  (source: no recorded step wrote it)" }
        lines.append(line)
        let steps = node.producedBy ?? node.readBy ?? []
        for (i, step) in steps.enumerated() {
            let stepLast = i == steps.count - 1
            let a = step.attempt
            var words = [
                "\(node.producedBy != nil ? "written" : "read") by run \(a.run) · \(a.dag).\(a.step) (attempt \(a.attempt))"
            ]
            if let code = a.code {
                words.append(
                    "git \(code.commit.map { String($0.prefix(12)) + (code.dirty ? "+changes" : "") } ?? "none")")
                words.append("DAG \(code.dagHash.prefix(12))")
            }
            if !a.params.isEmpty {
                words.append(
                    "params "
                        + a.params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            }
            if step.inputChanged || a.lineage == "input_changed" { words.append("INPUT CHANGED WHILE IT RAN") }
            let stepPrefix = prefix + more
            lines.append("\(stepPrefix)\(stepLast ? "└─ " : "├─ ")\(words.joined(separator: " · "))")
            let children = step.inputs ?? step.outputs ?? []
            for (j, child) in children.enumerated() {
                text(
                    child, prefix: stepPrefix + (stepLast ? "   " : "│  "), last: j == children.count - 1, root: false,
                    into: &lines)
            }
        }
    }

    static func dot(_ graph: LineageGraph) -> String {
        var lines = ["digraph lineage {", "  rankdir=LR;"]
        for version in graph.versions.values.sorted(by: { $0.id < $1.id }) {
            lines.append(
                "  v\(version.id) [shape=box, label=\(quoted("\(version.name)\n\(LineageText.short(version.version))"))];"
            )
        }
        for attempt in graph.attempts.values.sorted(by: { $0.attempt < $1.attempt }) {
            lines.append(
                "  a\(attempt.attempt) [shape=ellipse, label=\(quoted("run \(attempt.run)\n\(attempt.dag).\(attempt.step)"))];"
            )
        }
        for edge in graph.edges {
            lines.append(
                edge.role == "input"
                    ? "  v\(edge.version) -> a\(edge.attempt);" : "  a\(edge.attempt) -> v\(edge.version);")
        }
        lines.append("}")
        return lines.joined(separator: "\n")
    }

    static func mermaid(_ graph: LineageGraph) -> String {
        var lines = ["flowchart LR"]
        for version in graph.versions.values.sorted(by: { $0.id < $1.id }) {
            lines.append("  v\(version.id)[\(mermaidText("\(version.name)@\(LineageText.short(version.version))"))]")
        }
        for attempt in graph.attempts.values.sorted(by: { $0.attempt < $1.attempt }) {
            lines.append("  a\(attempt.attempt)([\(mermaidText("run \(attempt.run) \(attempt.dag).\(attempt.step)"))])")
        }
        for edge in graph.edges {
            lines.append(
                edge.role == "input"
                    ? "  v\(edge.version) --> a\(edge.attempt)" : "  a\(edge.attempt) --> v\(edge.version)")
        }
        return lines.joined(separator: "\n")
    }

    /// A dot string literal.
    static func quoted(_ text: String) -> String {
        "\""
            + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    /// A mermaid label in quotes, with the characters mermaid reads as syntax escaped.
    static func mermaidText(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\"", with: "#quot;").replacingOccurrences(of: "\n", with: " ") + "\""
    }
}

/// Short forms for text output.
enum LineageText {
    /// `sha256:` and the first 12 hex digits; other versions as they are.
    static func short(_ version: String) -> String {
        version.hasPrefix("sha256:") ? String(version.prefix(19)) : version
    }
}
