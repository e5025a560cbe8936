import SluiceSpec

/// What is free on the host while a run goes on; a step starts only when its request fits. No I/O.
public struct CapacityLedger: Sendable {
    private var freeMillicores: Int
    private var freeMemory: Int64
    private var freeGPUs: [Int]
    private var held: [Int: (millicores: Int, memory: Int64, gpus: [Int])] = [:]

    /// A ledger with the whole capacity free.
    public init(_ capacity: HostCapacity) {
        freeMillicores = Int((capacity.cpus * 1000).rounded(.down))
        freeMemory = capacity.memoryBytes
        freeGPUs = Array(0..<capacity.gpus)
    }

    /// True when `request` fits in what is free now.
    public func fits(_ request: StepRequest) -> Bool {
        request.millicores <= freeMillicores && request.memoryBytes <= freeMemory && request.gpus <= freeGPUs.count
    }

    /// Takes `request` for `holder`; returns the GPU indices it was given (lowest first).
    public mutating func take(_ request: StepRequest, for holder: Int) -> [Int] {
        precondition(fits(request) && held[holder] == nil, "capacity taken twice or beyond what is free")
        let gpus = Array(freeGPUs.prefix(request.gpus))
        freeGPUs.removeFirst(request.gpus)
        freeMillicores -= request.millicores
        freeMemory -= request.memoryBytes
        held[holder] = (request.millicores, request.memoryBytes, gpus)
        return gpus
    }

    /// Gives back what `holder` took; nothing when it holds nothing.
    public mutating func release(_ holder: Int) {
        guard let taken = held.removeValue(forKey: holder) else { return }
        freeMillicores += taken.millicores
        freeMemory += taken.memory
        freeGPUs = (freeGPUs + taken.gpus).sorted()
    }
}

/// Checks that every step of a DAG fits on the host at all; `validate` and `plan` report what does not.
public enum CapacityCheck {
    /// One diagnostic per resource a step asks for beyond the host's capacity.
    public static func check(_ spec: DAGSpec, capacity: HostCapacity, config: HostConfig) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        for step in spec.steps where step.executor == .local {
            let request = StepRequest(step.resources, defaults: config.defaultResources)
            func report(_ key: String, asked: String, has: String) {
                let mark = step.resources.marks[key] ?? step.mark
                let origin =
                    capacity.sources[key] == "detected"
                    ? "detected; set capacity.\(key) in \(HostConfig.fileName) if that is wrong"
                    : "from \(capacity.sources[key] ?? HostConfig.fileName)"
                diagnostics.append(
                    Diagnostic(
                        file: step.file, mark: mark, path: "steps.\(step.id).resources.\(key)",
                        message:
                            "step \(step.id) asks for \(asked), but this host has \(has) (\(origin)); it could never start",
                        code: "over-capacity"))
            }
            if request.millicores > Int((capacity.cpus * 1000).rounded(.down)) {
                report(
                    "cpus", asked: "\(Units.formatNumber(request.cpus)) cpus",
                    has: "\(Units.formatNumber(capacity.cpus))")
            }
            if request.memoryBytes > capacity.memoryBytes {
                report(
                    "memory", asked: Units.formatBytes(request.memoryBytes) + " of memory",
                    has: Units.formatBytes(capacity.memoryBytes))
            }
            if request.gpus > capacity.gpus {
                report("gpus", asked: request.gpus == 1 ? "1 GPU" : "\(request.gpus) GPUs", has: "\(capacity.gpus)")
            }
        }
        return diagnostics
    }
}
