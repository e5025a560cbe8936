import Foundation
import SluiceBasics

/// The file operations cgroup code needs, so that the v1 and v2 code paths can run against a fake tree.
public protocol CgroupFiles: Sendable {
    /// Creates one directory (its parent exists); fine if it exists already.
    func makeDirectory(_ path: String) throws
    /// Removes one empty cgroup directory.
    func removeDirectory(_ path: String) throws
    /// Writes a control file, as one `write` call, without creating it.
    func write(_ path: String, _ value: String) throws
    /// Reads a control file; nil when it does not exist or cannot be read.
    func read(_ path: String) -> String?
    /// True when the file or directory exists.
    func exists(_ path: String) -> Bool
    /// A descriptor open for writing (close-on-exec), for a child to join a cgroup through `cgroup.procs`.
    func openForWriting(_ path: String) throws -> Int32
    /// The names of the directories (child cgroups) in `path`; none when it cannot be read.
    func subdirectories(_ path: String) -> [String]
    /// Renames a cgroup directory within its parent.
    func renameDirectory(_ path: String, to newPath: String) throws
}

/// The real cgroup file systems under /sys/fs/cgroup.
public struct HostCgroupFiles: CgroupFiles {
    /// Creates the accessor.
    public init() {}

    /// Creates one directory; fine if it exists already.
    public func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw SystemError("cannot create cgroup \(path)", errno: errno)
        }
    }

    /// Removes one empty cgroup directory.
    public func removeDirectory(_ path: String) throws {
        if rmdir(path) != 0 && errno != ENOENT { throw SystemError("cannot remove cgroup \(path)", errno: errno) }
    }

    /// Writes a control file in one `write` call (the kernel parses each write on its own).
    public func write(_ path: String, _ value: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("cannot open \(path)", errno: errno) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        if written != bytes.count { throw SystemError("cannot write '\(value)' to \(path)", errno: errno) }
    }

    /// Reads a control file; nil when it is missing or unreadable. Control files are small and made whole at
    /// each read: one `read` of a page is all of one unless it fills the page (no `fstat`, no read to see the
    /// end; these reads are on a step's critical path, six per attempt on v1).
    public func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var page = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = page.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return nil }
            bytes += page[0..<count]
            if count < page.count || bytes.count > 1 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// True when the path exists.
    public func exists(_ path: String) -> Bool { FileSystem.exists(path) }

    /// A close-on-exec descriptor open for writing.
    public func openForWriting(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("cannot open \(path)", errno: errno) }
        return fd
    }

    /// Renames a cgroup directory within its parent (cgroupfs allows it; its processes and settings stay).
    public func renameDirectory(_ path: String, to newPath: String) throws {
        if Foundation.rename(path, newPath) != 0 {
            throw SystemError("cannot rename cgroup \(path) to \(newPath)", errno: errno)
        }
    }

    /// The names of the child cgroups in `path`.
    public func subdirectories(_ path: String) -> [String] { FileSystem.subdirectories(path) }
}

/// Parsing helpers for the `key value` files cgroups expose (`memory.events`, `cpu.stat`, `memory.oom_control`).
enum CgroupText {
    /// The value of `key` in a flat-keyed file.
    static func field(_ text: String?, _ key: String) -> Int64? {
        guard let text else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2 && parts[0] == key { return Int64(parts[1]) }
        }
        return nil
    }

    /// A file holding one number; nil for `max` or anything unparsable.
    static func number(_ text: String?) -> Int64? {
        guard let text else { return nil }
        return Int64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The pids listed in a `cgroup.procs` file.
    static func pids(_ text: String?) -> [pid_t] {
        (text ?? "").split(separator: "\n").compactMap { pid_t($0.trimmingCharacters(in: .whitespaces)) }
    }
}
