import SluiceModel
import SluiceSpec
import SluiceStore

/// When and whether a failed attempt is retried.
public enum RetryTiming {
    /// True when `policy.on` names how the attempt ended.
    public static func retries(_ policy: RetryPolicy, _ ending: AttemptEnding) -> Bool {
        let on = policy.on ?? RetryPolicy.standard.on ?? []
        return on.contains { kind in
            switch (kind, ending.state) {
            case (.exit(nil), .exited): return ending.exitCode != 0
            case (.exit(let code?), .exited): return ending.exitCode == code
            case (.killed, .killed), (.oomKilled, .oomKilled), (.timedOut, .timedOut),
                (.failedToStart, .failedToStart):
                return true
            default: return false
            }
        }
    }

    /// Seconds before attempt `failed + 1`: backoff doubled per retry, capped at max_backoff, then
    /// "equal jitter" (a random point in the upper half) so that steps failing together do not retry in lockstep.
    public static func delay(_ policy: RetryPolicy, afterAttempt failed: Int, random: Double) -> Double {
        let base = policy.backoff ?? RetryPolicy.standard.backoff ?? 10
        let cap = policy.maxBackoff ?? RetryPolicy.standard.maxBackoff ?? 600
        let exponential = min(cap, base * Double(1 << min(failed - 1, 30)))
        return exponential / 2 + exponential / 2 * min(max(random, 0), 1)
    }
}
