import Foundation
import SluiceBasics

/// Attempt cgroups in the v1 hierarchies: `memory` (+ `memsw`, no swap), `cpu` CFS quota, `cpuacct`, `pids`.
public struct CgroupV1: CgroupBackend {
    /// The hierarchies used, one per mount, each with the controllers Sluice wants from it.
    public let hierarchies: [CgroupHierarchy]
    /// Where attempt cgroups go, from `cgroup_parent`.
    public let parent: String
    /// The file accessor (the host's, or a fake tree in tests).
    public let files: CgroupFiles

    /// The controllers taken from v1: the enforcing ones plus `cpuacct` for CPU accounting.
    static let used = CgroupLayout.wanted + ["cpuacct"]

    /// Creates the backend over the layout's v1 hierarchies that carry a controller Sluice uses.
    public init(layout: CgroupLayout, parent: String, files: CgroupFiles = HostCgroupFiles()) {
        hierarchies = layout.legacy.filter { !Set($0.controllers).isDisjoint(with: Self.used) }
        self.parent = parent
        self.files = files
    }

    /// Always v1.
    public var version: CgroupVersion { .v1 }
    /// One parent per hierarchy.
    public var parentDirectories: [String] { hierarchies.map { Self.parentDirectory(parent, in: $0).path } }
    /// The enforcing controllers present.
    public var controllers: [String] {
        CgroupLayout.wanted.filter { c in hierarchies.contains { $0.controllers.contains(c) } }
    }

    /// Creates the parent in every hierarchy.
    public func prepare() throws {
        guard !controllers.isEmpty else { throw SystemError("no v1 hierarchy carries memory, cpu or pids") }
        for hierarchy in hierarchies {
            let (start, path) = Self.parentDirectory(parent, in: hierarchy)
            _ = try Self.makeLevels(from: start, to: path, files: files)
        }
    }

    /// Makes `<parent>/<name>` in each hierarchy and writes its limits.
    public func create(name: String, limits: CgroupLimits) throws -> AttemptCgroup {
        var made: [String] = []
        do {
            for (hierarchy, parentDirectory) in zip(hierarchies, parentDirectories) {
                let directory = parentDirectory + "/" + name
                try files.makeDirectory(directory)
                made.append(directory)
                let has = hierarchy.controllers.contains
                if has("memory"), let bytes = limits.memoryBytes {
                    try files.write(directory + "/memory.limit_in_bytes", String(bytes))
                    // Memory plus swap at the same figure: the step gets no swap.
                    if files.exists(directory + "/memory.memsw.limit_in_bytes") {
                        try files.write(directory + "/memory.memsw.limit_in_bytes", String(bytes))
                    }
                }
                if has("cpu"), let cpus = limits.cpus {
                    // A new cgroup's period is the kernel's default, 100 ms, which is Sluice's: only the quota
                    // is written (each write of either takes the scheduler's bandwidth lock).
                    try files.write(directory + "/cpu.cfs_quota_us", String(CgroupLimits.cpuQuota(cpus)))
                }
                if has("pids"), let most = limits.maxProcesses {
                    try files.write(directory + "/pids.max", String(most))
                }
            }
        } catch {
            for directory in made { try? files.removeDirectory(directory) }
            throw error
        }
        return AttemptCgroup(name: name, directories: made)
    }

    /// Each hierarchy's `cgroup.procs`.
    public func procsFiles(_ cgroup: AttemptCgroup) -> [String] { cgroup.directories.map { $0 + "/cgroup.procs" } }

    /// `cpuacct.usage_user/_sys`, `memory.max_usage_in_bytes`, the `oom_kill` count and `pids.events`.
    public func usage(_ cgroup: AttemptCgroup) -> CgroupUsage {
        var usage = CgroupUsage()
        for (hierarchy, directory) in zip(hierarchies, cgroup.directories) {
            let has = hierarchy.controllers.contains
            if has("cpuacct") {
                (usage.userCPU, usage.systemCPU) = Self.cpuSeconds(
                    total: CgroupText.number(files.read(directory + "/cpuacct.usage")),
                    user: CgroupText.number(files.read(directory + "/cpuacct.usage_user")),
                    system: CgroupText.number(files.read(directory + "/cpuacct.usage_sys")))
            }
            if has("memory") {
                usage.peakMemoryBytes = CgroupText.number(files.read(directory + "/memory.max_usage_in_bytes"))
                usage.oomKills = CgroupText.field(files.read(directory + "/memory.oom_control"), "oom_kill") ?? 0
            }
            if has("pids") {
                usage.pidsLimitHits = CgroupText.field(files.read(directory + "/pids.events"), "max") ?? 0
            }
        }
        return usage
    }

