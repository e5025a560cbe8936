import Foundation

/// An exclusive `flock` on a file, held until `release()`; serialises processes that share a state directory.
public final class FileLock: Sendable {
    private let fd: Int32

    /// Blocks until the lock on `path` (created if needed) is held.
    public init(path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
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
