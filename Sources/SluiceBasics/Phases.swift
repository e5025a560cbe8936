import Foundation
import Synchronization

/// Where the engine's wall time goes, phase by phase, when `SLUICE_PROFILE` is set in its environment
/// (`bench/profile.sh`): each phase's count and total, printed by `sluice run` when it ends. Off, a phase costs
/// one branch.
public enum Phases {
    /// True when `SLUICE_PROFILE` is set.
    public static let enabled = ProcessInfo.processInfo.environment["SLUICE_PROFILE"] != nil
    private static let totals = Mutex<[String: (count: Int, seconds: Double)]>([:])

    /// Runs `body`, adding its wall time to `phase`.
    @inline(__always)
    public static func measure<T, E: Error>(_ phase: String, _ body: () throws(E) -> T) throws(E) -> T {
        guard enabled else { return try body() }
        let start = MonotonicClock.now()
        defer { add(phase, seconds: MonotonicClock.now() - start) }
        return try body()
    }

    /// Adds `seconds` to `phase`.
    public static func add(_ phase: String, seconds: Double) {
        guard enabled else { return }
        totals.withLock {
            let old = $0[phase] ?? (0, 0)
            $0[phase] = (old.count + 1, old.seconds + seconds)
        }
    }

    /// The phases, slowest in all first: count, total and mean milliseconds, and the total per step of `steps`.
    public static func report(steps: Int, wallSeconds: Double) -> String {
        let all = totals.withLock { $0 }.sorted { $0.value.seconds > $1.value.seconds }
        var lines = ["where the engine's wall time went (SLUICE_PROFILE), \(steps) steps:"]
        lines.append("     count   total ms    mean ms  ms per step  phase")
        var measured = 0.0
        for (phase, value) in all {
            measured += value.seconds
            lines.append(
                String(
                    format: "  %8d %10.1f %10.3f %12.3f  ", value.count, value.seconds * 1000,
                    value.seconds * 1000 / Double(max(value.count, 1)), value.seconds * 1000 / Double(max(steps, 1)))
                    + phase)
        }
        lines.append(
            String(
                format: "           %10.1f            %12.3f  ", (wallSeconds - measured) * 1000,
                (wallSeconds - measured) * 1000 / Double(max(steps, 1))) + "the rest (the engine between phases)")
        return lines.joined(separator: "\n")
    }
}
