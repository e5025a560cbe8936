/// A dataset, file, directory or URI as one attempt read or wrote it: what it is and which version.
public struct DataVersion: Sendable, Hashable, Codable {
    /// What identifies the data across runs.
    public enum Kind: String, Sendable, Codable {
        /// A local file or directory, by absolute path.
        case path
        /// A named dataset (`dataset:`), whatever its path or URI.
        case dataset
        /// A URI such as `warehouse://marts/churn_scores`.
        case uri
    }

    /// What `name` is.
    public let kind: Kind
    /// The absolute path, the dataset's name, or the URI.
    public let name: String
    /// The local path, when the data is a file or directory (also for a named dataset with a path).
    public let path: String?
    /// The version: `sha256:…` (content), `mtime:…` (modification time and size), or as the step reported it.
    public let version: String
    /// How the version was found: `content`, `directory`, `mtime` or `from_step`.
    public let method: String
    /// The size in bytes, for local data.
    public let sizeBytes: Int64?

    /// Creates a version.
    public init(kind: Kind, name: String, path: String?, version: String, method: String, sizeBytes: Int64?) {
        self.kind = kind
        self.name = name
        self.path = path
        self.version = version
        self.method = method
        self.sizeBytes = sizeBytes
    }

    /// `name@version`, as the lineage commands print and accept it.
    public var label: String { "\(name)@\(version)" }
}
