import Foundation
import SluiceBasics
import SluiceSpec

/// Copies one stream of a step from a pipe to its log file, cutting it with a marker past a size cap.
///
/// The step writes into a pipe, never into the file itself, so a runaway step cannot fill the disk:
/// past the cap its output is read and dropped, and the file says so.
public final class LogRelay {
    /// The pipe's read end (non-blocking); -1 once closed.
    public private(set) var source: Int32
    private let sink: Int32
    private let limit: Int64?
    /// Bytes written to the file, the marker excluded.
    public private(set) var written: Int64 = 0
    /// Bytes read and dropped past the cap.
    public private(set) var dropped: Int64 = 0
    private var cut = false

    /// Creates the log file and a pipe; returns the relay and the write end for the child.
    public static func open(path: String, limit: Int64?) throws -> (relay: LogRelay, childEnd: Int32) {
        let sink = try FileSystem.createForWriting(path)
        var fds: [Int32] = [0, 0]
        // Spawned children mark every descriptor above 2 close-on-exec, so the window before FD_CLOEXEC leaks nothing.
        guard pipe(&fds) == 0 else {
            let code = errno
            close(sink)
            throw SystemError("cannot create a pipe for \(path)", errno: code)
        }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        return (LogRelay(source: fds[0], sink: sink, limit: limit), fds[1])
    }

    private init(source: Int32, sink: Int32, limit: Int64?) {
        self.source = source
        self.sink = sink
        self.limit = limit
    }

    deinit {
        if source >= 0 { Foundation.close(source) }
        Foundation.close(sink)
    }

    /// Copies what the pipe holds now, up to `budget` bytes; returns false once the pipe is at end of file.
    @discardableResult
    public func pump(budget: Int = 1 << 20) -> Bool {
        guard source >= 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var moved = 0
        while moved < budget {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n > 0 {
                store(buffer[0..<n])
                moved += n
            } else if n == 0 {
                return false
            } else if errno == EINTR {
                continue
            } else {
                return errno == EAGAIN || errno == EWOULDBLOCK
            }
        }
        return true
    }

    /// Copies whatever is left without waiting for writers that may still hold the pipe, then closes it.
    public func finish() {
        while pump() {
            // A writer that outlived the step (not killable without a cgroup) must not hold us: stop at EAGAIN.
            var probe = pollfd(fd: source, events: Int16(POLLIN), revents: 0)
            if poll(&probe, 1, 0) <= 0 || probe.revents & Int16(POLLIN) == 0 { break }
        }
        if dropped > 0 {
            writeAll(Array("\n[sluice: \(dropped) more bytes were dropped]\n".utf8)[...])
        }
        if source >= 0 {
            Foundation.close(source)
            source = -1
        }
    }

    private func store(_ bytes: ArraySlice<UInt8>) {
        guard let limit else { return writeAll(bytes) }
        let room = max(0, limit - written)
        if room >= Int64(bytes.count) {
            writeAll(bytes)
            written += Int64(bytes.count)
            return
        }
        writeAll(bytes.prefix(Int(room)))
        written += room
        if !cut {
            cut = true
            writeAll(
                Array("\n[sluice: output cut here: the log limit is \(Units.formatBytes(limit)) per stream]\n".utf8)[
                    ...])
        }
        dropped += Int64(bytes.count) - room
    }

    private func writeAll(_ bytes: ArraySlice<UInt8>) {
        var rest = bytes
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { write(sink, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }  // a full disk or a closed file: the step's output is lost, not the step
            rest = rest.dropFirst(n)
        }
    }
}
