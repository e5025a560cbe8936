import SluiceStore

/// How a run's steps came out, in words: `3 ok, 1 skipped of 4`, `1 ok, 2 failed of 5`.
enum StepCounts {
    /// The counts of a run summary; skipped steps are their own state, not a problem.
    static func text(_ run: RunSummary) -> String {
        var parts = ["\(run.succeeded) ok"]
        if run.cached > 0 { parts.append("\(run.cached) cached") }
        if run.skipped > 0 { parts.append("\(run.skipped) skipped") }
        if run.failed > 0 { parts.append("\(run.failed) failed") }
        let other = run.steps - run.succeeded - run.cached - run.skipped - run.failed
        if other > 0 { parts.append("\(other) \(run.state.isTerminal ? "cancelled" : "to go")") }
        return parts.joined(separator: ", ") + " of \(run.steps)"
    }

    /// The end-of-run line: `2 of 4 steps succeeded, 2 skipped`.
    static func sentence(_ run: RunSummary) -> String {
        var text = "\(run.succeeded) of \(run.steps) steps succeeded"
        if run.cached > 0 { text += ", \(run.cached) cached" }
        if run.skipped > 0 { text += ", \(run.skipped) skipped" }
        if run.failed > 0 { text += ", \(run.failed) failed" }
        return text
    }
}
