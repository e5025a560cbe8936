import SluiceModel
import SluiceSpec

/// The logic of one run as a value: events in, actions out, no I/O.
///
/// The driver performs the actions (records, launches, signals, timers) and reports back what happened.
/// Time is passed in with every event and randomness comes from an injected source, so retries and their
/// backoff are tested without sleeping. A machine can be rebuilt from the recorded rows of a run
/// (`rebuilt(...)`), which is how a run is resumed or adopted after a crash.
public struct RunMachine: Sendable {
    /// What the machine needs to know about one step instance.
    public struct Step: Sendable, Equatable {
        /// The instance key, for messages.
        public let key: String
        /// Indices of the instances it waits for.
        public let needs: [Int]
        /// How failed attempts are retried.
        public let retries: RetryPolicy

        /// Creates a step.
        public init(key: String, needs: [Int], retries: RetryPolicy = .standard) {
            self.key = key
            self.needs = needs
            self.retries = retries
        }
    }

    /// One step's change of state, with what to record about it.
    public struct Change: Sendable, Equatable {
        /// The step.
        public let step: Int
        /// The state it leaves.
        public let from: StepState
        /// The state it enters.
        public let to: StepState
        /// Why (a failure, a skip, the retry to come).
        public let message: String?
        /// For `retrying`: seconds until the next attempt.
        public let retryDelay: Double?

        /// Creates a change.
        public init(step: Int, from: StepState, to: StepState, message: String? = nil, retryDelay: Double? = nil) {
            self.step = step
            self.from = from
            self.to = to
            self.message = message
            self.retryDelay = retryDelay
        }
    }

    /// What the driver does next.
    public enum Action: Sendable, Equatable {
        /// Record these step changes (one statement).
        case record([Change])
        /// Record how attempt `attempt` of `step` ended, with the step changes that follow, in one statement.
        case recordEnd(step: Int, attempt: Int, ending: AttemptEnding, changes: [Change])
        /// Stop the running attempts: gracefully (SIGTERM, SIGKILL after the grace period) or at once.
        case stopRunning(now: Bool)
        /// Record the run's final state; nothing follows.
        case finish(RunState)
    }

    /// Why a ready step will not be launched.
    public enum Settlement: Sendable, Equatable {
        /// Its `when` is false.
        case skipped(String)
        /// It cannot be resolved (a missing upstream output, a secret that cannot be read).
        case failed(String)
        /// An earlier attempt with the same fingerprint did its work, and its outputs are still there.
        case cached(String)
    }

    /// The steps, in file order.
    public let steps: [Step]
    /// Each step's state.
    public private(set) var states: [StepState]
    /// Attempts started per step.
    public private(set) var attempts: [Int]
    /// Attempts per step that never started (their engine stopped first): they do not count against retries.
    public private(set) var neverStarted: [Int]
    /// When each retrying step's next attempt is due.
    public private(set) var retryDue: [Int: Double] = [:]
    /// True once the run is being cancelled: nothing new starts.
    public private(set) var cancelling = false
    /// True once the run's end was handed out (`finish`).
    public private(set) var finished = false

    private let dependents: [[Int]]
    private var unmet: [Int]
    /// Steps waiting to be launched, in the order they became ready (or due).
    private var queue: [Int] = []
    private var queueStart = 0
    private var random: @Sendable () -> Double

