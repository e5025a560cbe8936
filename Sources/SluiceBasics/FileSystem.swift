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

    /// Reads a whole file as bytes.
    public static func readBytes(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("cannot read \(path)", errno: errno) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
            throw SystemError("cannot read \(path): it is a directory")
        }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("cannot read \(path)", errno: errno)
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
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
        if path.hasPrefix("/") { return (path as NSString).standardizingPath }
        let cwd = FileManager.default.currentDirectoryPath
        return ((cwd as NSString).appendingPathComponent(path) as NSString).standardizingPath
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
}
