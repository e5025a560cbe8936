import Foundation
import SluiceBasics
import SluiceLineage
import SluiceModel
import Testing

@Suite("Versions of files and directories, and the stat cache")
struct DataVersionerTests {
    private func directory() throws -> String {
        let path = NSTemporaryDirectory() + "sluice-lineage-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func write(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    @Test func aFileIsVersionedByTheSHA256OfItsContent() throws {
        let root = try directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write(root + "/a.csv", "abc")
        let versioner = DataVersioner(cache: MemoryStatCache())
        let version = try versioner.version(
            of: ResolvedData(path: root + "/a.csv", uri: nil, dataset: nil, method: "content"))
        // sha256("abc"), as `sha256sum` prints it.
        #expect(version.version == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(version.kind == .path && version.sizeBytes == 3 && version.method == "content")
    }

    @Test func anUnchangedFileIsNotReadAgainAndAChangedOneIs() throws {
        let root = try directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write(root + "/big.bin", String(repeating: "x", count: 100_000))
        let cache = MemoryStatCache()
        let versioner = DataVersioner(cache: cache)
        let data = ResolvedData(path: root + "/big.bin", uri: nil, dataset: "big", method: "content")
        let first = try versioner.version(of: data)
        #expect(versioner.hasher.bytesHashed == 100_000)
        let second = try versioner.version(of: data)
        #expect(second == first && versioner.hasher.bytesHashed == 100_000)
        #expect(versioner.stillIs(first))
        try write(root + "/big.bin", String(repeating: "y", count: 100_000))
        #expect(!versioner.stillIs(first))
        let third = try versioner.version(of: data)
        #expect(third.version != first.version && versioner.hasher.bytesHashed == 200_000)
        #expect(third.kind == .dataset && third.name == "big")
    }

    @Test func aDirectoryIsVersionedByItsSortedManifest() throws {
        let root = try directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write(root + "/d/b.txt", "2")
        try write(root + "/d/a/x.txt", "1")
        let versioner = DataVersioner(cache: MemoryStatCache())
        let data = ResolvedData(path: root + "/d", uri: nil, dataset: nil, method: "content")
        let first = try versioner.version(of: data)
        #expect(first.method == "directory" && first.sizeBytes == 2)
        // The same files made in another order give the same version.
        let other = try directory()
        defer { try? FileManager.default.removeItem(atPath: other) }
        try write(other + "/d/a/x.txt", "1")
        try write(other + "/d/b.txt", "2")
        let moved = try versioner.version(
            of: ResolvedData(path: other + "/d", uri: nil, dataset: nil, method: "content"))
        #expect(moved.version == first.version)
        #expect(versioner.stillIs(first))
        try write(root + "/d/a/new.txt", "3")
        #expect(!versioner.stillIs(first))
        #expect(try versioner.version(of: data).version != first.version)
    }

    @Test func mtimeUsesTheStatAloneAndFromStepNeedsAReportedVersion() throws {
        let root = try directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write(root + "/m.txt", "hello")
        let versioner = DataVersioner(cache: MemoryStatCache())
        let version = try versioner.version(
            of: ResolvedData(path: root + "/m.txt", uri: nil, dataset: nil, method: "mtime"))
        #expect(version.version.hasPrefix("mtime:") && versioner.hasher.bytesHashed == 0)
        let uri = ResolvedData(path: nil, uri: "warehouse://marts/x", dataset: "marts_x", method: "from_step")
        #expect(throws: DataVersionError.self) { try versioner.version(of: uri) }
        let reported = try versioner.version(of: uri, reported: "v42")
        #expect(reported.version == "v42" && reported.kind == .dataset && reported.name == "marts_x")
        let missing = ResolvedData(path: root + "/none", uri: nil, dataset: nil, method: "content")
        #expect(throws: DataVersionError.self) { try versioner.version(of: missing) }
    }

