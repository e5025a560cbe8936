import Foundation
import SluiceBasics
import SluiceModel

/// A data reference with its templates resolved: what the versioner needs.
public struct ResolvedData: Sendable, Hashable {
    /// The absolute local path, for a path.
    public let path: String?
    /// The URI, for a URI.
    public let uri: String?
    /// The dataset's name, when one is given.
    public let dataset: String?
    /// `content`, `mtime` or `from_step`.
    public let method: String

    /// Creates a resolved reference.
    public init(path: String?, uri: String?, dataset: String?, method: String) {
        self.path = path
        self.uri = uri
        self.dataset = dataset
        self.method = method
    }

    /// How it is identified in the lineage.
    public var kind: DataVersion.Kind { dataset != nil ? .dataset : (path != nil ? .path : .uri) }
    /// Its name in the lineage: the dataset's name, else the path or URI.
    public var name: String { dataset ?? path ?? uri ?? "" }
    /// What a message calls it.
    public var shown: String { path ?? uri ?? dataset ?? "" }
}

/// Why data has no version.
public struct DataVersionError: Error, Sendable, CustomStringConvertible {
    /// The reason, in words a data scientist can act on.
    public let description: String
}

/// Finds versions of local files and directories (SHA-256 of content, or of a sorted manifest for a
/// directory), using a stat cache so that a file whose identity did not change is not read again.
public final class DataVersioner {
    /// The hasher, whose count says how many bytes were read.
    public let hasher: FileHasher
    private let cache: StatCache

    /// Creates a versioner over a stat cache.
    public init(hasher: FileHasher = FileHasher(), cache: StatCache) {
        self.hasher = hasher
        self.cache = cache
    }

    /// The version of local data as it is now. `reported` is what the step reported for `from_step`
    /// (`version.<dataset>=…`); it is required then.
    public func version(of data: ResolvedData, reported: String? = nil) throws -> DataVersion {
        if data.method == "from_step" || data.path == nil {
            guard let reported, !reported.isEmpty else {
                throw DataVersionError(
                    description:
                        "\(data.shown) has no version: its step must write 'version.\(data.dataset ?? data.name)=…' to $SLUICE_OUTPUT"
                )
            }
            return DataVersion(
                kind: data.kind, name: data.name, path: data.path, version: reported, method: "from_step",
                sizeBytes: nil)
        }
        let declared = data.path!
        // A declared path that is a link (`data/latest.csv`) is versioned as what it points to; links inside
        // a directory are recorded as links.
        var st = stat()
        guard let path = Self.resolved(declared), lstat(path, &st) == 0 else {
            throw DataVersionError(description: "\(declared) does not exist")
        }
        let type = st.st_mode & S_IFMT
        if data.method == "mtime" {
            let identity = FileIdentity(st)
            return DataVersion(
                kind: data.kind, name: data.name, path: declared,
                version: "mtime:\(identity.mtimeNanoseconds):\(identity.size)", method: "mtime",
                sizeBytes: identity.size)
        }
        if type == S_IFDIR {
            let (manifest, size) = try self.manifest(of: path)
            return DataVersion(
                kind: data.kind, name: data.name, path: declared, version: "sha256:" + FileHasher.sha256(manifest),
                method: "directory", sizeBytes: size)
        }
        guard type == S_IFREG else {
            throw DataVersionError(
                description:
                    "\(declared) is \(FileSystem.describeType(type)), not a file or a directory Sluice can version")
        }
        let sha = try hash(path, FileIdentity(st))
        return DataVersion(
            kind: data.kind, name: data.name, path: declared, version: "sha256:" + sha, method: "content",
            sizeBytes: Int64(st.st_size))
    }

    /// The path itself, or what it points to when it is a link; nil when it (or its target) does not exist.
    static func resolved(_ path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        guard st.st_mode & S_IFMT == S_IFLNK else { return path }
        return try? FileSystem.realPath(path)
    }

    /// True when local data provably still has `version`, from stats alone (a file or directory whose
    /// every file has the identity it had when hashed); false when it changed or cannot tell cheaply.
    public func stillIs(_ version: DataVersion) -> Bool {
        guard let declared = version.path, let path = Self.resolved(declared) else { return false }
        switch version.method {
        case "mtime":
            var st = stat()
            guard lstat(path, &st) == 0 else { return false }
            let identity = FileIdentity(st)
            return version.version == "mtime:\(identity.mtimeNanoseconds):\(identity.size)"
        case "content":
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG,
                let sha = cache.hash(of: path, identity: FileIdentity(st))
            else { return false }
            return version.version == "sha256:" + sha
        case "directory":
            guard let (manifest, _) = try? manifest(of: path, statsOnly: true) else { return false }
            return version.version == "sha256:" + FileHasher.sha256(manifest)
        default:
            return false
        }
    }

    private func hash(_ path: String, _ identity: FileIdentity) throws -> String {
        if let known = cache.hash(of: path, identity: identity) { return known }
        let sha = try hasher.sha256(path: path)
        // A file written while it was read is not remembered: its next identity differs anyway, but a
        // change within the same nanosecond timestamps must not pin a wrong hash.
        var after = stat()
        if lstat(path, &after) == 0, FileIdentity(after) == identity {
            cache.remember(path, identity: identity, sha256: sha)
        }
        return sha
    }

    /// The sorted manifest of a directory: one `relative path, size, sha256` line per regular file (links
    /// as `-> target`), and its total size. With `statsOnly`, a file not in the cache fails it.
    private func manifest(of root: String, statsOnly: Bool = false) throws -> ([UInt8], Int64) {
        var lines: [String] = []
        var total: Int64 = 0
        var pending = [""]
        while let relative = pending.popLast() {
            let directory = relative.isEmpty ? root : root + "/" + relative
            guard let stream = opendir(directory) else {
                throw DataVersionError(description: "cannot list \(directory): \(String(cString: strerror(errno)))")
            }
            var names: [String] = []
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(stream)
            for name in names {
                let child = relative.isEmpty ? name : relative + "/" + name
                let full = root + "/" + child
                var st = stat()
                guard lstat(full, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    pending.append(child)
                case S_IFREG:
                    let identity = FileIdentity(st)
                    let sha: String
                    if statsOnly {
                        guard let known = cache.hash(of: full, identity: identity) else {
                            throw DataVersionError(description: "\(full) changed")
                        }
                        sha = known
                    } else {
                        sha = try hash(full, identity)
                    }
                    total += identity.size
                    lines.append("\(Self.escape(child))\t\(identity.size)\t\(sha)\n")
                case S_IFLNK:
                    var target = [CChar](repeating: 0, count: 4097)
                    let n = readlink(full, &target, 4096)
                    let text =
                        n >= 0 ? String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
                    lines.append("\(Self.escape(child))\t->\t\(Self.escape(text))\n")
                default:
                    continue  // sockets, FIFOs, devices: not data
                }
            }
        }
        lines.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        return (Array(lines.joined().utf8), total)
    }

    /// A name with its tabs, newlines and backslashes escaped, so that each manifest line parses one way.
    private static func escape(_ name: String) -> String {
        guard name.contains(where: { $0 == "\t" || $0 == "\n" || $0 == "\\" || $0 == "\r" }) else { return name }
        return name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\t", with: "\\t")
            .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
    }
}
