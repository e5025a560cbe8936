import CSpawn
import Foundation

/// Turns SIGINT and SIGTERM into bytes on a pipe that a poll loop can wait on.
public enum SignalPipe {
    /// The signals routed to the pipe.
    public static let signals: [Int32] = [SIGINT, SIGTERM]

    /// Installs the handlers (idempotent) and returns the pipe's read end.
    public static func install() throws -> Int32 {
        let fd = signals.withUnsafeBufferPointer {
            sluice_signal_pipe_install($0.baseAddress, Int32($0.count))
        }
        guard fd >= 0 else { throw SystemError("cannot install signal handlers", errno: errno) }
        return fd
    }

    /// Puts SIGINT and SIGTERM back to their default dispositions.
    public static func restoreDefaults() {
        for signal in signals { _ = sluice_signal_default(signal) }
    }
}
