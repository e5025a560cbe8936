import Foundation

/// Small file-system helpers that report errors with the path involved.
public enum FileSystem {
    /// Creates a directory and its parents with the given mode; fine if it exists.
    public static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { return }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectory(parent, mode: 0o755) }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw SystemError("cannot create directory \(path)", errno: errno)
        }
    }

    /// True when a regular file or directory exists at `path`.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// True when `path` is a directory.
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The first symbolic link on `path` (in any of its components) that another user owns and that points to
    /// something that user does not own; links root made are trusted. A process running as root that followed
    /// such a link would read, on that user's behalf, whatever it points to (`dags/x.yaml -> /etc/shadow`).
    public static func foreignLink(in path: String) -> (link: String, owner: uid_t, targetOwner: uid_t)? {
        // Not `absolute(_:)`: standardizing a path resolves the very links this looks for.
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var prefix = ""
        for component in full.split(separator: "/") {
            prefix += "/" + component
            var link = stat()
            guard lstat(prefix, &link) == 0 else { return nil }
            guard link.st_mode & S_IFMT == S_IFLNK, link.st_uid != 0 else { continue }
            var target = stat()
            guard stat(prefix, &target) == 0 else { return nil }
            if target.st_uid != link.st_uid { return (prefix, link.st_uid, target.st_uid) }
        }
        return nil
    }

    /// Reads a whole regular file as bytes, at most `limit` bytes; FIFOs, devices, sockets and directories are
    /// refused before anything is read, so a DAG path such as `/dev/zero` or a FIFO can neither grow without
    /// bound nor hang.
    public static func readBytes(_ path: String, limit: Int = Int.max) throws -> [UInt8] {
        // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("cannot read \(path)", errno: errno) }
        defer { close(fd) }
        return try readRegular(fd: fd, path: path, limit: limit)
    }

    /// Reads an open descriptor that must be a regular file, at most `limit` bytes (more is an error).
    public static func readRegular(fd: Int32, path: String, limit: Int) throws -> [UInt8] {
        let st = try regularFileStatus(fd: fd, path: path, action: "read")
        if Int(st.st_size) > limit {
            throw FileTooLarge(path: path, size: Int(st.st_size), limit: limit)
        }
        // O_NONBLOCK, set to open a FIFO safely, changes nothing for a regular file: it is left as it is.
        // The buffer fits the file's size (kernel files report 0 or 4096), up to 64 KiB at a time.
        let size = Int(st.st_size)
        var result: [UInt8] = []
        result.reserveCapacity(size)
        try readChunks(fd: fd, path: path, chunkSize: size > 0 && size < 65536 ? size + 1 : 65536) { chunk in
            // A file that grows while it is read (or lies about its size) is still cut at the limit.
            if result.count + chunk.count > limit {
                throw FileTooLarge(path: path, size: result.count + chunk.count, limit: limit)
            }
            result.append(contentsOf: chunk)
        }
        return result
    }

    /// The status of an open descriptor that must be a regular file; else "cannot `action` PATH: it is a …".
    public static func regularFileStatus(fd: Int32, path: String, action: String) throws -> stat {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("cannot read \(path)", errno: errno) }
        let type = st.st_mode & S_IFMT
        guard type == S_IFREG else {
            throw SystemError("cannot \(action) \(path): it is \(describeType(type)), not a regular file")
        }
        return st
    }

    /// Reads an open descriptor to its end, `chunkSize` bytes at most at a time, retrying interrupted reads.
    public static func readChunks(
        fd: Int32, path: String, chunkSize: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> Void
    ) throws {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: chunkSize) { chunk in
            while true {
                let n = read(fd, chunk.baseAddress, chunkSize)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SystemError("cannot read \(path)", errno: errno)
                }
                if n == 0 { break }
                try body(UnsafeBufferPointer(rebasing: chunk[0..<n]))
            }
        }
    }

    /// "a directory", "a FIFO", … for a `st_mode & S_IFMT` value.
    public static func describeType(_ type: mode_t) -> String {
        switch type {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        case S_IFREG: return "a regular file"
        default: return "a special file"
        }
    }

    /// Opens (creating or truncating) a file for writing, close-on-exec.
    public static func createForWriting(_ path: String, mode: mode_t = 0o644) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError("cannot create \(path)", errno: errno) }
        return fd
    }

    /// The absolute, symlink-free form of an existing path.
    public static func realPath(_ path: String) throws -> String {
        guard let resolved = realpath(path, nil) else {
            throw SystemError("cannot resolve \(path)", errno: errno)
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `path` made absolute against the current directory, without touching the disk.
    public static func absolute(_ path: String) -> String {
        // Lexically: Foundation's `standardizingPath` reads every link on the way (a `readlink` per component).
        lexicallyNormal(path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path)
    }

    /// An absolute path with `.`, `..` and repeated slashes worked out on the text alone (`/a/./b/../c` →
    /// `/a/c`): no link is followed, so the lineage records a path and finds it again the same way.
    public static func lexicallyNormal(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) where part != "." {
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
            } else {
                parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Changes the owner of a path.
    public static func changeOwner(_ path: String, uid: uid_t, gid: gid_t) throws {
        if chown(path, uid, gid) != 0 { throw SystemError("cannot chown \(path)", errno: errno) }
    }
}

extension FileSystem {
    /// The size in bytes of the file at `path`, or nil when it cannot be stat'ed.
    public static func size(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    /// The names in a directory, sorted; empty when it cannot be read.
    public static func entries(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    /// The names of the directories in a directory, as `readdir` gives them (its type, no `stat` each; on
    /// cgroupfs the files outnumber the child cgroups); empty when it cannot be read.
    public static func subdirectories(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// How much room a file system has, from `fstatvfs`.
public struct DiskSpace: Sendable, Equatable {
    /// Bytes an unprivileged writer may still use.
    public let available: Int64
    /// The file system's size in bytes.
    public let total: Int64

    /// The space of the file system holding the open descriptor; nil when it cannot be read.
    public static func of(fd: Int32) -> DiskSpace? {
        var info = statvfs()
        guard fstatvfs(fd, &info) == 0 else { return nil }
        let unit = Int64(info.f_frsize)
        return DiskSpace(available: Int64(info.f_bavail) * unit, total: Int64(info.f_blocks) * unit)
    }

    /// True when an unprivileged writer has no block left.
    public var isFull: Bool { available <= 0 }
}
