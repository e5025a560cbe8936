import Foundation
import SluiceBasics
import Testing

@Suite("File and path helpers")
struct FileSystemTests {
    @Test func executableLookupUsesTheGivenPath() {
        #expect(ExecutableLookup.resolve("sh", path: "/nonexistent:/bin") == "/bin/sh")
        #expect(ExecutableLookup.resolve("sh", path: "/nonexistent") == nil)
        #expect(ExecutableLookup.resolve("./local.sh", path: "/bin") == "./local.sh")
    }

    @Test func contentHashIsStableAndSensitive() {
        #expect(ContentHash.fnv1a64("") == "cbf29ce484222325")
        #expect(ContentHash.fnv1a64("a") != ContentHash.fnv1a64("b"))
        #expect(ContentHash.fnv1a64("dag: x") == ContentHash.fnv1a64("dag: x"))
    }

    /// A path made absolute is worked out on its text: `.` and `..` go, and a link on the way stays as written
    /// (Foundation's `standardizingPath` read every link, one `readlink` per component, and resolved them).
    @Test func absolutePathsFollowNoLinks() throws {
        let base = "/tmp/sluice-fs-\(getpid())"
        try FileManager.default.createDirectory(atPath: base + "/real", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createSymbolicLink(atPath: base + "/link", withDestinationPath: base + "/real")
        #expect(FileSystem.absolute(base + "/link/./a/../b.csv") == base + "/link/b.csv")
        #expect(FileSystem.absolute("//tmp//x/") == "/tmp/x")
        let here = FileManager.default.currentDirectoryPath
        #expect(FileSystem.absolute("a/../b") == FileSystem.lexicallyNormal(here + "/b"))
    }
}
