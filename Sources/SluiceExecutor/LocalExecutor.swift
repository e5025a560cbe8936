import Foundation
import SluiceBasics

/// A step attempt running as a local child process.
public struct RunningAttempt: Sendable {
    /// The child (its pid is also its process group id).
    public let process: ChildProcess
    /// When it started, on the monotonic clock.
    public let startedAt: Double
    /// A descriptor that becomes readable when the process exits; nil where the kernel has no pidfd.
    public let exitFD: Int32?
}

/// A launch that failed before the command ran.
public struct LaunchFailure: Error, Sendable, CustomStringConvertible {
    /// Why, in words a data scientist can act on.
    public let reason: String
    /// The reason.
    public var description: String { reason }
}

/// Runs attempts as child processes of this one: own process group, stdin from /dev/null, logs to files.
public struct LocalExecutor: Sendable {
    /// Creates an executor.
    public init() {}

    /// Starts an attempt; throws `LaunchFailure` when the command cannot start.
    public func start(_ launch: AttemptLaunch) throws(LaunchFailure) -> RunningAttempt {
        let pathVariable = launch.environment.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) }
        guard let program = launch.argv.first else { throw LaunchFailure(reason: "empty command") }
        guard let executable = ExecutableLookup.resolve(program, path: pathVariable) else {
            throw LaunchFailure(reason: "command not found: \(program) (not in the step's PATH)")
        }
        let stdout: Int32
        let stderr: Int32
        do {
            stdout = try FileSystem.createForWriting(launch.stdoutPath)
            stderr = try FileSystem.createForWriting(launch.stderrPath)
        } catch {
            throw LaunchFailure(reason: "cannot create log files: \(error)")
        }
        defer {
            close(stdout)
            close(stderr)
        }
        var request = SpawnRequest(
            executable: executable, arguments: launch.argv, environment: launch.environment, workdir: launch.workdir)
        request.stdout = stdout
        request.stderr = stderr
        let started = MonotonicClock.now()
        do {
            let process = try ChildProcess.spawn(request)
            return RunningAttempt(process: process, startedAt: started, exitFD: process.exitDescriptor())
        } catch {
            throw LaunchFailure(reason: error.description)
        }
    }

    /// The attempt's exit status once it has ended (anything it left in its group is killed); nil while it runs.
    public func poll(_ attempt: RunningAttempt) -> ProcessExit? {
        guard let status = attempt.process.pollKillingGroup() else { return nil }
        if let fd = attempt.exitFD { close(fd) }
        return status
    }

    /// Sends a signal to the attempt's whole process group.
    public func signal(_ attempt: RunningAttempt, _ signal: Int32) {
        attempt.process.signalGroup(signal)
    }
}
