import Foundation
import SluiceBasics
import SluiceStore

/// Turns a process ending into the attempt state and a message a data scientist can act on.
public enum AttemptOutcome {
    /// The recorded ending for a process that ran and ended with `status` after `wall` seconds.
    public static func ending(step: String, status: ProcessExit, viaShell: Bool, wall: Double) -> AttemptEnding {
        let state: AttemptState
        let message: String?
        if let code = status.exitCode {
            state = .exited
            switch code {
            case 0: message = nil
            case 127 where viaShell:
                message =
                    "step \(step) failed: command not found (the shell exited 127); check the command's spelling and PATH"
            case 126 where viaShell:
                message =
                    "step \(step) failed: command found but not executable (the shell exited 126); check its permissions"
            default: message = "step \(step) failed: exited with code \(code)"
            }
        } else if let signal = status.signal {
            state = .killed
            message = "step \(step) was killed by \(signalName(signal))"
        } else {
            state = .lost
            message = "step \(step): its ending could not be observed"
        }
        return AttemptEnding(
            state: state, exitCode: status.exitCode, signal: status.signal, message: message, wallSeconds: wall,
            userCPU: status.userCPU, systemCPU: status.systemCPU, maxRSSBytes: status.maxRSSBytes)
    }

    /// The recorded ending for a process that could not be started.
    public static func failedToStart(step: String, reason: String) -> AttemptEnding {
        AttemptEnding(state: .failedToStart, message: "step \(step) failed to start: \(reason)")
    }

    /// `SIGTERM`-style name of a signal number.
    public static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGABRT: "SIGABRT",
            SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM",
            SIGTERM: "SIGTERM", SIGBUS: "SIGBUS", SIGUSR1: "SIGUSR1", SIGUSR2: "SIGUSR2", SIGXCPU: "SIGXCPU",
        ]
        return names[signal] ?? "signal \(signal)"
    }
}
