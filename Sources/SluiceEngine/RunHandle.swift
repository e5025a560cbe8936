import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceHost
import SluiceModel
import SluiceSpec

/// One run an engine drives: its plan, its machine, what runs of it now.
final class RunHandle {
    /// An attempt of a step that runs now.
    struct Active {
        let attemptID: Int64
        let number: Int
        let launch: AttemptLaunch?
        let running: RunningAttempt
        let limits: AttemptLimits
        let viaShell: Bool
        let timeout: Double?
        /// When it is to be recorded running, while it is not (see `RunOptions.runningRecordDelay`).
        var runningRecordDue: Double?
        /// When this engine started or adopted it (monotonic seconds).
        let since = MonotonicClock.now()
    }

    /// An attempt begun with a commit that did not wait for its flush: its step is held at its exec until a
    /// later commit has flushed the begin too (`Engine.releaseHeld`).
    struct Held {
        let index: Int
        let attemptID: Int64
        let gpus: [Int]
        let number: Int
        /// The state the step was launched from.
        let from: StepState
        let launch: AttemptLaunch
        let prepared: Result<PreparedAttempt, LaunchFailure>?
        let pins: StartPins?
        /// The store's reconnections when it was begun (or last found recorded): a later one may have lost it.
        var reconnections: Int
    }

    /// A handler that runs now.
    struct ActiveHandler {
        let name: String
        let stepID: Int64
        let attemptID: Int64
        let running: RunningAttempt
        let viaShell: Bool
        let timeout: Double
    }

    let runID: Int64
    let plan: RunPlan
    let keys: [String]
    let stepIDs: [Int64]
    let requests: [StepRequest]
    let parallelism: Int
    let logDirectory: SecureDirectory
    let launcher: StepLauncher
    let observer: RunObserver
    var machine: RunMachine
    var runtime: RuntimeValues
    var active: [Int: Active] = [:]
    /// Attempts begun in this turn whose commit is not flushed yet, in the order they were begun.
    var held: [Held] = []
    /// The final state, once the machine has decided it; handlers run before it is recorded.
    var outcome: RunState?
    var handlers: [HandlerSpec] = []
    var handlerKind = ""
    var nextHandler = 0
    var activeHandler: ActiveHandler?
    /// The signal that stopped the handlers, if one did.
    var interruptedBy: Int32?
    /// True once the run's end is recorded.
    var done = false
    /// Its lineage: code version, data versions, fingerprints (made when the run starts).
    var lineage: RunLineage?

    init(
        runID: Int64, plan: RunPlan, stepIDs: [Int64], parallelism: Int, logDirectory: SecureDirectory,
        launcher: StepLauncher, observer: RunObserver, machine: RunMachine, runtime: RuntimeValues,
        defaults: Resources
    ) {
        self.runID = runID
        self.plan = plan
        keys = plan.steps.map(\.key)
        self.stepIDs = stepIDs
        requests = plan.steps.map { StepRequest($0.step.resources, defaults: defaults) }
        self.parallelism = parallelism
        self.logDirectory = logDirectory
        self.launcher = launcher
        self.observer = observer
        self.machine = machine
        self.runtime = runtime
    }

    /// Remembers a finished step's state and outputs for the references of the steps after it.
    func remember(_ index: Int, _ state: StepState, outputs: [String: String]?) {
        let step = plan.steps[index]
        let done = state == .succeeded || state == .cached
        if let item = step.item {
            if done { runtime.instanceOutputs[step.step.id, default: [:]][item] = outputs ?? [:] }
        } else {
            runtime.states[step.step.id] = state.rawValue
            if done, let outputs { runtime.outputs[step.step.id] = outputs }
        }
    }

    /// True while it has something running (a step or a handler).
    var isBusy: Bool { !active.isEmpty || activeHandler != nil }
}
