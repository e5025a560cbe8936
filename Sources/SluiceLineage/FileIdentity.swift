import Foundation
import SluiceModel

/// What `stat` says about a file, enough to tell that it did not change since it was hashed: the same
/// device, inode, size, modification and change times (nanoseconds).
public struct FileIdentity: Sendable, Hashable, Codable {
    /// `st_dev`.
    public let device: Int64
    /// `st_ino`.
    public let inode: Int64
    /// `st_size`.
    public let size: Int64
    /// `st_mtim` in nanoseconds.
    public let mtimeNanoseconds: Int64
    /// `st_ctim` in nanoseconds.
    public let ctimeNanoseconds: Int64

    /// Creates an identity from its parts.
    public init(device: Int64, inode: Int64, size: Int64, mtimeNanoseconds: Int64, ctimeNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.ctimeNanoseconds = ctimeNanoseconds
    }

    /// The identity from a `stat` result.
    public init(_ st: stat) {
        device = Int64(bitPattern: UInt64(st.st_dev))
        inode = Int64(bitPattern: UInt64(st.st_ino))
        size = Int64(st.st_size)
        mtimeNanoseconds = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        ctimeNanoseconds = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
    }
}

/// Hashes already computed, by absolute path, valid while the file's identity is the same.
public protocol StatCache: AnyObject {
    /// The hash recorded for `path` when its identity was `identity`, if any.
    func hash(of path: String, identity: FileIdentity) -> String?
    /// Remembers a hash (kept until `saved` is called, or for good in memory).
    func remember(_ path: String, identity: FileIdentity, sha256: String)
}

/// A stat cache in memory, for tests and one-off use.
public final class MemoryStatCache: StatCache {
    /// What it holds.
    public private(set) var entries: [String: (FileIdentity, String)] = [:]

    /// An empty cache.
    public init() {}

    /// The hash recorded for the same identity.
    public func hash(of path: String, identity: FileIdentity) -> String? {
        guard let (known, sha) = entries[path], known == identity else { return nil }
        return sha
    }

    /// Remembers a hash.
    public func remember(_ path: String, identity: FileIdentity, sha256: String) {
        entries[path] = (identity, sha256)
    }
}
