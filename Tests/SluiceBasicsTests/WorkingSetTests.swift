import Foundation
import SluiceBasics
import Testing

@Suite("Trimming the resident code of an idle process")
struct WorkingSetTests {
    /// Resident kilobytes of this process's executable file mappings.
    private func residentCode() throws -> Int {
        let text = try String(contentsOfFile: "/proc/self/smaps", encoding: .utf8)
        var code = 0
        var isCode = false
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.first?.hasSuffix(":") == false {
                isCode = fields.count >= 6 && fields[1] == "r-xp" && fields[5].hasPrefix("/")
            } else if fields.first == "Rss:", fields.count > 1, let kb = Int(fields[1]) {
                if isCode { code += kb }
            }
        }
        return code
    }

    /// The executable mappings' resident pages go, the process goes on running the same code, and the pages
    /// it runs fault back in; nothing writable is touched (a checksum of a heap buffer is unchanged).
    @Test func releasingCodeDropsItsResidentPagesAndTheProcessRunsOn() throws {
        let buffer = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let sum = buffer.reduce(0) { $0 &+ Int($1) }
        let before = try residentCode()
        #expect(before > 0)
        let released = WorkingSet.releaseCode()
        let after = try residentCode()
        #expect(released > 0)
        #expect(after < before, "resident code: \(before) kB before, \(after) kB after")
        #expect(buffer.reduce(0) { $0 &+ Int($1) } == sum)
        // Code that ran before runs again (its pages come back from the page cache).
        #expect(try residentCode() > 0)
        #expect(try FileSystem.readBytes("/proc/self/status").count > 0)
    }
}
