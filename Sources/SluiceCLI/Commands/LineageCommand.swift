import ArgumentParser
import Foundation
import SluiceBasics
import SluiceLineage
import SluiceStore

/// `sluice lineage up|down|impact`: what produced a version of some data, what it fed, who read it.
struct LineageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lineage",
        abstract: "What produced a dataset or file, what was derived from it, and which runs read a version.",
        subcommands: [
            LineageUpCommand.self, LineageDownCommand.self, LineageImpactCommand.self, LineageVersionCommand.self,
        ])
}

/// How a graph is printed.
enum LineageFormat: String, ExpressibleByArgument, CaseIterable {
    case text, dot, mermaid
}

/// What `lineage up` and `lineage down` take.
struct LineageWalkOptions: ParsableArguments {
    @Argument(
        help: ArgumentHelp(
            "A path, a dataset or a URI, with @VERSION (a prefix will do) or without (the latest).",
            valueName: "target"))
    var target: String
    @Option(help: "text, dot or mermaid.") var format: LineageFormat = .text
    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    func walk(up: Bool) throws {
        try LineageWalk.run(target: target, up: up, format: format, json: json, global: global)
    }
}

/// `sluice lineage up TARGET[@VERSION]`.
struct LineageUpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract:
            "What produced it, recursively: each version, the attempt that wrote it (run, step, code, params) and what that attempt read, down to sources no step wrote."
    )

    @OptionGroup var options: LineageWalkOptions

    func run() throws { try options.walk(up: true) }
}

/// `sluice lineage down TARGET[@VERSION]`.
struct LineageDownCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Everything derived from it, transitively: who read it, what they wrote, and so on.")

    @OptionGroup var options: LineageWalkOptions

    func run() throws { try options.walk(up: false) }
}

/// `sluice lineage impact DATASET@VERSION`.
struct LineageImpactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "impact",
        abstract: "The runs that read that version, and which of their outputs are still the current version.")

    @Argument(help: ArgumentHelp("A path, a dataset or a URI, with @VERSION.", valueName: "target")) var target: String
    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    /// One attempt that read the version, and what it wrote.
    struct Reader: Encodable {
        let run: Int64, dag: String, step: String, attempt: Int64
        let outputs: [Output]
    }

    /// An output of a reader, and whether it is still the newest version of its data.
    struct Output: Encodable {
        let name: String, version: String, current: Bool
    }

    /// The JSON answer.
    struct Answer: Encodable {
        let version: LineageVersion
        let readBy: [Reader]
    }

    func run() throws {
        let queries = LineageQueries(store: try global.openStore(migrate: false))
        let start = try LineageTarget.resolve(target, queries: queries)
        var graph = try queries.walk(from: [start.id], up: false, depth: 1)
        try queries.fill(&graph, versions: [start.id])
        let readers = graph.edges.filter { $0.role == "input" && $0.version == start.id }.map(\.attempt)
        let written = graph.edges.filter { $0.role == "output" }
        let latest = try queries.latest(names: written.compactMap { graph.versions[$0.version]?.name })
        let answer = Answer(
            version: start,
            readBy: Array(Set(readers)).sorted().compactMap { id in
                guard let attempt = graph.attempts[id] else { return nil }
                let outputs = written.filter { $0.attempt == id }.compactMap { edge -> Output? in
                    guard let version = graph.versions[edge.version] else { return nil }
                    return Output(
                        name: version.name, version: version.version, current: latest[version.name] == version.id)
                }
                return Reader(run: attempt.run, dag: attempt.dag, step: attempt.step, attempt: id, outputs: outputs)
            })
        if json {
            try JSONOutput.print(answer)
            return
        }
        print("\(start.name)@\(start.version)")
        if answer.readBy.isEmpty { print("  no recorded attempt read this version") }
        for reader in answer.readBy {
            print("  read by run \(reader.run) · \(reader.dag).\(reader.step) (attempt \(reader.attempt))")
            for output in reader.outputs {
                print(
                    "    wrote \(output.name)@\(LineageText.short(output.version))  \(output.current ? "current" : "superseded")"
                )
            }
        }
    }
}

/// Finding the version a command names.
enum LineageTarget {
    /// The version `text` names: `NAME` (its newest version) or `NAME@VERSION` (a prefix of it will do).
    /// A name with a `/` (or an existing file) is a path, made absolute.
    static func resolve(_ text: String, queries: LineageQueries) throws -> LineageVersion {
        var candidates: [(name: String, version: String?)] = [(text, nil)]
        if let at = text.lastIndex(of: "@"), at != text.startIndex {
            candidates.insert((String(text[..<at]), String(text[text.index(after: at)...])), at: 0)
        }
        for (name, version) in candidates {
            let path = Self.path(name)
            let found = try queries.find(name: path ?? name, path: path, version: version)
            if found.isEmpty { continue }
            if let version, found.count > 1, !found.allSatisfy({ $0.version == found[0].version }) {
                let listed = found.prefix(5).map { "\($0.name)@\($0.version)" }.joined(separator: ", ")
                throw CLIFailure(
                    "'\(version)' matches \(found.count) versions of \(name) (\(listed)); give more of it",
                    exitCode: ExitCodes.usage)
            }
            return found[0]
        }
        throw CLIFailure(
            "no recorded version of \(text): the lineage knows the inputs and outputs steps declared (inputs:, outputs:) in runs that recorded them",
            exitCode: ExitCodes.notFound)
    }

    /// The absolute path `name` stands for, when it is a path.
    static func path(_ name: String) -> String? {
        guard !name.contains("://") else { return nil }
        guard name.contains("/") || FileSystem.exists(name) else { return nil }
        return FileSystem.lexicallyNormal(
            name.hasPrefix("/") ? name : FileManager.default.currentDirectoryPath + "/" + name)
    }
}

/// `sluice lineage version PATH...`: the version Sluice would record for local data now.
struct LineageVersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract:
            "The version Sluice would record for files or directories now (SHA-256 of content, or of a directory's manifest); reads every byte, using no stat cache and no database."
    )

    @Argument(help: ArgumentHelp("Files or directories.", valueName: "path")) var paths: [String]
    @Option(help: "content (default) or mtime.") var method = "content"
    @Flag(help: "Print as JSON.") var json = false

    /// One answer.
    struct Answer: Encodable {
        let path: String
        let version: String
        let method: String
        let sizeBytes: Int64?
        let bytesHashed: Int64
        let seconds: Double
    }

    func validate() throws {
        guard ["content", "mtime"].contains(method) else { throw ValidationError("--method is content or mtime") }
        guard !paths.isEmpty else { throw ValidationError("give at least one path") }
    }

    func run() throws {
        var answers: [Answer] = []
        for given in paths {
            let path = LineageTarget.path(given.contains("/") ? given : "./" + given) ?? given
            let versioner = DataVersioner(cache: MemoryStatCache())
            let started = MonotonicClock.now()
            do {
                let version = try versioner.version(
                    of: ResolvedData(path: path, uri: nil, dataset: nil, method: method))
                answers.append(
                    Answer(
                        path: path, version: version.version, method: version.method, sizeBytes: version.sizeBytes,
                        bytesHashed: versioner.hasher.bytesHashed, seconds: MonotonicClock.now() - started))
            } catch let error as DataVersionError {
                throw CLIFailure("\(error.description)", exitCode: ExitCodes.notFound)
            }
        }
        if json {
            try JSONOutput.print(answers)
            return
        }
        for answer in answers { print("\(answer.path)  \(answer.version)") }
    }
}
