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

    /// Runs `body` with the handlers installed and the pipe drained, then puts back whatever was there before.
    public static func scoped<T>(_ body: (Int32) throws -> T) throws -> T {
        var saved = [sluice_saved_action](repeating: sluice_saved_action(), count: signals.count)
        for (index, signal) in signals.enumerated() { _ = sluice_signal_save(signal, &saved[index]) }
        let fd = try install()
        _ = Poller.drain(fd)
        defer {
            for (index, signal) in signals.enumerated() { _ = sluice_signal_restore(signal, &saved[index]) }
        }
        return try body(fd)
    }
}

/// Work stopped because the user interrupted it (SIGINT or SIGTERM).
public struct Interrupted: Error, Sendable, CustomStringConvertible {
    /// The signal that arrived.
    public let signal: Int32
    /// What was being done.
    public let during: String

    /// Creates the error.
    public init(signal: Int32, during: String) {
        self.signal = signal
        self.during = during
    }

    /// `interrupted (SIGTERM) while creating …`.
    public var description: String {
        "interrupted (\(signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)")) while \(during)"
    }
}
