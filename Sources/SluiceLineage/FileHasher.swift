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
        _ = try FileSystem.regularFileStatus(fd: fd, path: path, action: "hash")
        var hasher = SHA256()
        var total: Int64 = 0
        try FileSystem.readChunks(fd: fd, path: path, chunkSize: 1 << 20) { chunk in
            hasher.update(bufferPointer: UnsafeRawBufferPointer(chunk))
            total += Int64(chunk.count)
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