    /// A machine for `steps`, all pending; `random` gives numbers in 0...1 for the retry jitter.
    public init(steps: [Step], random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }) {
        self.steps = steps
        self.random = random
        states = Array(repeating: .pending, count: steps.count)
        attempts = Array(repeating: 0, count: steps.count)
        neverStarted = Array(repeating: 0, count: steps.count)
        var dependents = [[Int]](repeating: [], count: steps.count)
        for (i, step) in steps.enumerated() { for d in Set(step.needs) { dependents[d].append(i) } }
        self.dependents = dependents
        unmet = steps.map { Set($0.needs).count }
    }

    /// A machine in the state the records show: step states, attempts made, and when retries are due.
    ///
    /// Steps recorded `running` stay running (their attempts are adopted or found ended by the driver);
    /// `ready` and `retrying` steps are queued for launch again (a retry when it is due).
    public static func rebuilt(
        steps: [Step], states: [StepState], attempts: [Int], neverStarted: [Int]? = nil, retryDue: [Int: Double],
        cancelling: Bool, random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) -> RunMachine {
        var machine = RunMachine(steps: steps, random: random)
        machine.states = states
        machine.attempts = attempts
        machine.neverStarted = neverStarted ?? Array(repeating: 0, count: steps.count)
        machine.retryDue = retryDue
        machine.cancelling = cancelling
        for (i, step) in steps.enumerated() {
            machine.unmet[i] = Set(step.needs).filter { !states[$0].letsDownstreamRun }.count
        }
        for i in states.indices where states[i] == .ready || states[i] == .retrying { machine.queue.append(i) }
        return machine
    }

    /// Moves every step with nothing to wait for to `ready`.
    public mutating func start() -> [Action] {
        let changes = unmet.indices.filter { unmet[$0] == 0 && states[$0] == .pending }.map { makeReady($0) }
        return finishIfDone(changes.isEmpty ? [] : [.record(changes)])
    }

    /// The next step to launch, in the order steps became ready or due; nil when none is waiting.
    public func nextToLaunch() -> Int? {
        guard !cancelling else { return nil }
        var cursor = queueStart
        while cursor < queue.count {
            let step = queue[cursor]
            if states[step] == .ready || (states[step] == .retrying && retryDue[step] == nil) { return step }
            cursor += 1
        }
        return nil
    }

    /// The attempt number the next launch of `step` gets.
    public func nextAttempt(of step: Int) -> Int { attempts[step] + 1 }

    /// The state a step leaves when it is launched (`ready` for a first attempt, `retrying` after one).
    public func launchState(of step: Int) -> StepState { states[step] }

    /// The driver launched `step` (recorded its attempt `running`): it leaves the queue.
    public mutating func launched(_ step: Int) {
        precondition(states[step] == .ready || states[step] == .retrying, "step \(step) launched from \(states[step])")
        dequeue(step)
        attempts[step] += 1
        states[step] = .running
    }

    /// The driver takes `step`'s launch back (its recorded start was lost with the database server before its
    /// command ran): it is in the state it was launched from again, first in the queue.
    public mutating func unlaunched(_ step: Int, from: StepState) {
        precondition(states[step] == .running && attempts[step] > 0, "step \(step) unlaunched from \(states[step])")
        precondition(from == .ready || from == .retrying, "step \(step) unlaunched to \(from)")
        attempts[step] -= 1
        states[step] = from
        queue.insert(step, at: queueStart)
    }

    /// Whether a step other than `step` waits to be launched now.
    public func waitsToLaunch(besides step: Int) -> Bool {
        guard !cancelling else { return false }
        for cursor in queueStart..<queue.count where queue[cursor] != step {
            let other = queue[cursor]
            if states[other] == .ready || (states[other] == .retrying && retryDue[other] == nil) { return true }
        }
        return false
    }

    /// A ready step will not run: its `when` is false (`skipped`), or it cannot be resolved (`failed`).
    public mutating func settle(_ step: Int, _ settlement: Settlement) -> [Action] {
        precondition(states[step] == .ready || states[step] == .retrying, "step \(step) settled from \(states[step])")
        dequeue(step)
        retryDue[step] = nil
        let (final, message): (StepState, String) =
            switch settlement {
            case .skipped(let why): (.skipped, why)
            case .failed(let why): (.failed, why)
            case .cached(let why): (.cached, why)
            }
        var changes = [move(step, to: final, message: message)]
        changes += downstream(of: step, final: final)
        return finishIfDone([.record(changes)])
    }

    /// An attempt ended; decides the step's end or its retry, and what follows downstream.
    public mutating func attemptEnded(_ step: Int, ending: AttemptEnding, now: Double) -> [Action] {
        precondition(states[step] == .running, "attempt of step \(step) ended while it was \(states[step])")
        let number = attempts[step]
        let counted = number - neverStarted[step]
        let policy = steps[step].retries
        if !ending.succeeded && !cancelling && counted < (policy.attempts ?? 1) && RetryTiming.retries(policy, ending) {
            let delay = RetryTiming.delay(policy, afterAttempt: counted, random: random())
            let outcome = ending.message ?? "attempt \(number) ended \(ending.state.rawValue)"
            let message =
                "\(outcome); retrying in \(Units.formatDuration(delay.rounded(.up))) (attempt \(counted + 1) of \(policy.attempts ?? 1))"
            states[step] = .retrying
            retryDue[step] = now + delay
            queue.append(step)
            return [
                .recordEnd(
                    step: step, attempt: number, ending: ending,
                    changes: [Change(step: step, from: .running, to: .retrying, message: message, retryDelay: delay)])
            ]
        }
        let final: StepState = ending.succeeded ? .succeeded : (cancelling ? .cancelled : .failed)
        var changes = [move(step, to: final, message: ending.message)]
        changes += downstream(of: step, final: final)
        return finishIfDone([.recordEnd(step: step, attempt: number, ending: ending, changes: changes)])
    }

    /// The step's attempt never started (its engine stopped between recording it and starting its watcher):
    /// it is recorded as it was and the step is started again at once, whatever its retry policy says.
    public mutating func attemptNeverStarted(_ step: Int, ending: AttemptEnding) -> [Action] {
        precondition(states[step] == .running, "attempt of step \(step) ended while it was \(states[step])")
        neverStarted[step] += 1
        if cancelling {
            var changes = [move(step, to: .cancelled, message: ending.message)]
            changes += downstream(of: step, final: .cancelled)
            return finishIfDone([.recordEnd(step: step, attempt: attempts[step], ending: ending, changes: changes)])
        }
        states[step] = .retrying
        queue.append(step)
        return [
            .recordEnd(
                step: step, attempt: attempts[step], ending: ending,
                changes: [
                    Change(
                        step: step, from: .running, to: .retrying,
                        message: "\(ending.message ?? "never started"); starting it",
                        retryDelay: 0)
                ])
        ]
    }

    /// The earliest moment a retry is due, for the driver's timer.
    public var nextWake: Double? { cancelling ? nil : retryDue.values.min() }

    /// Time has come to `now`: retries that are due become launchable.
    public mutating func tick(now: Double) {
        for (step, due) in retryDue where due <= now { retryDue[step] = nil }
    }

    /// Cancels the run: steps not started are cancelled, retries waiting are cancelled, running ones are stopped.
    public mutating func cancel() -> [Action] {
        guard !cancelling else { return [.stopRunning(now: true)] }
        cancelling = true
        var changes: [Change] = []
        for i in states.indices where states[i] == .pending || states[i] == .ready || states[i] == .retrying {
            let message = states[i] == .retrying ? "the run was cancelled before its next attempt" : nil
            changes.append(move(i, to: .cancelled, message: message))
            retryDue[i] = nil
        }
        var actions: [Action] = changes.isEmpty ? [] : [.record(changes)]
        if states.contains(.running) { actions.append(.stopRunning(now: false)) }
        return finishIfDone(actions)
    }

    /// True when no step can change any more.
    public var isComplete: Bool { states.allSatisfy(\.isTerminal) }

    /// The run's final state: cancelled if anything was cancelled, failed if anything failed, else succeeded.
    public var outcome: RunState {
        if !isComplete { return .running }
        if states.contains(.cancelled) { return .cancelled }
        if states.contains(where: { $0 == .failed || $0 == .upstreamFailed }) { return .failed }
        return .succeeded
    }

    /// Steps running now.
    public var running: [Int] { states.indices.filter { states[$0] == .running } }

    private mutating func finishIfDone(_ actions: [Action]) -> [Action] {
        guard isComplete, !finished else { return actions }
        finished = true
        return actions + [.finish(outcome)]
    }

    private mutating func makeReady(_ step: Int) -> Change {
        queue.append(step)
        return move(step, to: .ready)
    }

    private mutating func dequeue(_ step: Int) {
        if let index = queue[queueStart...].firstIndex(of: step) { queue.remove(at: index) }
        while queueStart < queue.count && states[queue[queueStart]].isTerminal { queueStart += 1 }
    }

    /// What a step's end means for the steps after it: ready when all they need let them run, else
    /// `upstream_failed` all the way down (a cancelled step leaves them to be cancelled).
    private mutating func downstream(of step: Int, final: StepState) -> [Change] {
        var changes: [Change] = []
        if final.letsDownstreamRun {
            for next in dependents[step] {
                unmet[next] -= 1
                if unmet[next] == 0 && states[next] == .pending { changes.append(makeReady(next)) }
            }
        } else if final != .cancelled {
            var stack = dependents[step]
            var failed: [Change] = []
            while let next = stack.popLast() {
                guard states[next] == .pending else { continue }
                failed.append(move(next, to: .upstreamFailed))
                stack.append(contentsOf: dependents[next])
            }
            changes += failed.sorted { $0.step < $1.step }
        }
        return changes
    }

    private mutating func move(_ step: Int, to state: StepState, message: String? = nil) -> Change {
        let change = Change(step: step, from: states[step], to: state, message: message)
        states[step] = state
        return change
    }
}
