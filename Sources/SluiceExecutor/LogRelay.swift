import Foundation
import SluiceBasics
import SluiceModel

/// Copies one stream of a step from a pipe to its log file, cutting it with a marker past a size cap and
/// masking secret values.
///
/// The step writes into a pipe, never into the file itself, so a runaway step cannot fill the disk:
/// past the cap its output is read and dropped, and the file says so. A write that fails (a full disk)
/// is remembered so the attempt can say so; the pipe is still drained, so the step never blocks on it.
public final class LogRelay {
    /// The pipe's read end (non-blocking); -1 once closed.
    public private(set) var source: Int32
    private let sink: Int32
    private let limit: Int64?
    /// The log file's path, for messages.
    public let path: String
    private var masker: SecretMasker?
    /// Bytes written to the file, the marker excluded.
    public private(set) var written: Int64 = 0
    /// Bytes read and dropped past the cap.
    public private(set) var dropped: Int64 = 0
    /// The errno of the first write to the file that failed, if one did.
    public private(set) var writeError: Int32?
    /// True once the pipe reached end of file (every writer closed it): nothing more to wait for.
    public private(set) var atEnd = false
    private var cut = false

    /// Creates the log file in `directory` (never through a link) and a pipe; returns the relay and the
    /// write end for the child.
    public static func open(
        in directory: SecureDirectory, name: String, mode: mode_t, limit: Int64?, masking secrets: [String] = []
    ) throws -> (relay: LogRelay, childEnd: Int32) {
        let sink = try directory.createFile(name, mode: mode)
        var fds: [Int32] = [0, 0]
        // Spawned children mark every descriptor above 2 close-on-exec, so the window before FD_CLOEXEC leaks nothing.
        guard pipe(&fds) == 0 else {
            let code = errno
            close(sink)
            throw SystemError("cannot create a pipe for \(directory.path)/\(name)", errno: code)
        }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        let relay = LogRelay(
            source: fds[0], sink: sink, limit: limit, path: directory.path + "/" + name,
            masker: SecretMasker(secrets))
        return (relay, fds[1])
    }

    private init(source: Int32, sink: Int32, limit: Int64?, path: String, masker: SecretMasker?) {
        self.source = source
        self.sink = sink
        self.limit = limit
        self.path = path
        self.masker = masker
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
                if masker == nil {
                    store(buffer[0..<n])
                } else {
                    store(masker!.feed(buffer[0..<n])[...])
                }
                moved += n
            } else if n == 0 {
                atEnd = true
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
        if let rest = masker?.flush(), !rest.isEmpty { store(rest[...]) }
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
        guard writeError == nil else { return }  // the file is already incomplete; keep draining the pipe
        var rest = bytes
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { write(sink, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                writeError = n < 0 ? errno : EIO
                return
            }
            rest = rest.dropFirst(n)
        }
    }
}

/// Replaces secret values in a byte stream with `***`, even when a value is split across reads.
struct SecretMasker {
    /// Values shorter than this are not masked: masking `a` would garble every log.
    static let shortest = 4
    private let secrets: [[UInt8]]
    private let longest: Int
    private var carry: [UInt8] = []

    /// A masker for the values long enough to mask; nil when there are none.
    init?(_ values: [String]) {
        let usable = Set(values.filter { $0.utf8.count >= Self.shortest }).map { Array($0.utf8) }
        guard !usable.isEmpty else { return nil }
        secrets = usable.sorted { $0.count > $1.count }
        longest = secrets[0].count
    }

    /// Masks what can be decided now; the last bytes that could begin a secret wait for the next read.
    mutating func feed(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        carry.append(contentsOf: bytes)
        let (masked, consumed) = mask(carry, final: false)
        carry.removeFirst(consumed)
        return masked
    }

    /// Masks and returns everything held back.
    mutating func flush() -> [UInt8] {
        let (masked, _) = mask(carry, final: true)
        carry = []
        return masked
    }

    /// Masks `input`; unless `final`, stops where a secret could still be completed by the next bytes.
    private func mask(_ input: [UInt8], final: Bool) -> ([UInt8], Int) {
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        let safeEnd = final ? input.count : max(0, input.count - (longest - 1))
        var i = 0
        scan: while i < safeEnd {
            for secret in secrets where input.count - i >= secret.count && input[i] == secret[0] {
                if input[i..<(i + secret.count)].elementsEqual(secret) {
                    output.append(contentsOf: Array("***".utf8))
                    i += secret.count
                    continue scan
                }
            }
            output.append(input[i])
            i += 1
        }
        return (output, i)
    }
}
