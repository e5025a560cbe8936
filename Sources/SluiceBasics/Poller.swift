import Foundation

/// Waits on several descriptors at once with `poll(2)`.
public enum Poller {
    /// Waits up to `timeout` seconds (nil: without limit) and returns the descriptors that became readable.
    public static func wait(_ fds: [Int32], timeout: Double?) -> Set<Int32> {
        var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let ms: Int32 = timeout.map { Int32(max(0, min($0 * 1000, 3_600_000)).rounded(.up)) } ?? -1
        let ready = poll(&entries, nfds_t(entries.count), ms)
        guard ready > 0 else { return [] }
        return Set(entries.filter { $0.revents != 0 }.map(\.fd))
    }

    /// Reads every byte pending on a non-blocking descriptor.
    public static func drain(_ fd: Int32) -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 64) }
            if n <= 0 { break }
            result.append(contentsOf: buffer[0..<n])
        }
        return result
    }
}
