/// Right-sizing: the request to recommend from measured usage, and the rounding every suggestion shares (the
/// out-of-memory message and `sluice efficiency` name the same sizes).
public enum Sizing {
    /// Headroom added to the 95th-percentile peak memory before rounding: 20%.
    public static let memoryHeadroom = 0.2
    /// Headroom added to the 95th-percentile CPU use before rounding: 20%.
    public static let cpuHeadroom = 0.2
    /// A step whose 95th-percentile CPU use reaches this share of its request is taken as held back by it.
    public static let cpuBoundShare = 0.9

    /// Rounds memory up: to a multiple of 64 MiB below 1 GiB, to whole GiB above.
    public static func roundUpMemory(_ bytes: Int64) -> Int64 {
        let gib: Int64 = 1 << 30
        let step: Int64 = 64 << 20
        if bytes >= gib { return (bytes + gib - 1) / gib * gib }
        return max(step, (bytes + step - 1) / step * step)
    }

    /// The memory to suggest after an out-of-memory kill at `bytes`: half as much again, rounded up.
    public static func raisedMemory(above bytes: Int64) -> Int64 { roundUpMemory(bytes + bytes / 2) }

    /// `2Gi` or `576Mi`, as a step's `resources.memory` is written.
    public static func memoryText(_ bytes: Int64) -> String {
        let gib: Int64 = 1 << 30
        if bytes >= gib && bytes % gib == 0 { return "\(bytes / gib)Gi" }
        return "\((bytes + (1 << 20) - 1) >> 20)Mi"
    }

    /// The memory to request: the 95th-percentile peak plus headroom, rounded up; and after any
    /// out-of-memory kill at least what the kill's message suggested.
    public static func recommendMemory(p95Peak: Int64?, requested: Int64?, oomKills: Int) -> Int64? {
        var result = p95Peak.map { roundUpMemory(Int64((Double($0) * (1 + memoryHeadroom)).rounded(.up))) }
        if oomKills > 0, let requested {
            result = max(result ?? 0, raisedMemory(above: requested))
        }
        return result
    }

    /// The cores to request: the 95th-percentile use plus headroom, rounded up to a quarter core; the current
    /// request when the step used nearly all of it (it may be held back, so less would be slower).
    public static func recommendCPU(p95Used: Double?, requested: Double?) -> Double? {
        guard let p95Used else { return requested }
        if let requested, p95Used >= requested * cpuBoundShare { return requested }
        return max(0.25, (p95Used * (1 + cpuHeadroom) * 4).rounded(.up) / 4)
    }
}
