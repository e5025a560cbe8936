import Foundation

/// A directory held open by descriptor, in which every file and subdirectory is made or opened relative to
/// that descriptor and without following symbolic links.
///
/// Code that runs as root inside a directory someone else could write to (the embedded server's directory
/// belongs to the server user) uses this, so that a link planted there can never redirect a write.
public final class SecureDirectory: Sendable {
    /// The open descriptor (`O_DIRECTORY`, close-on-exec).
    public let fd: Int32
    /// The path it was opened at, for messages and for recording where files are.
    public let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Opens an existing directory, following links on the way to it (it is the trusted root).
    public static func open(_ path: String) throws -> SecureDirectory {
        let fd = Foundation.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("cannot open directory \(path)", errno: errno) }
        return SecureDirectory(fd: fd, path: path)
    }

    /// The child directory `name`, created with `mode` when missing; refused when it is a link or not a directory.
    public func subdirectory(_ name: String, mode: mode_t = 0o700) throws -> SecureDirectory {
        try Self.checkName(name)
        let child = path == "/" ? "/" + name : path + "/" + name
        if mkdirat(fd, name, mode) != 0 && errno != EEXIST {
            throw SystemError("cannot create directory \(child)", errno: errno)
        }
        let opened = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard opened >= 0 else {
            if errno == ELOOP || errno == ENOTDIR {
                throw SystemError(
                    "\(child) is a symbolic link or not a directory; Sluice does not follow links inside its own directories"
                )
            }
            throw SystemError("cannot open directory \(child)", errno: errno)
        }
        return SecureDirectory(fd: opened, path: child)
    }

    /// A nested directory such as `logs/dag/42`, each level made and opened like `subdirectory`.
    public func subdirectories(_ relative: String, mode: mode_t = 0o700) throws -> SecureDirectory {
        var current = self
        for component in relative.split(separator: "/") where !component.isEmpty && component != "." {
            current = try current.subdirectory(String(component), mode: mode)
        }
        return current
    }

    /// A new file opened for writing: never through a link, never an existing file. With `replace`, an entry
    /// already there (a file or a planted link) is unlinked first — the link itself, never what it points to.
    public func createFile(_ name: String, mode: mode_t = 0o600, replace: Bool = true) throws -> Int32 {
        try Self.checkName(name)
        for _ in 0..<2 {
            let opened = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if opened >= 0 {
                _ = fchmod(opened, mode)  // the umask must not widen or narrow what was asked for
                return opened
            }
            guard errno == EEXIST, replace, unlinkat(fd, name, 0) == 0 || errno == ENOENT else { break }
        }
        throw SystemError("cannot create \(path)/\(name)", errno: errno)
    }

    /// A file opened for appending (created when missing), refused when it is a link or not a regular file.
    public func appendFile(_ name: String, mode: mode_t = 0o600) throws -> Int32 {
        try Self.checkName(name)
        let opened = openat(fd, name, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, mode)
        guard opened >= 0 else { throw SystemError("cannot open \(path)/\(name)", errno: errno) }
        var st = stat()
        guard fstat(opened, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(opened)
            throw SystemError("\(path)/\(name) is not a regular file")
        }
        return opened
    }

    /// Reads a regular file in this directory (not through a link), at most `limit` bytes.
    public func readFile(_ name: String, limit: Int) throws -> [UInt8] {
        try Self.checkName(name)
        let opened = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard opened >= 0 else { throw SystemError("cannot read \(path)/\(name)", errno: errno) }
        defer { close(opened) }
        return try FileSystem.readRegular(fd: opened, path: path + "/" + name, limit: limit)
    }

    /// Whether an entry exists, without following a link.
    public func contains(_ name: String) -> Bool {
        var st = stat()
        return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// The entry's status, without following a link; nil when it does not exist.
    public func status(_ name: String) -> stat? {
        var st = stat()
        return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    /// Changes an entry's owner without following a link.
    public func changeOwner(_ name: String, uid: uid_t, gid: gid_t) throws {
        if fchownat(fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 {
            throw SystemError("cannot change the owner of \(path)/\(name)", errno: errno)
        }
    }

    /// Changes this directory's own owner.
    public func changeOwner(uid: uid_t, gid: gid_t) throws {
        if fchown(fd, uid, gid) != 0 { throw SystemError("cannot change the owner of \(path)", errno: errno) }
    }

    /// Renames an entry within this directory, atomically replacing `to` only if `replace` allows it.
    public func rename(_ from: String, to: String) throws {
        if renameat(fd, from, fd, to) != 0 {
            throw SystemError("cannot rename \(path)/\(from) to \(to)", errno: errno)
        }
    }

    /// Removes an entry and, for a directory, everything below it, never following a link.
    public func removeTree(_ name: String) throws {
        try Self.checkName(name)
        guard let st = status(name) else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let child = try openSubdirectory(name)
            for entry in child.entries() { try child.removeTree(entry) }
            if unlinkat(fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT {
                throw SystemError("cannot remove \(path)/\(name)", errno: errno)
            }
        } else if unlinkat(fd, name, 0) != 0 && errno != ENOENT {
            throw SystemError("cannot remove \(path)/\(name)", errno: errno)
        }
    }

    /// The names in this directory (`.` and `..` excluded), sorted.
    public func entries() -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let stream = fdopendir(copy) else { return [] }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// An existing child directory, opened without following a link; throws when it is missing.
    public func openSubdirectory(_ name: String) throws -> SecureDirectory {
        try Self.checkName(name)
        let opened = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard opened >= 0 else { throw SystemError("cannot open directory \(path)/\(name)", errno: errno) }
        return SecureDirectory(fd: opened, path: path + "/" + name)
    }

    private static func checkName(_ name: String) throws {
        if name.isEmpty || name == "." || name == ".." || name.contains("/") {
            throw SystemError("'\(name)' is not a file name")
        }
    }
}
