import Foundation
import SluiceBasics

/// The limits one attempt's cgroup enforces; nil leaves a resource unlimited.
public struct CgroupLimits: Sendable, Equatable {
    /// Memory, swap excluded (the step gets no swap).
    public var memoryBytes: Int64?
    /// CPU cores as a quota per period.
    public var cpus: Double?
    /// Most processes and threads.
    public var maxProcesses: Int?

    /// Creates limits.
    public init(memoryBytes: Int64? = nil, cpus: Double? = nil, maxProcesses: Int? = nil) {
        self.memoryBytes = memoryBytes
        self.cpus = cpus
        self.maxProcesses = maxProcesses
    }

    /// The CFS period, in microseconds, that a CPU quota is given against: the kernel's default for a new cgroup.
    static let cpuPeriod = 100_000

    /// The quota in microseconds per period for `cpus` (at least the kernel's minimum of 1 ms).
    static func cpuQuota(_ cpus: Double) -> Int { max(1000, Int((cpus * Double(cpuPeriod)).rounded())) }
}

/// One attempt's cgroup: a directory per hierarchy (one on v2).
public struct AttemptCgroup: Sendable, Equatable {
    /// Its name under the parent.
    public let name: String
    /// Its directories.
    public let directories: [String]
}

/// What a cgroup's accounting says the attempt used; nil where the host does not account it.
public struct CgroupUsage: Sendable, Equatable {
    /// User CPU seconds of every process in the cgroup.
    public var userCPU: Double?
    /// System CPU seconds of every process in the cgroup.
    public var systemCPU: Double?
    /// Peak memory in bytes.
    public var peakMemoryBytes: Int64?
    /// How many processes the OOM killer killed.
    public var oomKills: Int64 = 0
    /// How many forks failed at the pids limit.
    public var pidsLimitHits: Int64 = 0
}

/// A cgroup interface (v1 or v2) that can make, measure, empty and remove attempt cgroups.
public protocol CgroupBackend: Sendable {
    /// Which interface this is.
    var version: CgroupVersion { get }
    /// The parent directories attempt cgroups are made in.
    var parentDirectories: [String] { get }
    /// The file system it works through.
    var files: CgroupFiles { get }
    /// The controllers it enforces with (`memory`, `cpu`, `pids`).
    var controllers: [String] { get }
    /// Creates the parents and enables what they need; throws when this host does not let us.
    func prepare() throws
    /// Creates an attempt's cgroup with its limits written.
    func create(name: String, limits: CgroupLimits) throws -> AttemptCgroup
    /// The `cgroup.procs` files a child writes itself into.
    func procsFiles(_ cgroup: AttemptCgroup) -> [String]
    /// What the cgroup's accounting says.
    func usage(_ cgroup: AttemptCgroup) -> CgroupUsage
    /// The pids still in the cgroup.
    func members(_ cgroup: AttemptCgroup) -> [pid_t]
    /// Kills every process in the cgroup.
    func killAll(_ cgroup: AttemptCgroup)
    /// Removes the cgroup; throws if it could not be removed.
    func remove(_ cgroup: AttemptCgroup) throws
    /// Makes an ended attempt's emptied cgroup ready for another attempt (what it used reset or reclaimed);
    /// false when this interface cannot, or the cgroup is not clean: then it is removed instead.
    func recycle(_ cgroup: AttemptCgroup) -> Bool
    /// Writes `limits` (every one: set, or back to unlimited) to a recycled cgroup.
    func reuse(_ cgroup: AttemptCgroup, limits: CgroupLimits) throws
}