    /// User and system CPU seconds from `cpuacct` (nanoseconds). `cpuacct.usage` is exact, while `usage_user` and
    /// `usage_sys` are counted in scheduler ticks (4 ms at 250 Hz): a step of a millisecond could show four of
    /// CPU. So the exact total is split in their proportion.
    public static func cpuSeconds(total: Int64?, user: Int64?, system: Int64?) -> (user: Double?, system: Double?) {
        guard let total else { return (user.map { Double($0) / 1e9 }, system.map { Double($0) / 1e9 }) }
        let ticked = max(user ?? 0, 0) + max(system ?? 0, 0)
        let userShare = ticked > 0 ? Double(max(user ?? 0, 0)) / Double(ticked) : 1
        let seconds = Double(total) / 1e9
        return (seconds * userShare, seconds * (1 - userShare))
    }

    /// The pids in any hierarchy's `cgroup.procs` (the child joined them all).
    public func members(_ cgroup: AttemptCgroup) -> [pid_t] {
        Array(Set(cgroup.directories.flatMap { CgroupText.pids(files.read($0 + "/cgroup.procs")) })).sorted()
    }

    /// SIGKILL to each member until none is left (v1 has no `cgroup.kill`).
    public func killAll(_ cgroup: AttemptCgroup) { killMembers(cgroup) }

    /// Removes the directory in each hierarchy.
    public func remove(_ cgroup: AttemptCgroup) throws { try removeDirectories(cgroup.directories, files: files) }

    /// Most memory an ended attempt may leave charged to its cgroup (page cache: the files it read or wrote) for
    /// the cgroup to be reused. The next attempt's peak can include it, so a reused cgroup may report up to
    /// this much more than a fresh one would; a cgroup holding more is removed instead. (Reclaiming it first,
    /// `memory.force_empty`, costs 0.28 ms, more than a new cgroup; a short step leaves 0.15–0.55 MiB.)
    static let recyclableMemory: Int64 = 1 << 20

    /// Readies a clean cgroup for another attempt: no member, no OOM kill and no fork refused at the pids
    /// limit on record (counters that cannot be reset), at most `recyclableMemory` charged. Its peak
    /// (`memory.max_usage_in_bytes`) and CPU (`cpuacct.usage`) are reset.
    public func recycle(_ cgroup: AttemptCgroup) -> Bool {
        guard members(cgroup).isEmpty else { return false }
        for (hierarchy, directory) in zip(hierarchies, cgroup.directories) {
            let has = hierarchy.controllers.contains
            if has("memory") {
                guard CgroupText.field(files.read(directory + "/memory.oom_control"), "oom_kill") == 0,
                    let charged = CgroupText.number(files.read(directory + "/memory.usage_in_bytes")),
                    charged <= Self.recyclableMemory,
                    (try? files.write(directory + "/memory.max_usage_in_bytes", "0")) != nil
                else { return false }
            }
            if has("pids"), CgroupText.field(files.read(directory + "/pids.events"), "max") != 0 { return false }
            if has("cpuacct"), (try? files.write(directory + "/cpuacct.usage", "0")) == nil { return false }
        }
        return true
    }

    /// Writes every limit; memory and swap go through unlimited first (the swap limit may never be below the
    /// memory limit, whichever way they move).
    public func reuse(_ cgroup: AttemptCgroup, limits: CgroupLimits) throws {
        for (hierarchy, directory) in zip(hierarchies, cgroup.directories) {
            let has = hierarchy.controllers.contains
            if has("memory") {
                let bytes = limits.memoryBytes.map(String.init) ?? "-1"
                let swap = directory + "/memory.memsw.limit_in_bytes"
                let hasSwap = files.exists(swap)
                if hasSwap { try files.write(swap, "-1") }
                try files.write(directory + "/memory.limit_in_bytes", bytes)
                if hasSwap { try files.write(swap, bytes) }
            }
            if has("cpu") {
                try files.write(
                    directory + "/cpu.cfs_quota_us", limits.cpus.map { String(CgroupLimits.cpuQuota($0)) } ?? "-1")
            }
            if has("pids") { try files.write(directory + "/pids.max", limits.maxProcesses.map(String.init) ?? "max") }
        }
    }
}
