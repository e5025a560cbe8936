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
}
