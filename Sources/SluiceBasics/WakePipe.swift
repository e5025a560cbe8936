import Foundation

/// A non-blocking pipe that any thread can write a byte to, to wake a poll loop.
public final class WakePipe: Sendable {
    /// The end to poll and drain.
    public let readFD: Int32
    private let writeFD: Int32

    /// Creates the pipe.
    public init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SystemError("cannot create a pipe", errno: errno) }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    /// Writes one byte; safe from any thread.
    public func wake(_ byte: UInt8) {
        var value = byte
        _ = write(writeFD, &value, 1)
    }
}
