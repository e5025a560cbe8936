import Foundation
import SluiceBasics
import SluiceModel

/// The code a run used: the hash of its DAG version (the DAG file and its templates), and the git commit
/// of the repository holding the DAG, whether the tree had uncommitted changes, and a hash of them.
public struct CodeVersion: Sendable, Codable, Equatable {
    /// The DAG version's hash.
    public let dagHash: String
    /// `git rev-parse HEAD` of the DAG's repository; nil outside a repository.
    public let commit: String?
    /// True when tracked files differed from the commit, or untracked files existed.
    public let dirty: Bool
    /// SHA-256 of the uncommitted changes (`git diff HEAD` and the untracked files' names and content), so
    /// that editing a script without committing changes the fingerprint; nil when clean.
    public let changes: String?

    /// Creates a code version.
    public init(dagHash: String, commit: String?, dirty: Bool, changes: String?) {
        self.dagHash = dagHash
        self.commit = commit
        self.dirty = dirty
        self.changes = changes
    }

    /// The code version of the repository holding `directory` (found with `git`), for a DAG version hash.
    /// Outside a repository, or without git, the commit is nil.
    public static func of(directory: String, dagHash: String, hasher: FileHasher) -> CodeVersion {
        guard let top = git(["rev-parse", "--show-toplevel"], in: directory)?.trimmingCharacters(in: .newlines),
            !top.isEmpty,
            let commit = git(["rev-parse", "HEAD"], in: top)?.trimmingCharacters(in: .newlines), commit.count >= 40
        else {
            return CodeVersion(dagHash: dagHash, commit: nil, dirty: false, changes: nil)
        }
        let diff = git(["diff", "HEAD", "--no-ext-diff", "--binary"], in: top) ?? ""
        let untracked = (git(["ls-files", "--others", "--exclude-standard", "-z"], in: top) ?? "")
            .split(separator: "\0").map(String.init).sorted()
        guard !diff.isEmpty || !untracked.isEmpty else {
            return CodeVersion(dagHash: dagHash, commit: commit, dirty: false, changes: nil)
        }
        var summary = Array(diff.utf8)
        for name in untracked {
            let content = (try? hasher.sha256(path: top + "/" + name)) ?? "unreadable"
            summary += Array("\n?? \(name) \(content)".utf8)
        }
        return CodeVersion(dagHash: dagHash, commit: commit, dirty: true, changes: FileHasher.sha256(summary))
    }

    /// A git command's stdout, or nil when it fails (no git, not a repository) or takes over 10 s.
    private static func git(_ arguments: [String], in directory: String) -> String? {
        guard let executable = ExecutableLookup.resolve("git", path: ProcessInfo.processInfo.environment["PATH"])
        else { return nil }
        var output: [Int32] = [0, 0]
        guard pipe(&output) == 0 else { return nil }
        var request = SpawnRequest(
            executable: executable, arguments: ["git", "-c", "safe.directory=*"] + arguments,
            environment: ["PATH=/usr/bin:/bin", "LC_ALL=C", "GIT_OPTIONAL_LOCKS=0", "HOME=/nonexistent"],
            workdir: directory)
        request.stdout = output[1]
        guard let child = try? ChildProcess.spawn(request) else {
            close(output[0])
            close(output[1])
            return nil
        }
        close(output[1])
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let deadline = MonotonicClock.now() + 10
        var finished = false
        while MonotonicClock.now() < deadline {
            guard !Poller.wait([output[0]], timeout: max(0, deadline - MonotonicClock.now())).isEmpty else { break }
            let n = chunk.withUnsafeMutableBytes { read(output[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                finished = n == 0
                break
            }
            bytes += chunk[0..<n]
            if bytes.count > 64 << 20 { break }
        }
        close(output[0])
        // At the end of its output git is exiting: wait for it. Otherwise (too slow, too much) stop it.
        if !finished { kill(child.pid, SIGKILL) }
        let status = child.wait()
        guard finished, status.exitCode == 0 else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
