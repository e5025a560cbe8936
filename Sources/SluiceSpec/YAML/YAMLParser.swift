import CYAML

/// A YAML syntax error with the place libyaml reported it.
public struct YAMLSyntaxError: Error, Sendable {
    /// The problem, in libyaml's words with context.
    public let message: String
    /// Where it was found.
    public let mark: SourceMark
    /// libyaml's own words for the problem (`did not find expected key`), when it gave them.
    public var problem: String = ""
    /// Where the construct being read began (a block mapping, say), when libyaml says.
    public var contextMark: SourceMark?
}

/// Parses one YAML document into nodes with source marks; the only code that calls libyaml.
public enum YAMLParser {
    /// The most nodes a document may expand to through aliases, so alias bombs are refused.
    public static let maxExpandedNodes = 1_000_000

    /// The deepest nesting of lists and mappings accepted.
    public static let maxDepth = 200

    /// Parses `bytes`; returns nil for an empty stream, throws for bad syntax, more than one document,
    /// nesting deeper than `maxDepth`, a scalar longer than `maxScalarBytes`, or an alias bomb.
    public static func parse(_ bytes: [UInt8], maxScalarBytes: Int = Int.max) throws(YAMLSyntaxError) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLSyntaxError(message: "cannot initialise the YAML parser", mark: SourceMark(line: 1, column: 1))
        }
        defer { yaml_parser_delete(&parser) }
        return try bytes.withUnsafeBufferPointer { (buffer) throws(YAMLSyntaxError) -> YAMLNode? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder(maxScalarBytes: maxScalarBytes)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    throw syntaxError(parser)
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                try builder.consume(event)
            }
            return builder.root
        }
    }

    private static func syntaxError(_ parser: yaml_parser_t) -> YAMLSyntaxError {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }) {
            message = "\(problem) \(context)"
        }
        let mark = SourceMark(line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1)
        var error = YAMLSyntaxError(message: "YAML syntax error: \(message)", mark: mark)
        error.problem = problem
        if parser.context != nil {
            error.contextMark = SourceMark(
                line: Int(parser.context_mark.line) + 1, column: Int(parser.context_mark.column) + 1)
        }
        return error
    }
}

/// Turns libyaml's event stream into a tree, resolving aliases and counting expansion.
private struct TreeBuilder {
    /// An open list or mapping; its items live in `items` at the same depth, so appending never copies them.
    private struct Frame {
        let isMapping: Bool
        let mark: SourceMark
        let tag: String?
        let anchor: String?
    }

    var root: YAMLNode?
    let maxScalarBytes: Int
    private var stack: [Frame] = []
    private var items: [[YAMLNode]] = []
    private var anchors: [String: (node: YAMLNode, weight: Int)] = [:]
    private var weights: [Int] = [0]
    private var documents = 0

    init(maxScalarBytes: Int) { self.maxScalarBytes = maxScalarBytes }

