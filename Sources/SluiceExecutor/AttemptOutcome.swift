import Foundation
import SluiceBasics
import SluiceModel

/// Turns a process ending into the attempt state and a message a data scientist can act on.
public enum AttemptOutcome {
    /// Why the engine stopped an attempt, if it did.
    public enum Stop: Sendable, Equatable {
        /// It ran past its `timeout` (seconds); `killed` when SIGTERM was not enough.
        case timeout(seconds: Double, killed: Bool)
    }

    /// The recorded ending of an attempt that ran: timed out, OOM-killed, killed by a signal, or exited.
    /// A stop its watcher made for a timeout is read from `exit`, unless `stop` says otherwise.
    public static func ending(
        step: String, exit: AttemptExit, limits: AttemptLimits, viaShell: Bool, timeout: Double? = nil,
        stop explicit: Stop? = nil, noun: String = "step"
    ) -> AttemptEnding {
        if let reason = exit.startFailure { return failedToStart(step: step, reason: reason, noun: noun) }
        let stop = explicit ?? (exit.stop == "timeout" ? Stop.timeout(seconds: timeout ?? 0, killed: exit.killed) : nil)
        let status = exit.status
        let usage = exit.usage
        let state: AttemptState
        var message: String?
        if case .timeout(let seconds, let killed)? = stop {
            state = .timedOut
            let how = killed ? "SIGTERM, then SIGKILL after the grace period" : "SIGTERM"
            message =
                "\(noun) \(step) timed out after \(Units.formatDuration(seconds)) and was stopped with \(how). Raise timeout or make the \(noun) faster."
        } else if let usage, usage.oomKills > 0, !status.succeeded {
            state = .oomKilled
            let limit = limits.memoryBytes.map(Units.formatBytes) ?? "none"
            let peak = usage.peakMemoryBytes.map(Units.formatBytes) ?? "unknown"
            let raise = limits.memoryBytes.map { " (e.g. \(suggestedMemory(above: $0)))" } ?? ""
            message =
                "\(noun) \(step) was killed: out of memory (limit \(limit), peak \(peak)). Raise resources.memory\(raise) or use less memory."
        } else if let code = status.exitCode {
            state = .exited
            switch code {
            case 0: message = nil
            case 127 where viaShell:
                message =
                    "\(noun) \(step) failed: command not found (the shell exited 127); check the command's spelling and PATH"
            case 126 where viaShell:
                message =
                    "\(noun) \(step) failed: command found but not executable (the shell exited 126); check its permissions"
            default: message = "\(noun) \(step) failed: exited with code \(code)"
            }
        } else if let signal = status.signal {
            state = .killed
            message = "\(noun) \(step) was killed by \(signalName(signal))"
        } else {
            state = .lost
            message = "\(noun) \(step): its ending could not be observed"
            if let problem = exit.recordProblem { message! += " (\(problem))" }
        }
        if let usage, usage.pidsLimitHits > 0, let most = limits.maxProcesses, state != .exited || status.exitCode != 0
        {
            message =
                (message ?? "\(noun) \(step)")
                + "; \(usage.pidsLimitHits) forks failed at max_processes \(most). Raise resources.max_processes or start fewer processes."
        }
        if exit.droppedLogBytes > 0 {
            let note = "its output passed the log limit and \(Units.formatBytes(exit.droppedLogBytes)) was dropped"
            message = message.map { "\($0); \(note)" } ?? "\(noun) \(step): \(note)"
        }
        if let problem = exit.recordProblem, state != .lost {
            message = message.map { "\($0); \(problem)" } ?? "\(noun) \(step) exited 0, but \(problem)"
        }
        var ending = AttemptEnding(
            state: state, exitCode: status.exitCode, signal: status.signal, message: message,
            wallSeconds: exit.wallSeconds, userCPU: usage?.userCPU ?? status.userCPU,
            systemCPU: usage?.systemCPU ?? status.systemCPU,
            maxRSSBytes: usage?.peakMemoryBytes ?? status.maxRSSBytes)
        ending.usageSource = usage?.peakMemoryBytes != nil ? "cgroup" : "rusage"
        ending.incomplete = exit.recordProblem != nil
        return ending
    }

    /// The recorded ending for a process that could not be started.
    public static func failedToStart(step: String, reason: String, noun: String = "step") -> AttemptEnding {
        AttemptEnding(state: .failedToStart, message: "\(noun) \(step) failed to start: \(reason)")
    }

    /// A memory figure half again above `bytes`, rounded up to a whole `Gi` (or a multiple of 64 `Mi` below 1 GiB).
    public static func suggestedMemory(above bytes: Int64) -> String {
        Sizing.memoryText(Sizing.raisedMemory(above: bytes))
    }

    /// `SIGTERM`-style name of a signal number.
    public static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGABRT: "SIGABRT",
            SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM",
            SIGTERM: "SIGTERM", SIGBUS: "SIGBUS", SIGUSR1: "SIGUSR1", SIGUSR2: "SIGUSR2", SIGXCPU: "SIGXCPU",
            SIGXFSZ: "SIGXFSZ",
        ]
        return names[signal] ?? "signal \(signal)"
    }
}
