import Foundation

/// An exclusive `flock` on a file, held until `release()`; serialises processes that share a state directory.
public final class FileLock: Sendable {
    private let fd: Int32

    /// Blocks until the lock on `name` in `directory` (created if needed, never through a link) is held.
    public init(in directory: SecureDirectory, name: String) throws {
        let fd = openat(directory.fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        let path = directory.path + "/" + name
        guard fd >= 0 else { throw SystemError("cannot open lock file \(path)", errno: errno) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR {
                let code = errno
                close(fd)
                throw SystemError("cannot lock \(path)", errno: code)
            }
        }
        self.fd = fd
    }

    /// Releases the lock.
    public func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
