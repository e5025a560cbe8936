import Crypto
import Foundation
import SluiceBasics
import SluiceModel
import Synchronization

/// SHA-256 of files, read in 1 MiB chunks, with a count of the bytes it read (tests and benchmarks check it).
public final class FileHasher: Sendable {
    private let hashed = Atomic<Int64>(0)

    /// Creates a hasher with its count at zero.
    public init() {}

    /// Bytes read and hashed so far.
    public var bytesHashed: Int64 { hashed.load(ordering: .relaxed) }

    /// The hex SHA-256 of a regular file's content; never follows a link at the last component.
    public func sha256(path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("cannot read \(path)", errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("cannot read \(path)", errno: errno) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw SystemError(
                "cannot hash \(path): it is \(FileSystem.describeType(st.st_mode & S_IFMT)), not a regular file")
        }
        var hasher = SHA256()
        let size = 1 << 20
        var total: Int64 = 0
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size) { buffer in
            while true {
                let n = read(fd, buffer.baseAddress, size)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SystemError("cannot read \(path)", errno: errno)
                }
                if n == 0 { break }
                hasher.update(bufferPointer: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[0..<n])))
                total += Int64(n)
            }
        }
        hashed.add(total, ordering: .relaxed)
        return Self.hex(hasher.finalize())
    }

    /// The hex SHA-256 of bytes in memory (manifests, fingerprints).
    public static func sha256(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    private static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
