import Foundation
import SluiceBasics
import SluiceEngine
import SluiceHost
import SluiceModel
import SluiceSpec
import SluiceStore

/// What the commands that talk to the service share: the DAG a name stands for, whether a service runs,
/// and following a run to its end.
enum ServiceContext {
    /// The recorded version a DAG name stands for, as a spec; a clear not-found otherwise.
    static func spec(of dag: String, store: Store) throws -> (versionID: Int64, spec: DAGSpec) {
        let catalog = DagCatalog(store: store)
        guard let version = try catalog.currentVersion(of: dag) else {
            let known = try catalog.entries().map(\.dag)
            let hint = Suggestions.hint(for: dag, in: known)
            throw CLIFailure(
                "no DAG '\(dag)' is known\(hint): a DAG is known once it has run or a service has loaded it"
                    + (known.isEmpty ? "" : " (known: \(known.joined(separator: ", ")))"),
                exitCode: ExitCodes.notFound)
        }
        return (
            version.id,
            try RecordedVersion.spec(source: version.source, path: version.path, templates: version.templates)
        )
    }

    /// True when a service on some host is alive (its heartbeat is fresh, or its process is here).
    static func serviceIsRunning(store: Store) throws -> Bool {
        let host = RunOptions(logRoot: "/").host
        return try Schedulers(store: store).live().contains { row in
            guard row.kind == "service" else { return false }
            if row.host == host {
                return kill(row.pid, 0) == 0 && (row.pidStart.map { ProcessIdentity.startTime(row.pid) == $0 } ?? true)
            }
            return row.heartbeatAge <= Schedulers.leaseSeconds
        }
    }

    /// The line said when runs are queued and nothing will start them.
    static let noServiceAdvice =
        "no service is running, so nothing starts it yet: start one with `sluice serve` (or run what is queued now, and exit, with `sluice serve --once`)"

    /// Waits for a run to end (woken by its end's notification); returns its final state.
    static func waitForEnd(_ runID: Int64, store: Store) throws -> RunState {
        let listener = Listener(store: store, channels: [RunQueue.channel])
        defer { listener.close() }
        let queue = RunQueue(store: store)
        _ = listener.drain()
        while true {
            guard let state = try queue.state(of: runID) else {
                throw CLIFailure("no run \(runID)", exitCode: ExitCodes.notFound)
            }
            if state.isTerminal { return state }
            _ = Poller.wait(listener.descriptor.map { [$0] } ?? [], timeout: 1)
            _ = listener.drain()
        }
    }

    /// The exit code a run's final state stands for.
    static func exitCode(for state: RunState) -> Int32 {
        switch state {
        case .succeeded: return ExitCodes.success
        case .cancelled: return ExitCodes.interrupted
        default: return ExitCodes.failed
        }
    }
}

/// Before reading runs: records what ended of runs whose `sluice` process is gone (when no service will).
enum RecoverySweep {
    /// Sweeps, and says nothing when it cannot (it is a courtesy to the command, not its job).
    static func run(store: Store) {
        try? Recovery.sweep(store: store) { EngineSetup.compose(config: HostConfig(), logRoot: "/", runAs: nil) }
    }
}
