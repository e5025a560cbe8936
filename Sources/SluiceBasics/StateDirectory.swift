import Foundation

/// A state directory that cannot be used safely, or is not there: one line that says why and what to do.
public struct StateDirectoryError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let description: String
    /// True when the directory simply does not exist (read-only commands report this differently).
    public let isMissing: Bool

    /// Creates the error.
    public init(_ description: String, isMissing: Bool = false) {
        self.description = description
        self.isMissing = isMissing
    }
}

/// Opens Sluice's state directory (the embedded server, logs) after checking that no other user can tamper
/// with it: it must belong to the user running Sluice and be writable by no one else.
///
/// Sluice may run as root inside a project folder other users can write to. If another user could create
/// or write the state directory, they could plant links there and make root write through them.
public enum StateDirectory {
    /// The directory, created (mode 0700, parents 0755) when `create` is set and it is missing.
    public static func open(_ path: String, create: Bool) throws -> SecureDirectory {
        var st = stat()
        if lstat(path, &st) != 0 {
            guard errno == ENOENT else { throw SystemError("cannot use the state directory \(path)", errno: errno) }
            guard create else {
                throw StateDirectoryError("no Sluice state directory at \(path)", isMissing: true)
            }
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty && parent != path { try FileSystem.makeDirectory(parent, mode: 0o755) }
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw SystemError("cannot create the state directory \(path)", errno: errno)
            }
            guard lstat(path, &st) == 0 else {
                throw SystemError("cannot use the state directory \(path)", errno: errno)
            }
        }
        let me = geteuid()
        if (st.st_mode & S_IFMT) == S_IFLNK && st.st_uid != me && st.st_uid != 0 {
            throw StateDirectoryError(
                "the state directory \(path) is a symbolic link that belongs to \(userName(st.st_uid)), not to \(userName(me)); Sluice does not follow another user's link to its state. Use --state-dir with a directory of your own"
            )
        }
        let directory: SecureDirectory
        do {
            directory = try SecureDirectory.open(path)
        } catch {
            throw StateDirectoryError("cannot use the state directory \(path): it is not a directory (\(error))")
        }
        guard fstat(directory.fd, &st) == 0 else {
            throw SystemError("cannot use the state directory \(path)", errno: errno)
        }
        if st.st_uid != me {
            throw StateDirectoryError(
                "the state directory \(path) belongs to \(userName(st.st_uid)), not to \(userName(me)) who runs sluice; another user's directory could hold links that redirect Sluice's writes. Use --state-dir with a directory of your own, or run sluice as \(userName(st.st_uid))"
            )
        }
        if st.st_mode & 0o022 != 0 {
            throw StateDirectoryError(
                "the state directory \(path) can be written by other users (mode \(String(st.st_mode & 0o7777, radix: 8))); make it private with: chmod go-w \(path)"
            )
        }
        return directory
    }

    /// `alice (uid 1000)`, or `uid 1000` when the user has no name.
    public static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid) else { return "uid \(uid)" }
        return "\(String(cString: entry.pointee.pw_name)) (uid \(uid))"
    }
}
