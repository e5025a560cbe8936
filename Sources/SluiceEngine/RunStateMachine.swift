import SluiceModel
import SluiceStore

/// One step's move from one state to another, decided by the state machine.
public struct StepTransition: Sendable, Equatable {
    /// The step's index in file order.
    public let step: Int
    /// The state it leaves.
    public let from: StepState
    /// The state it enters.
    public let to: StepState

    /// Creates a transition.
    public init(step: Int, from: StepState, to: StepState) {
        self.step = step
        self.from = from
        self.to = to
    }
}

/// The step lifecycle of one run as a pure value: events in, transitions out. No I/O.
public struct RunStateMachine: Sendable {
    /// Each step's current state, by index.
    public private(set) var states: [StepState]
    private let needs: [[Int]]
    private let dependents: [[Int]]
    private var unmet: [Int]
    private var readyQueue: [Int] = []
    private var readyCursor = 0

    /// A machine for steps whose dependencies are given as indices; every step starts `pending`.
    public init(needs: [[Int]]) {
        self.needs = needs
        var dependents = [[Int]](repeating: [], count: needs.count)
        for (i, deps) in needs.enumerated() { for d in Set(deps) { dependents[d].append(i) } }
        self.dependents = dependents
        states = Array(repeating: .pending, count: needs.count)
        unmet = needs.map { Set($0).count }
    }

    /// Moves every step with no dependencies to `ready`.
    public mutating func start() -> [StepTransition] {
        unmet.indices.filter { unmet[$0] == 0 }.map { makeReady($0) }
    }

    /// The next ready step in the order steps became ready, without changing its state.
    public func peekReady() -> Int? {
        var cursor = readyCursor
        while cursor < readyQueue.count {
            if states[readyQueue[cursor]] == .ready { return readyQueue[cursor] }
            cursor += 1
        }
        return nil
    }

    /// Moves a ready step to `running`.
    public mutating func markRunning(_ step: Int) -> StepTransition {
        precondition(states[step] == .ready, "step \(step) is \(states[step]), not ready")
        while readyCursor < readyQueue.count && states[readyQueue[readyCursor]] != .ready { readyCursor += 1 }
        if readyCursor < readyQueue.count && readyQueue[readyCursor] == step { readyCursor += 1 }
        return move(step, to: .running)
    }

    /// Ends a ready step without running it: `skipped` (its `when` is false) or `failed` (it cannot be resolved).
    public mutating func settle(_ step: Int, as final: StepState) -> [StepTransition] {
        precondition(
            states[step] == .ready && (final == .skipped || final == .failed), "cannot settle step \(step) as \(final)")
        while readyCursor < readyQueue.count && states[readyQueue[readyCursor]] != .ready { readyCursor += 1 }
        if readyCursor < readyQueue.count && readyQueue[readyCursor] == step { readyCursor += 1 }
        states[step] = .running
        var transitions = finish(step, as: final)
        transitions[0] = StepTransition(step: step, from: .ready, to: final)
        return transitions
    }

    /// Records a running step's final state and returns it with every downstream change that follows.
    public mutating func finish(_ step: Int, as final: StepState) -> [StepTransition] {
        precondition(states[step] == .running && final.isTerminal, "cannot finish step \(step) as \(final)")
        var transitions = [move(step, to: final)]
        if final.letsDownstreamRun {
            for next in dependents[step] {
                unmet[next] -= 1
                if unmet[next] == 0 && states[next] == .pending { transitions.append(makeReady(next)) }
            }
        } else if final != .cancelled {
            transitions += failDownstream(of: step)
        }
        return transitions
    }

    /// Cancels every step that has not started; running steps are left to the caller to stop and finish.
    public mutating func cancelPending() -> [StepTransition] {
        states.indices.filter { states[$0] == .pending || states[$0] == .ready }.map { move($0, to: .cancelled) }
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

    private mutating func makeReady(_ step: Int) -> StepTransition {
        readyQueue.append(step)
        return move(step, to: .ready)
    }

    private mutating func failDownstream(of step: Int) -> [StepTransition] {
        var transitions: [StepTransition] = []
        var stack = dependents[step]
        while let next = stack.popLast() {
            guard states[next] == .pending else { continue }
            transitions.append(move(next, to: .upstreamFailed))
            stack.append(contentsOf: dependents[next])
        }
        return transitions.sorted { $0.step < $1.step }
    }

    private mutating func move(_ step: Int, to state: StepState) -> StepTransition {
        let transition = StepTransition(step: step, from: states[step], to: state)
        states[step] = state
        return transition
    }
}
