import SluiceStore

/// What a finished run came to.
public struct RunResult: Sendable {
    /// The run id.
    public let runID: Int64
    /// Its final state.
    public let state: RunState
    /// Each step's final state, in file order.
    public let steps: [(id: String, state: StepState)]
    /// The signal that cancelled it, if one did.
    public let cancelSignal: Int32?
}
