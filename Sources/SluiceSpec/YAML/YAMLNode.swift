/// How a scalar was written, which decides whether it can be a null.
public enum ScalarStyle: Sendable, Equatable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// One key/value pair of a mapping, in source order.
public struct YAMLPair: Sendable {
    /// The key node.
    public let key: YAMLNode
    /// The value node.
    public let value: YAMLNode
}

/// A YAML node with the place it was written, so every later diagnostic can point at it.
public struct YAMLNode: Sendable {
    /// The node's content.
    public indirect enum Content: Sendable {
        case scalar(String, ScalarStyle)
        case sequence([YAMLNode])
        case mapping([YAMLPair])
    }

    /// What the node holds.
    public let content: Content
    /// Where the node starts.
    public let mark: SourceMark
    /// An explicit tag, such as `!!str`, if one was written.
    public let tag: String?

    /// Creates a node.
    public init(_ content: Content, mark: SourceMark, tag: String? = nil) {
        self.content = content
        self.mark = mark
        self.tag = tag
    }

    /// True for an untagged plain scalar that YAML reads as null (`~`, `null`, or nothing).
    public var isNull: Bool {
        guard case .scalar(let text, .plain) = content, tag == nil else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    /// A short name for the kind of node, for "expected X, found Y" messages.
    public var kindName: String {
        if isNull { return "null" }
        switch content {
        case .scalar: return "a scalar"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}
