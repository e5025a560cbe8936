import Foundation

/// Seconds on the monotonic clock, for durations and deadlines that wall-clock changes cannot break.
public enum MonotonicClock {
    /// Now, in seconds since an arbitrary fixed point.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
