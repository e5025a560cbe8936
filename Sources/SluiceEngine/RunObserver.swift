import SluiceModel
import SluiceStore

/// Receives a run's progress, each event only after it has been committed to the database.
public protocol RunObserver: AnyObject {
    /// The run was created.
    func runStarted(runID: Int64, dag: String, steps: [String])
    /// A step changed state (other than the moves reported with attempts).
    func stepChanged(step: String, from: StepState, to: StepState)
    /// An attempt's process is running.
    func attemptStarted(step: String, attempt: Int, pid: Int32)
    /// An attempt ended, moving its step to `stepState`.
    func attemptEnded(step: String, attempt: Int, ending: AttemptEnding, stepState: StepState)
    /// Cancellation began, because of the given signal.
    func cancelling(signal: Int32)
    /// Called every `RunOptions.tickInterval` seconds while the run goes on, to refresh a live display.
    func tick()
    /// A change could not be recorded for now; the write is retried while steps keep running.
    func databaseUnavailable(_ message: String)
    /// Recording works again, after `seconds` of retrying.
    func databaseRecovered(after seconds: Double)
    /// An `on_failure`/`on_success` handler's process is running.
    func handlerStarted(name: String, pid: Int32)
    /// A handler ended (`succeeded`, `failed`, or `cancelled` by a signal).
    func handlerEnded(name: String, ending: AttemptEnding, state: StepState)
    /// The run is queued and cannot start yet (its DAG has `max_active_runs` runs going).
    func waiting(runID: Int64, reason: String)
    /// The run reached its final state.
    func runFinished(runID: Int64, state: RunState)
}

extension RunObserver {
    /// Says nothing by default.
    public func waiting(runID: Int64, reason: String) {}
}
