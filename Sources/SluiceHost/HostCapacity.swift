import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceSpec

/// What this host can give steps at once: CPU cores, memory and GPUs, detected or set in the configuration.
public struct HostCapacity: Sendable, Equatable, Codable {
    /// CPU cores.
    public var cpus: Double
    /// Memory in bytes.
    public var memoryBytes: Int64
    /// GPUs, indexed 0..<gpus.
    public var gpus: Int
    /// Where each figure comes from: `detected` or the configuration file's path.
    public var sources: [String: String]

    /// Creates a capacity.
    public init(cpus: Double, memoryBytes: Int64, gpus: Int, sources: [String: String] = [:]) {
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.gpus = gpus
        self.sources = sources
    }

    /// The host's figures, with the configuration's overrides applied.
    public static func resolve(_ config: HostConfig) -> HostCapacity {
        let file = config.file ?? HostConfig.fileName
        var sources: [String: String] = [:]
        func pick<T>(_ key: String, _ override: T?, _ detect: () -> T) -> T {
            sources[key] = override == nil ? "detected" : file
            return override ?? detect()
        }
        return HostCapacity(
            cpus: pick("cpus", config.capacity.cpus) { Double(ProcessInfo.processInfo.activeProcessorCount) },
            memoryBytes: pick("memory", config.capacity.memoryBytes, detectMemory),
            gpus: pick("gpus", config.capacity.gpus, detectGPUs), sources: sources)
    }

    /// MemTotal from /proc/meminfo, lowered to this process's cgroup memory limit when that is smaller.
    static func detectMemory() -> Int64 {
        var total = Int64(ProcessInfo.processInfo.physicalMemory)
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
            let kib = Int64(line.split(separator: " ").dropFirst().first ?? "")
        {
            total = kib * 1024
        }
        let layout = CgroupLayout.detect()
        var files: [String] = []
        if let unified = layout.unified { files.append(unified.ownDirectory + "/memory.max") }
        if let legacy = layout.legacy.first(where: { $0.controllers.contains("memory") }) {
            files.append(legacy.ownDirectory + "/memory.limit_in_bytes")
        }
        for file in files {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            if let limit = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) { total = min(total, limit) }
        }
        return total
    }

    /// NVIDIA GPUs the driver lists (`/proc/driver/nvidia/gpus`), else `/dev/nvidiaN` device files.
    static func detectGPUs() -> Int {
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/driver/nvidia/gpus") {
            return entries.count
        }
        let devices = (try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []
        return devices.filter { $0.hasPrefix("nvidia") && Int($0.dropFirst(6)) != nil }.count
    }
}

/// A step's request with the host defaults applied, in the units admission counts.
public struct StepRequest: Sendable, Equatable {
    /// CPU cores.
    public let cpus: Double
    /// Memory in bytes.
    public let memoryBytes: Int64
    /// GPUs.
    public let gpus: Int
    /// Most processes.
    public let maxProcesses: Int?
    /// Most open files.
    public let maxOpenFiles: Int?
    /// True when the DAG asked for memory itself.
    public let memoryRequested: Bool

    /// The step's `resources` over the configured defaults.
    public init(_ resources: Resources, defaults: Resources) {
        let merged = resources.over(defaults.over(HostConfig.standardDefaults))
        cpus = merged.cpus ?? 1
        memoryBytes = merged.memoryBytes ?? 0
        gpus = merged.gpus ?? 0
        maxProcesses = merged.maxProcesses
        maxOpenFiles = merged.maxOpenFiles
        memoryRequested = resources.memoryBytes != nil
    }

    /// CPU in thousandths of a core, so that sums are exact.
    public var millicores: Int { Int((cpus * 1000).rounded(.up)) }
}
