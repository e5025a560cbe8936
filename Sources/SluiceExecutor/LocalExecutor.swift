import Foundation
import SluiceBasics
import Synchronization

/// Numbers attempt cgroups made by this process, so that two runs in one process never share a name.
private let cgroupSequence = Atomic<Int>(0)

/// A step attempt running as a local child process, in its own process group and (where possible) cgroup.
public final class RunningAttempt {
    /// The child (its pid is also its process group id).
    public let process: ChildProcess
    /// When it started, on the monotonic clock.
    public let startedAt: Double
    /// A descriptor that becomes readable when the process exits; nil where the kernel has no pidfd.
    public let exitFD: Int32?
    /// Its cgroup, when cgroups are in use.
    public let cgroup: AttemptCgroup?
    /// The stdout and stderr relays.
    public let logs: [LogRelay]

    init(process: ChildProcess, startedAt: Double, exitFD: Int32?, cgroup: AttemptCgroup?, logs: [LogRelay]) {
        self.process = process
        self.startedAt = startedAt
        self.exitFD = exitFD
        self.cgroup = cgroup
        self.logs = logs
    }

    /// The descriptors to poll: log pipes that are still open.
    public var logFDs: [Int32] { logs.map(\.source).filter { $0 >= 0 } }

    /// Copies what the log pipes hold into the log files.
    public func pumpLogs() { for relay in logs { relay.pump() } }
}

/// How an attempt's process ended, with what its cgroup accounted.
public struct AttemptExit: Sendable {
    /// The main process's wait status and rusage.
    public let status: ProcessExit
    /// The cgroup's accounting, when there was a cgroup.
    public let usage: CgroupUsage?
    /// Wall-clock seconds from spawn to exit.
    public let wallSeconds: Double
    /// Bytes of log output dropped past the cap.
    public let droppedLogBytes: Int64
    /// A problem cleaning up (a cgroup that could not be removed), for the operator's log.
    public let cleanupProblem: String?

    /// Creates an exit record.
    public init(
        status: ProcessExit, usage: CgroupUsage?, wallSeconds: Double, droppedLogBytes: Int64, cleanupProblem: String?
    ) {
        self.status = status
        self.usage = usage
        self.wallSeconds = wallSeconds
        self.droppedLogBytes = droppedLogBytes
        self.cleanupProblem = cleanupProblem
    }
}

/// A launch that failed before the command ran.
public struct LaunchFailure: Error, Sendable, CustomStringConvertible {
    /// Why, in words a data scientist can act on.
    public let reason: String
    /// The reason.
    public var description: String { reason }
}

/// Runs attempts as child processes of this one: own process group and cgroup, stdin from /dev/null, logs relayed.
public struct LocalExecutor: Sendable {
    /// The enforcement in effect.
    public let control: ResourceControl

    /// Creates an executor that enforces through `control`.
    public init(control: ResourceControl = .rlimitsOnly) { self.control = control }

    /// Starts an attempt; throws `LaunchFailure` when the command cannot start.
    public func start(_ launch: AttemptLaunch) throws(LaunchFailure) -> RunningAttempt {
        let pathVariable = launch.environment.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) }
        guard let program = launch.argv.first else { throw LaunchFailure(reason: "empty command") }
        guard let executable = ExecutableLookup.resolve(program, path: pathVariable) else {
            throw LaunchFailure(reason: "command not found: \(program) (not in the step's PATH)")
        }
        let out: (relay: LogRelay, childEnd: Int32)
        let err: (relay: LogRelay, childEnd: Int32)
        do {
            out = try LogRelay.open(path: launch.stdoutPath, limit: launch.logLimit)
            err = try LogRelay.open(path: launch.stderrPath, limit: launch.logLimit)
        } catch {
            throw LaunchFailure(reason: "cannot create log files: \(error)")
        }
        defer {
            close(out.childEnd)
            close(err.childEnd)
        }
        var cgroup: AttemptCgroup?
        var procs: [Int32] = []
        defer { for fd in procs { close(fd) } }
        if let backend = control.backend {
            let limits = CgroupLimits(
                memoryBytes: launch.limits.memoryBytes, cpus: launch.limits.cpus,
                maxProcesses: launch.limits.maxProcesses)
            do {
                let sequence = cgroupSequence.wrappingAdd(1, ordering: .relaxed).newValue
                let name = "\(launch.cgroupName)-\(getpid())-\(sequence)"
                let made = try backend.create(name: name, limits: limits)
                cgroup = made
                for file in backend.procsFiles(made) { procs.append(try HostCgroupFiles().openForWriting(file)) }
            } catch {
                if let made = cgroup { try? backend.remove(made) }
                throw LaunchFailure(reason: "cannot set up the attempt's cgroup: \(error)")
            }
        }
        var request = SpawnRequest(
            executable: executable, arguments: launch.argv, environment: launch.environment, workdir: launch.workdir)
        request.stdout = out.childEnd
        request.stderr = err.childEnd
        request.cgroupProcs = procs
        request.limits = control.rlimits(for: launch.limits)
        let started = MonotonicClock.now()
        do {
            let process = try ChildProcess.spawn(request)
            return RunningAttempt(
                process: process, startedAt: started, exitFD: process.exitDescriptor(), cgroup: cgroup,
                logs: [out.relay, err.relay])
        } catch {
            if let made = cgroup, let backend = control.backend { try? backend.remove(made) }
            throw LaunchFailure(reason: error.description)
        }
    }

    /// Once the main process has exited: kills what it left in its group and cgroup, reads the cgroup's
    /// accounting, removes the cgroup and flushes the logs. Nil while it runs.
    public func poll(_ attempt: RunningAttempt) -> AttemptExit? {
        guard let status = attempt.process.pollKillingGroup() else { return nil }
        let wall = MonotonicClock.now() - attempt.startedAt
        if let fd = attempt.exitFD { close(fd) }
        var usage: CgroupUsage?
        var problem: String?
        if let cgroup = attempt.cgroup, let backend = control.backend {
            backend.killAll(cgroup)
            usage = backend.usage(cgroup)
            do {
                try backend.remove(cgroup)
            } catch {
                problem = "\(error)"
            }
        }
        for relay in attempt.logs { relay.finish() }
        return AttemptExit(
            status: status, usage: usage, wallSeconds: wall,
            droppedLogBytes: attempt.logs.reduce(0) { $0 + $1.dropped }, cleanupProblem: problem)
    }

    /// Sends a signal to the attempt's whole process group.
    public func signal(_ attempt: RunningAttempt, _ signal: Int32) {
        attempt.process.signalGroup(signal)
    }

    /// SIGKILL to the process group, then to everything left in the cgroup (which catches processes that left the group).
    public func kill(_ attempt: RunningAttempt) {
        attempt.process.signalGroup(SIGKILL)
        if let cgroup = attempt.cgroup, let backend = control.backend { backend.killAll(cgroup) }
    }

    /// Starts an attempt and waits for it to end, copying its logs meanwhile (handlers, tools).
    public func runToEnd(_ launch: AttemptLaunch) throws(LaunchFailure) -> AttemptExit {
        let running = try start(launch)
        while true {
            if let exit = poll(running) { return exit }
            let fds = (running.exitFD.map { [$0] } ?? []) + running.logFDs
            _ = Poller.wait(fds, timeout: running.exitFD == nil ? 0.05 : nil)
            running.pumpLogs()
        }
    }
}
