import SluiceStore

/// What a finished run came to.
public struct RunResult: Sendable {
    /// The run id.
    public let runID: Int64
    /// Its final state.
    public let state: RunState
}
