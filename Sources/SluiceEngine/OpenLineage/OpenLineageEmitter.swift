import Foundation
import SluiceBasics
import SluiceHost
import Synchronization

/// Delivers OpenLineage events to the configured file and endpoint on a thread of its own, so that a run
/// never waits for (or fails because of) its lineage sink. Each event is retried with backoff (0.5 s,
/// doubling to 30 s) until it is delivered or has failed for 10 minutes; at most 10,000 wait at once (the
/// oldest is dropped beyond that, and counted). What is still queued when the process exits is lost.
final class OpenLineageEmitter: Sendable {
    private struct State {
        /// Each event, with whether its file line is written already (a retry only redoes what failed).
        var queue: [(line: [UInt8], written: Bool, firstTry: Double)] = []
        var dropped = 0
        var stopping = false
        var problems: [String] = []
    }

    let config: OpenLineageConfig
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let idle = DispatchSemaphore(value: 0)
    static let capacity = 10_000
    static let giveUpAfter = 600.0

    init(config: OpenLineageConfig) {
        self.config = config
        let thread = Thread { [self] in self.deliverForever() }
        thread.name = "sluice-openlineage"
        thread.start()
    }

    /// Queues an event; never blocks.
    func emit(_ event: OpenLineageEvent) {
        let line = event.line()
        state.withLock { state in
            if state.queue.count >= Self.capacity {
                state.queue.removeFirst()
                state.dropped += 1
            }
            state.queue.append((line, false, MonotonicClock.now()))
        }
        wake.signal()
    }

    /// Waits up to `seconds` for the queue to empty (a foreground run's last events), then returns the
    /// problems met (delivery failures, events dropped or left undelivered), once each.
    func drain(within seconds: Double) -> [String] {
        let deadline = MonotonicClock.now() + seconds
        while MonotonicClock.now() < deadline {
            if state.withLock({ $0.queue.isEmpty }) { break }
            wake.signal()
            _ = idle.wait(timeout: .now() + 0.05)
        }
        return state.withLock { state in
            var problems = state.problems
            if state.dropped > 0 {
                problems.append("\(state.dropped) OpenLineage events were dropped (more than 10,000 waited)")
            }
            if !state.queue.isEmpty {
                problems.append("\(state.queue.count) OpenLineage events were not delivered in time")
            }
            state.problems = []
            state.dropped = 0
            return problems
        }
    }

    private func deliverForever() {
        var backoff = 0.5
        while true {
            guard let next = state.withLock({ $0.queue.first }) else {
                idle.signal()
                _ = wake.wait(timeout: .now() + 1)
                continue
            }
            var written = next.written
            do {
                try deliver(next.line, written: &written)
                _ = state.withLock { $0.queue.removeFirst() }
                backoff = 0.5
            } catch {
                let gaveUp = state.withLock { state -> Bool in
                    state.queue[0].written = written
                    let message = "OpenLineage delivery failed: \(error)"
                    if !state.problems.contains(message) && state.problems.count < 20 { state.problems.append(message) }
                    if MonotonicClock.now() - next.firstTry > Self.giveUpAfter {
                        state.queue.removeFirst()
                        state.dropped += 1
                        return true
                    }
                    return false
                }
                if !gaveUp {
                    idle.signal()
                    _ = wake.wait(timeout: .now() + backoff)
                    backoff = min(backoff * 2, 30)
                }
            }
        }
    }

    private func deliver(_ line: [UInt8], written done: inout Bool) throws {
        if let file = config.file, !done {
            let fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
            guard fd >= 0 else { throw DeliveryError("cannot open \(file): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            // One write per event: O_APPEND keeps lines whole between processes writing the same file.
            let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == line.count else {
                throw DeliveryError("cannot write to \(file): \(String(cString: strerror(errno)))")
            }
            done = true
        }
        if let url = config.url { try HTTPPost.post(Array(line.dropLast()), to: url) }
    }
}
