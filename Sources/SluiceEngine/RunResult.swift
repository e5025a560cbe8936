import SluiceModel
import SluiceStore

/// What a finished run came to.
public struct RunResult: Sendable {
    /// The run id.
    public let runID: Int64
    /// Its final state.
    public let state: RunState
    /// The signal that interrupted its handlers, if one did (the run itself had already ended).
    public let interruptedBy: Int32?

    /// Creates a result.
    public init(runID: Int64, state: RunState, interruptedBy: Int32? = nil) {
        self.runID = runID
        self.state = state
        self.interruptedBy = interruptedBy
    }
}
