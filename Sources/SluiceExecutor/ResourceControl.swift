import Foundation
import SluiceBasics

/// Whether attempts get cgroups.
public enum CgroupMode: String, Sendable, CaseIterable, Codable {
    /// Use cgroups (v2 if delegated, else v1) when this host lets us; rlimits otherwise.
    case auto
    /// Never; rlimits only.
    case off
}

/// What one attempt is limited to, after defaults are applied.
public struct AttemptLimits: Sendable, Equatable {
    /// CPU cores.
    public var cpus: Double?
    /// Memory in bytes.
    public var memoryBytes: Int64?
    /// True when the DAG asked for the memory itself (the rlimit fallback enforces only those).
    public var memoryRequested: Bool
    /// Most processes and threads.
    public var maxProcesses: Int?
    /// Most open files.
    public var maxOpenFiles: Int?

    /// Creates limits.
    public init(
        cpus: Double? = nil, memoryBytes: Int64? = nil, memoryRequested: Bool = false, maxProcesses: Int? = nil,
        maxOpenFiles: Int? = nil
    ) {
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.memoryRequested = memoryRequested
        self.maxProcesses = maxProcesses
        self.maxOpenFiles = maxOpenFiles
    }
}

/// How one resource is enforced on this host, for `sluice doctor` and the run records.
public struct EnforcementLine: Sendable, Codable, Equatable {
    /// The resource: `memory`, `cpus`, `max_processes`, `max_open_files`, `timeout`, `usage`.
    public let resource: String
    /// The mechanism, or `not enforced`.
    public let mechanism: String
    /// True when the limit is enforced.
    public let enforced: Bool
}

/// The enforcement in effect: a prepared cgroup backend, or rlimits with the reason cgroups are not used.
public struct ResourceControl: Sendable {
    /// The cgroup backend; nil when only rlimits apply.
    public let backend: (any CgroupBackend)?
    /// Why there is no backend.
    public let fallbackReason: String?
    /// What the host has.
    public let layout: CgroupLayout

    /// Detects the host's cgroups and prepares the parent; falls back to rlimits, saying why, when that fails.
    public static func setUp(mode: CgroupMode, parent: String, files: CgroupFiles = HostCgroupFiles())
        -> ResourceControl
    {
        let layout = CgroupLayout.detect(files: files)
        if mode == .off {
            return ResourceControl(backend: nil, fallbackReason: "cgroups are off in the configuration", layout: layout)
        }
        let backend: any CgroupBackend
        switch layout.preferredVersion {
        case .v2?: backend = CgroupV2(hierarchy: layout.unified!, parent: parent, files: files)
        case .v1?: backend = CgroupV1(layout: layout, parent: parent, files: files)
        case nil:
            return ResourceControl(
                backend: nil, fallbackReason: "no cgroup hierarchy offers memory, cpu or pids", layout: layout)
        }
        do {
            try backend.prepare()
            return ResourceControl(backend: backend, fallbackReason: nil, layout: layout)
        } catch {
            return ResourceControl(backend: nil, fallbackReason: "\(error)", layout: layout)
        }
    }

    /// Rlimits only, without looking at the host (for tests and tools that start no steps).
    public static let rlimitsOnly = ResourceControl(
        backend: nil, fallbackReason: "cgroups are off in the configuration",
        layout: CgroupLayout(unified: nil, legacy: []))

    /// One word for the run records: `cgroup v1`, `cgroup v2` or `rlimit`.
    public var summary: String { backend.map { "cgroup \($0.version.rawValue)" } ?? "rlimit" }

    /// How each resource is enforced.
    public var enforcement: [EnforcementLine] {
        let has = { (controller: String) in backend?.controllers.contains(controller) == true }
        let cgroup = summary
        var lines: [EnforcementLine] = []
        if has("memory") {
            let files = backend?.version == .v2 ? "memory.max, swap 0" : "memory.limit_in_bytes and memsw, no swap"
            lines.append(.init(resource: "memory", mechanism: "\(cgroup) (\(files))", enforced: true))
        } else {
            lines.append(
                .init(
                    resource: "memory", mechanism: "RLIMIT_AS on requested memory (virtual memory, stricter than RSS)",
                    enforced: true))
        }
        lines.append(
            has("cpu")
                ? .init(resource: "cpus", mechanism: "\(cgroup) CPU quota", enforced: true)
                : .init(resource: "cpus", mechanism: "not enforced (admission only)", enforced: false))
        lines.append(
            has("pids")
                ? .init(resource: "max_processes", mechanism: "\(cgroup) pids limit", enforced: true)
                : .init(
                    resource: "max_processes", mechanism: "RLIMIT_NPROC (counts every process of the user)",
                    enforced: true))
        lines.append(.init(resource: "max_open_files", mechanism: "RLIMIT_NOFILE", enforced: true))
        lines.append(.init(resource: "timeout", mechanism: "engine: SIGTERM, grace period, SIGKILL", enforced: true))
        lines.append(
            .init(
                resource: "process tree",
                mechanism: backend == nil ? "process group" : "process group and \(cgroup) membership",
                enforced: true))
        lines.append(
            .init(
                resource: "usage", mechanism: backend == nil ? "wait4 rusage" : "\(cgroup) accounting", enforced: true))
        return lines
    }

    /// The rlimits a child sets for these limits: open files always; memory and processes without a cgroup.
    public func rlimits(for limits: AttemptLimits) -> [ResourceLimit] {
        var result: [ResourceLimit] = []
        if let files = limits.maxOpenFiles {
            result.append(ResourceLimit(resource: Int32(RLIMIT_NOFILE.rawValue), value: UInt64(files)))
        }
        if backend?.controllers.contains("memory") != true, limits.memoryRequested, let bytes = limits.memoryBytes {
            result.append(ResourceLimit(resource: Int32(RLIMIT_AS.rawValue), value: UInt64(bytes)))
        }
        if backend?.controllers.contains("pids") != true, let most = limits.maxProcesses {
            result.append(ResourceLimit(resource: Int32(__RLIMIT_NPROC.rawValue), value: UInt64(most)))
        }
        return result
    }
}