extension CgroupBackend {
    /// The attempt cgroups under the parents named with `tag` (`run<id>-<step>.<attempt>-<tag>-<pid>-<n>`) and
    /// made by a process that no longer runs, with their runs' ids. Whether they are empty is not looked at:
    /// only an empty one can be removed (`removeIfEmpty`).
    func orphans(tag: String) -> [(cgroup: AttemptCgroup, runID: Int64)] {
        var names = Set<String>()
        for parent in parentDirectories { names.formUnion(files.subdirectories(parent)) }
        return names.sorted().compactMap { name in
            guard let parsed = Self.parseAttemptName(name), parsed.tag == tag, parsed.creator != getpid(),
                kill(parsed.creator, 0) != 0 && errno == ESRCH
            else { return nil }
            return (AttemptCgroup(name: name, directories: parentDirectories.map { $0 + "/" + name }), parsed.runID)
        }
    }

    /// The run id, database tag and creating process of an attempt cgroup's name; nil for any other name.
    static func parseAttemptName(_ name: String) -> (runID: Int64, tag: Substring, creator: pid_t)? {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 5, parts[0].hasPrefix("run"), let runID = Int64(parts[0].dropFirst(3)),
            let creator = pid_t(parts[parts.count - 2]), creator > 0, Int(parts[parts.count - 1]) != nil
        else { return nil }
        return (runID, parts[parts.count - 3], creator)
    }

    /// Gives a cgroup a new name under its parents (a reused one is named for the attempt it now holds: its run,
    /// for the leftover sweep's check, and for whoever reads the records). On failure, what was renamed is put
    /// back and the error thrown.
    func rename(_ cgroup: AttemptCgroup, to name: String) throws -> AttemptCgroup {
        var renamed: [(from: String, to: String)] = []
        for directory in cgroup.directories {
            let target = (directory as NSString).deletingLastPathComponent + "/" + name
            do {
                try files.renameDirectory(directory, to: target)
            } catch {
                for done in renamed.reversed() { try? files.renameDirectory(done.to, to: done.from) }
                throw error
            }
            renamed.append((directory, target))
        }
        return AttemptCgroup(name: name, directories: renamed.map(\.to))
    }

    /// Removes the cgroup if it has no member (a plain `rmdir` per directory, which the kernel refuses while
    /// any process is in it); true when it is gone.
    func removeIfEmpty(_ cgroup: AttemptCgroup) -> Bool {
        var gone = true
        for directory in cgroup.directories.reversed() where (try? files.removeDirectory(directory)) == nil {
            gone = false
        }
        return gone
    }

    /// Sends SIGKILL to every member until none is left (or a bounded number of rounds has passed).
    func killMembers(_ cgroup: AttemptCgroup) {
        for _ in 0..<1000 {
            let pids = members(cgroup)
            if pids.isEmpty { return }
            for pid in pids { kill(pid, SIGKILL) }
            sched_yield()
        }
    }

    /// Removes directories, retrying while the kernel still counts exiting members (EBUSY).
    func removeDirectories(_ directories: [String], files: CgroupFiles) throws {
        for directory in directories {
            var attempt = 0
            while true {
                do {
                    try files.removeDirectory(directory)
                    break
                } catch {
                    attempt += 1
                    if attempt >= 200 { throw error }
                    killMembers(AttemptCgroup(name: "", directories: [directory]))
                    usleep(1000)
                }
            }
        }
    }

    /// `cgroup_parent` resolved inside a hierarchy: absolute from its mount, relative to this process's cgroup.
    static func parentDirectory(_ parent: String, in hierarchy: CgroupHierarchy) -> (start: String, path: String) {
        let start = parent.hasPrefix("/") ? hierarchy.mountPoint : hierarchy.ownDirectory
        return (start, CgroupLayout.join(start, parent))
    }

    /// Creates each directory from `start` (exclusive) down to `path`.
    static func makeLevels(from start: String, to path: String, files: CgroupFiles) throws -> [String] {
        var levels: [String] = []
        var current = start
        for component in path.dropFirst(start.count).split(separator: "/") {
            current += "/" + component
            try files.makeDirectory(current)
            levels.append(current)
        }
        return levels
    }
}
