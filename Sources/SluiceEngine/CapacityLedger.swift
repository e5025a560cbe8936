import SluiceHost
import SluiceModel
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
