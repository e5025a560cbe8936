import ArgumentParser
import SluiceSpec

/// `sluice graph FILE`: the DAG as a text tree, Graphviz DOT or Mermaid.
struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph", abstract: "Draw a DAG: a text tree (default), Graphviz DOT or Mermaid.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, dot, mermaid
    }

    @Argument(help: "The DAG file.") var file: String
    @Option(help: "text, dot or mermaid.") var format: Format = .text

    func run() throws {
        let spec = try SpecLoader.load(path: file)
        switch format {
        case .text: print(GraphRendering.tree(spec))
        case .dot: print(GraphRendering.dot(spec))
        case .mermaid: print(GraphRendering.mermaid(spec))
        }
    }
}
