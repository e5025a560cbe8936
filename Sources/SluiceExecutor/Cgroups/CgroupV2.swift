import Foundation
import SluiceBasics

/// Attempt cgroups in the unified hierarchy: `memory.max` + `memory.swap.max`, `cpu.max`, `pids.max`.
public struct CgroupV2: CgroupBackend {
    /// The hierarchy.
    public let hierarchy: CgroupHierarchy
    /// Where attempt cgroups go, from `cgroup_parent`.
    public let parent: String
    /// The file accessor (the host's, or a fake tree in tests).
    public let files: CgroupFiles

    /// Creates the backend for `parent` (absolute from the mount, or relative to this process's cgroup).
    public init(hierarchy: CgroupHierarchy, parent: String, files: CgroupFiles = HostCgroupFiles()) {
        self.hierarchy = hierarchy
        self.parent = parent
        self.files = files
    }

    /// Always v2.
    public var version: CgroupVersion { .v2 }
    /// The one parent directory.
    public var parentDirectories: [String] { [Self.parentDirectory(parent, in: hierarchy).path] }
    /// The delegated controllers Sluice uses.
    public var controllers: [String] { CgroupLayout.wanted.filter(hierarchy.controllers.contains) }

    /// Creates the parent and enables the controllers at each level from the start down to it.
    ///
    /// v2 lets a cgroup hand controllers to its children only while it has no processes of its own,
    /// so a parent relative to a cgroup this process is in fails here with a message saying so.
    public func prepare() throws {
        guard !controllers.isEmpty else {
            throw SystemError("cgroup v2 at \(hierarchy.ownDirectory) has none of memory, cpu, pids delegated")
        }
        let (start, path) = Self.parentDirectory(parent, in: hierarchy)
        let enable = controllers.map { "+" + $0 }.joined(separator: " ")
        let levels = [start] + (try Self.makeLevels(from: start, to: path, files: files))
        for level in levels {
            let enabled = (files.read(level + "/cgroup.subtree_control") ?? "").split(whereSeparator: \.isWhitespace)
            if controllers.allSatisfy({ enabled.contains(Substring($0)) }) { continue }
            do {
                try files.write(level + "/cgroup.subtree_control", enable)
            } catch {
                throw SystemError(
                    "cannot enable \(controllers.joined(separator: ", ")) for the children of \(level) (\(error)); a v2 cgroup with processes in it cannot delegate controllers, so set cgroup_parent to a delegated cgroup of its own"
                )
            }
        }
    }

    /// Makes `<parent>/<name>` and writes its limits.
    public func create(name: String, limits: CgroupLimits) throws -> AttemptCgroup {
        let directory = parentDirectories[0] + "/" + name
        try files.makeDirectory(directory)
        let cgroup = AttemptCgroup(name: name, directories: [directory])
        do {
            if controllers.contains("memory") {
                try files.write(directory + "/memory.max", limits.memoryBytes.map(String.init) ?? "max")
                if files.exists(directory + "/memory.swap.max") { try files.write(directory + "/memory.swap.max", "0") }
                // One OOM kill takes the whole step down, as it would on a cluster, instead of leaving it half-dead.
                if files.exists(directory + "/memory.oom.group") {
                    try files.write(directory + "/memory.oom.group", "1")
                }
            }
            if controllers.contains("cpu") {
                let quota = limits.cpus.map { String(CgroupLimits.cpuQuota($0)) } ?? "max"
                try files.write(directory + "/cpu.max", "\(quota) \(CgroupLimits.cpuPeriod)")
            }
            if controllers.contains("pids") {
                try files.write(directory + "/pids.max", limits.maxProcesses.map(String.init) ?? "max")
            }
        } catch {
            try? files.removeDirectory(directory)
            throw error
        }
        return cgroup
    }

    /// The one `cgroup.procs`.
    public func procsFiles(_ cgroup: AttemptCgroup) -> [String] { [cgroup.directories[0] + "/cgroup.procs"] }

    /// `cpu.stat`, `memory.peak`, `memory.events` and `pids.events`.
    public func usage(_ cgroup: AttemptCgroup) -> CgroupUsage {
        let directory = cgroup.directories[0]
        let cpu = files.read(directory + "/cpu.stat")
        var usage = CgroupUsage()
        usage.userCPU = CgroupText.field(cpu, "user_usec").map { Double($0) / 1e6 }
        usage.systemCPU = CgroupText.field(cpu, "system_usec").map { Double($0) / 1e6 }
        usage.peakMemoryBytes = CgroupText.number(files.read(directory + "/memory.peak"))
        usage.oomKills = CgroupText.field(files.read(directory + "/memory.events"), "oom_kill") ?? 0
        usage.pidsLimitHits = CgroupText.field(files.read(directory + "/pids.events"), "max") ?? 0
        return usage
    }

    /// The pids in `cgroup.procs`.
    public func members(_ cgroup: AttemptCgroup) -> [pid_t] {
        CgroupText.pids(files.read(cgroup.directories[0] + "/cgroup.procs"))
    }

    /// `cgroup.kill` where the kernel has it (5.14+), else SIGKILL to each member until none is left.
    public func killAll(_ cgroup: AttemptCgroup) {
        let killFile = cgroup.directories[0] + "/cgroup.kill"
        if files.exists(killFile), (try? files.write(killFile, "1")) != nil { return }
        killMembers(cgroup)
    }

    /// Removes the directory.
    public func remove(_ cgroup: AttemptCgroup) throws { try removeDirectories(cgroup.directories, files: files) }

    /// Never on v2: `memory.peak` cannot be reset before kernel 6.12 (and then only for the descriptor that
    /// wrote it), so a reused cgroup would report an earlier attempt's peak.
    public func recycle(_ cgroup: AttemptCgroup) -> Bool { false }

    /// Not on v2 (nothing is recycled).
    public func reuse(_ cgroup: AttemptCgroup, limits: CgroupLimits) throws {
        throw SystemError("cgroup v2 cgroups are not reused")
    }
}