    @Test func theFingerprintChangesWithAnyPartAndNotWithOrder() throws {
        let code = CodeVersion(dagHash: "h", commit: "c", dirty: false, changes: nil)
        let input = DataVersion(
            kind: .path, name: "/a", path: "/a", version: "sha256:1", method: "content", sizeBytes: 1)
        let base = StepFingerprint(
            command: ["python", "t.py"], env: ["A=1", "B=2"], workdir: "/w", resources: ["cpus=1"], params: ["p=1"],
            code: code, inputs: [input])
        let reordered = StepFingerprint(
            command: ["python", "t.py"], env: ["B=2", "A=1"], workdir: "/w", resources: ["cpus=1"], params: ["p=1"],
            code: code, inputs: [input])
        #expect(base.hash == reordered.hash && base.hash.count == 64)
        let changedInput = DataVersion(
            kind: .path, name: "/a", path: "/a", version: "sha256:2", method: "content", sizeBytes: 1)
        let variants = [
            StepFingerprint(
                command: ["python", "u.py"], env: ["A=1", "B=2"], workdir: "/w", resources: ["cpus=1"],
                params: ["p=1"], code: code, inputs: [input]),
            StepFingerprint(
                command: ["python", "t.py"], env: ["A=1", "B=3"], workdir: "/w", resources: ["cpus=1"],
                params: ["p=1"], code: code, inputs: [input]),
            StepFingerprint(
                command: ["python", "t.py"], env: ["A=1", "B=2"], workdir: "/w", resources: ["cpus=1"],
                params: ["p=2"], code: code, inputs: [input]),
            StepFingerprint(
                command: ["python", "t.py"], env: ["A=1", "B=2"], workdir: "/w", resources: ["cpus=1"],
                params: ["p=1"], code: CodeVersion(dagHash: "h", commit: "c", dirty: true, changes: "x"),
                inputs: [input]),
            StepFingerprint(
                command: ["python", "t.py"], env: ["A=1", "B=2"], workdir: "/w", resources: ["cpus=1"],
                params: ["p=1"], code: code, inputs: [changedInput]),
        ]
        #expect(Set(variants.map(\.hash) + [base.hash]).count == variants.count + 1)
    }
}

@Suite("The code version of a DAG's repository")
struct CodeVersionTests {
    private func git(_ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-c", "user.name=t", "-c", "user.email=t@e", "-c", "safe.directory=*"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "git \(arguments)")
    }

    @Test func aCleanTreeGivesItsCommitAndAnEditMakesItDirtyWithAHashOfTheChange() throws {
        let root = NSTemporaryDirectory() + "sluice-git-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/dags", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "print(1)\n".write(toFile: root + "/train.py", atomically: false, encoding: .utf8)
        try "dag: x\n".write(toFile: root + "/dags/x.yaml", atomically: false, encoding: .utf8)
        try git(["init", "-q"], in: root)
        try git(["add", "."], in: root)
        try git(["commit", "-q", "-m", "first"], in: root)
        let clean = CodeVersion.of(directory: root + "/dags", dagHash: "h", hasher: FileHasher())
        #expect(clean.commit?.count == 40 && !clean.dirty && clean.changes == nil)
        try "print(2)\n".write(toFile: root + "/train.py", atomically: false, encoding: .utf8)
        let edited = CodeVersion.of(directory: root + "/dags", dagHash: "h", hasher: FileHasher())
        #expect(edited.commit == clean.commit && edited.dirty && edited.changes != nil)
        try "print(3)\n".write(toFile: root + "/train.py", atomically: false, encoding: .utf8)
        let again = CodeVersion.of(directory: root + "/dags", dagHash: "h", hasher: FileHasher())
        #expect(again.changes != edited.changes)
        let outside = CodeVersion.of(directory: NSTemporaryDirectory(), dagHash: "h", hasher: FileHasher())
        #expect(outside.commit == nil && !outside.dirty)
    }
}

@Suite("A declared path that is a link")
struct LinkedDataTests {
    @Test func aLinkIsVersionedAsWhatItPointsToAndFollowsItWhenItMoves() throws {
        let root = NSTemporaryDirectory() + "sluice-link-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "one".write(toFile: root + "/v1.csv", atomically: false, encoding: .utf8)
        try "two".write(toFile: root + "/v2.csv", atomically: false, encoding: .utf8)
        symlink("v1.csv", root + "/latest.csv")
        let versioner = DataVersioner(cache: MemoryStatCache())
        let data = ResolvedData(path: root + "/latest.csv", uri: nil, dataset: nil, method: "content")
        let first = try versioner.version(of: data)
        let direct = try versioner.version(
            of: ResolvedData(path: root + "/v1.csv", uri: nil, dataset: nil, method: "content"))
        #expect(first.version == direct.version && first.path == root + "/latest.csv")
        #expect(versioner.stillIs(first))
        unlink(root + "/latest.csv")
        symlink("v2.csv", root + "/latest.csv")
        #expect(!versioner.stillIs(first))
        #expect(try versioner.version(of: data).version != first.version)
        unlink(root + "/latest.csv")
        symlink("gone.csv", root + "/latest.csv")
        #expect(throws: DataVersionError.self) { try versioner.version(of: data) }
    }
}
