/// A run's lifecycle: `queued → running → succeeded | failed | cancelled`.
public enum RunState: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    /// True once the run can no longer change.
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// A step instance's lifecycle within a run.
public enum StepState: String, Sendable, Codable, CaseIterable {
    case pending, ready, running
    /// Between attempts: the last one failed and the next waits out its backoff.
    case retrying
    case succeeded, failed, skipped
    case upstreamFailed = "upstream_failed"
    case cancelled, cached

    /// True once the step can no longer change.
    public var isTerminal: Bool {
        switch self {
        case .pending, .ready, .running, .retrying: return false
        default: return true
        }
    }

    /// True for outcomes that let downstream steps run.
    public var letsDownstreamRun: Bool { self == .succeeded || self == .skipped || self == .cached }
}

/// An attempt's lifecycle: `starting → running → exited | killed | oom_killed | timed_out | failed_to_start | lost`.
public enum AttemptState: String, Sendable, Codable, CaseIterable {
    case starting, running, exited, killed
    case oomKilled = "oom_killed"
    case timedOut = "timed_out"
    case failedToStart = "failed_to_start"
    case lost
}
