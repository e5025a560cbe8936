import Foundation
import SluiceBasics
import SluiceExecutor

/// A cgroup v2 tree in a temporary directory that behaves like the kernel where the code depends on it:
/// new cgroups come with their interface files, control files cannot be created by writing, enabling
/// controllers fails while the cgroup has processes, and removing a cgroup removes its files.
final class FakeCgroupTree: CgroupFiles, @unchecked Sendable {
    let root: String
    private let host = HostCgroupFiles()

    init() throws {
        root = "/tmp/sluice-fake-cgroup-\(getpid())-\(UUID().uuidString)"
        try FileSystem.makeDirectory(root)
        try populate(root, controllers: "cpu memory pids io")
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// `/proc/self/mountinfo` text with the unified hierarchy mounted at the tree's root.
    var mountinfo: String {
        """
        25 30 0:22 / /sys rw,nosuid - sysfs sysfs rw
        31 25 0:27 / \(root) rw,nosuid,nodev,noexec - cgroup2 cgroup2 rw,nsdelegate
        """
    }

    /// Writes a file as the test's stand-in for the kernel.
    func set(_ path: String, _ text: String) throws { try text.write(toFile: path, atomically: false, encoding: .utf8) }

    func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    private func populate(_ directory: String, controllers: String) throws {
        let files = [
            "cgroup.controllers": controllers, "cgroup.subtree_control": "", "cgroup.procs": "", "cgroup.kill": "",
            "memory.max": "max", "memory.swap.max": "max", "memory.oom.group": "0", "memory.peak": "0",
            "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", "cpu.max": "max 100000",
            "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n", "pids.max": "max", "pids.events": "max 0\n",
        ]
        for (name, text) in files { try set(directory + "/" + name, text) }
    }

    func makeDirectory(_ path: String) throws {
        if FileSystem.isDirectory(path) { return }
        guard mkdir(path, 0o755) == 0 else { throw SystemError("cannot create cgroup \(path)", errno: errno) }
        let parent = (path as NSString).deletingLastPathComponent
        try populate(path, controllers: contents(parent + "/cgroup.subtree_control") ?? "")
    }

    func removeDirectory(_ path: String) throws {
        if !(contents(path + "/cgroup.procs") ?? "").isEmpty {
            throw SystemError("cannot remove cgroup \(path)", errno: EBUSY)
        }
        try FileManager.default.removeItem(atPath: path)
    }

    func write(_ path: String, _ value: String) throws {
        guard FileSystem.exists(path) else { throw SystemError("cannot open \(path)", errno: ENOENT) }
        if path.hasSuffix("/cgroup.subtree_control") {
            let directory = (path as NSString).deletingLastPathComponent
            if !(contents(directory + "/cgroup.procs") ?? "").isEmpty {
                throw SystemError("cannot write '\(value)' to \(path)", errno: EBUSY)
            }
            var enabled = (contents(path) ?? "").split(separator: " ").map(String.init)
            for token in value.split(separator: " ") where token.hasPrefix("+") {
                if !enabled.contains(String(token.dropFirst())) { enabled.append(String(token.dropFirst())) }
            }
            return try set(path, enabled.joined(separator: " "))
        }
        try set(path, value)
    }

    func read(_ path: String) -> String? { path.hasPrefix(root) ? contents(path) : host.read(path) }

    func exists(_ path: String) -> Bool { FileSystem.exists(path) }

    func openForWriting(_ path: String) throws -> Int32 { try host.openForWriting(path) }

    func subdirectories(_ path: String) -> [String] { host.subdirectories(path) }

    func renameDirectory(_ path: String, to newPath: String) throws { try host.renameDirectory(path, to: newPath) }
}
