import Foundation

/// This process's resident memory, trimmed once start-up is over.
public enum WorkingSet {
    /// Lets go of the resident pages of program code (executable, read-only file mappings: the binary and
    /// its libraries) and returns how many bytes of mappings were released.
    ///
    /// Start-up runs code an idle service never runs again (argument parsing, migrations, the first load of
    /// every DAG), and the kernel maps 64 KiB around each page it faults in. Such pages are unmodified copies of
    /// the files, so dropping them loses nothing: the code the service still runs faults back in from the page
    /// cache (a minor fault), and the rest stays in the page cache, shared and reclaimable, instead of counted
    /// in this process's resident set. Writable and relocated mappings (`rw-p`, `r--p`) are never touched:
    /// dropping those would lose their contents.
    @discardableResult
    public static func releaseCode() -> Int {
        guard let bytes = try? FileSystem.readBytes("/proc/self/smaps", limit: 1 << 24) else { return 0 }
        var released = 0
        var candidate: (address: UnsafeMutableRawPointer, length: Int)?
        func release() {
            if let (address, length) = candidate, madvise(address, length, MADV_DONTNEED) == 0 { released += length }
            candidate = nil
        }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.first?.hasSuffix(":") == true {
                // A mapping with private modified pages (text relocations) would lose them: it is left alone.
                if fields[0] == "Anonymous:", fields.count > 1, fields[1] != "0" { candidate = nil }
                continue
            }
            release()  // the previous mapping's fields are all read
            // A mapping's first line: start-end perms offset dev inode path.
            guard fields.count >= 6, fields[1] == "r-xp", fields[5].hasPrefix("/") else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                end > start, let address = UnsafeMutableRawPointer(bitPattern: start)
            else { continue }
            candidate = (address, Int(end - start))
        }
        release()
        return released
    }
}