    mutating func consume(_ event: yaml_event_t) throws(YAMLSyntaxError) {
        let mark = SourceMark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw YAMLSyntaxError(
                    message:
                        "more than one YAML document in this file; a DAG file holds exactly one document (put each DAG in its own file)",
                    mark: mark)
            }
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            if data.length > maxScalarBytes {
                throw YAMLSyntaxError(
                    message: "a scalar of \(data.length) bytes; the longest accepted is \(maxScalarBytes) bytes",
                    mark: mark)
            }
            let text = String(decoding: UnsafeBufferPointer(start: data.value, count: data.length), as: UTF8.self)
            let style: ScalarStyle
            switch data.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            let node = YAMLNode(.scalar(text, style), mark: mark, tag: string(data.tag))
            try add(node, weight: 1, anchor: string(data.anchor))
        case YAML_SEQUENCE_START_EVENT where stack.count >= YAMLParser.maxDepth,
            YAML_MAPPING_START_EVENT where stack.count >= YAMLParser.maxDepth:
            throw YAMLSyntaxError(
                message: "nesting deeper than \(YAMLParser.maxDepth) levels; a DAG file never needs that many",
                mark: mark)
        case YAML_SEQUENCE_START_EVENT:
            let data = event.data.sequence_start
            stack.append(Frame(isMapping: false, mark: mark, tag: string(data.tag), anchor: string(data.anchor)))
            items.append([])
            weights.append(1)
        case YAML_MAPPING_START_EVENT:
            let data = event.data.mapping_start
            stack.append(Frame(isMapping: true, mark: mark, tag: string(data.tag), anchor: string(data.anchor)))
            items.append([])
            weights.append(1)
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let weight = weights.removeLast()
            let frame = stack.removeLast()
            let list = items.removeLast()
            if !frame.isMapping {
                try add(
                    YAMLNode(.sequence(list), mark: frame.mark, tag: frame.tag), weight: weight, anchor: frame.anchor)
            } else {
                var pairs: [YAMLPair] = []
                pairs.reserveCapacity(list.count / 2)
                var index = 0
                while index + 1 < list.count {
                    pairs.append(YAMLPair(key: list[index], value: list[index + 1]))
                    index += 2
                }
                pairs = try Self.applyMerges(pairs)
                try add(
                    YAMLNode(.mapping(pairs), mark: frame.mark, tag: frame.tag), weight: weight, anchor: frame.anchor)
            }
        case YAML_ALIAS_EVENT:
            let name = string(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                throw YAMLSyntaxError(message: "unknown alias '*\(name)'", mark: mark)
            }
            try add(target.node, weight: target.weight, anchor: nil)
        default:
            break
        }
    }

    private mutating func add(_ node: YAMLNode, weight: Int, anchor: String?) throws(YAMLSyntaxError) {
        if let anchor { anchors[anchor] = (node, weight) }
        weights[weights.count - 1] += weight
        if weights[weights.count - 1] > YAMLParser.maxExpandedNodes {
            throw YAMLSyntaxError(
                message:
                    "document expands to more than \(YAMLParser.maxExpandedNodes) nodes through aliases; refusing it",
                mark: node.mark)
        }
        if items.isEmpty {
            root = node
        } else {
            items[items.count - 1].append(node)
        }
    }

    /// Expands `<<: *anchor` (or a list of them): merged keys fill in what the mapping does not set itself.
    private static func applyMerges(_ pairs: [YAMLPair]) throws(YAMLSyntaxError) -> [YAMLPair] {
        func isMerge(_ key: YAMLNode) -> Bool {
            guard case .scalar("<<", let style) = key.content else { return false }
            return (style == .plain && key.tag == nil) || key.tag == "tag:yaml.org,2002:merge"
        }
        guard pairs.contains(where: { isMerge($0.key) }) else { return pairs }
        var explicit = Set<String>()
        for pair in pairs where !isMerge(pair.key) {
            if case .scalar(let key, _) = pair.key.content { explicit.insert(key) }
        }
        var merged = Set<String>()
        var result: [YAMLPair] = []
        for pair in pairs {
            guard isMerge(pair.key) else {
                result.append(pair)
                continue
            }
            var sources: [YAMLNode] = []
            switch pair.value.content {
            case .mapping: sources = [pair.value]
            case .sequence(let items): sources = items
            case .scalar: break
            }
            for source in sources {
                guard case .mapping(let inner) = source.content, !sources.isEmpty else {
                    throw YAMLSyntaxError(
                        message: "'<<' merges mappings: write <<: *anchor or <<: [*a, *b]", mark: pair.value.mark)
                }
                for item in inner {
                    guard case .scalar(let key, _) = item.key.content else { continue }
                    if explicit.contains(key) || !merged.insert(key).inserted { continue }
                    result.append(item)
                }
            }
            if sources.isEmpty {
                throw YAMLSyntaxError(
                    message: "'<<' merges mappings: write <<: *anchor or <<: [*a, *b]", mark: pair.value.mark)
            }
        }
        return result
    }

    private func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafePointer($0)) }
    }
}
