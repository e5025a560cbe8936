import Foundation
import SluiceBasics
import SluiceModel
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
    /// Where it writes its outputs, if it was given such a file.
    let outputFile: OutputFile?
    /// The run's log directory, whose disk is checked when the attempt ends.
    let logDirectory: SecureDirectory

    init(
        process: ChildProcess, startedAt: Double, exitFD: Int32?, cgroup: AttemptCgroup?, logs: [LogRelay],
        outputFile: OutputFile?, logDirectory: SecureDirectory
    ) {
        self.process = process
        self.startedAt = startedAt
        self.exitFD = exitFD
        self.cgroup = cgroup
        self.logs = logs
        self.outputFile = outputFile
        self.logDirectory = logDirectory
    }

    /// The descriptors to poll: log pipes that are still open.
    public var logFDs: [Int32] { logs.filter { $0.source >= 0 && !$0.atEnd }.map(\.source) }

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
    /// What the attempt wrote to its output file; nil when it had none or it could not be read.
    public var outputBytes: [UInt8]?
    /// Why its logs or outputs are incomplete: a write that failed, a full disk, an unreadable output file.
    public var recordProblem: String?

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
        var environment = launch.environment
        if let user = launch.user, !user.isCurrent {
            environment = environment.filter {
                !($0.hasPrefix("HOME=") || $0.hasPrefix("USER=") || $0.hasPrefix("LOGNAME="))
            }
            environment += ["HOME=\(user.home)", "USER=\(user.name)", "LOGNAME=\(user.name)"]
        }
        let pathVariable = environment.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) }
        guard let program = launch.argv.first else { throw LaunchFailure(reason: "empty command") }
        guard let executable = ExecutableLookup.resolve(program, path: pathVariable) else {
            throw LaunchFailure(reason: "command not found: \(program) (not in the step's PATH)")
        }
        let out: (relay: LogRelay, childEnd: Int32)
        let err: (relay: LogRelay, childEnd: Int32)
        let outputFile: OutputFile?
        do {
            out = try LogRelay.open(
                in: launch.logDirectory, name: launch.logName + ".out", mode: launch.logMode, limit: launch.logLimit,
                masking: launch.maskedValues)
            err = try LogRelay.open(
                in: launch.logDirectory, name: launch.logName + ".err", mode: launch.logMode, limit: launch.logLimit,
                masking: launch.maskedValues)
            outputFile = launch.outputVariable == nil ? nil : try OutputFile.make(for: launch)
        } catch {
            throw LaunchFailure(reason: "cannot create its log files: \(error)\(Self.diskNote(launch.logDirectory))")
        }
        if let variable = launch.outputVariable, let outputFile {
            environment = environment.filter { !$0.hasPrefix(variable + "=") } + ["\(variable)=\(outputFile.path)"]
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
                outputFile?.remove()
                throw LaunchFailure(reason: "cannot set up the attempt's cgroup: \(error)")
            }
        }
        var request = SpawnRequest(
            executable: executable, arguments: launch.argv, environment: environment, workdir: launch.workdir)
        request.stdout = out.childEnd
        request.stderr = err.childEnd
        request.cgroupProcs = procs
        request.limits = control.rlimits(for: launch.limits)
        if let user = launch.user, !user.isCurrent {
            request.credentials = (user.uid, user.gid)
            request.groups = user.groups
        }
        let started = MonotonicClock.now()
        do {
            let process = try ChildProcess.spawn(request)
            return RunningAttempt(
                process: process, startedAt: started, exitFD: process.exitDescriptor(), cgroup: cgroup,
                logs: [out.relay, err.relay], outputFile: outputFile, logDirectory: launch.logDirectory)
        } catch {
            if let made = cgroup, let backend = control.backend { try? backend.remove(made) }
            outputFile?.remove()
            var reason = error.description
            if let user = launch.user, !user.isCurrent, error.stage == .chdir || error.stage == .exec {
                reason += " (steps run as \(user.name))"
            }
            throw LaunchFailure(reason: reason)
        }
    }

    /// Once the main process has exited: kills what it left in its group and cgroup, reads the cgroup's
    /// accounting, removes the cgroup, flushes the logs and reads the outputs. Nil while it runs.
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
        var exit = AttemptExit(
            status: status, usage: usage, wallSeconds: wall,
            droppedLogBytes: attempt.logs.reduce(0) { $0 + $1.dropped }, cleanupProblem: problem)
        var problems: [String] = []
        for relay in attempt.logs {
            if let code = relay.writeError {
                problems.append("its log \(relay.path) could not be written (\(String(cString: strerror(code))))")
            }
        }
        switch attempt.outputFile?.read() {
        case .success(let bytes)?: exit.outputBytes = bytes
        case .failure(let error)?: problems.append(error.description)
        case nil: break
        }
        let space = DiskSpace.of(fd: attempt.logDirectory.fd)
        if let space, space.isFull, problems.isEmpty {
            problems.append("its logs and $SLUICE_OUTPUT may be incomplete")
        }
        if !problems.isEmpty {
            exit.recordProblem = problems.joined(separator: "; ") + Self.diskNote(attempt.logDirectory)
        }
        return exit
    }

    /// "; the disk of DIR is full (0 B free of 64.0 MiB)" when it is, else "".
    static func diskNote(_ directory: SecureDirectory) -> String {
        guard let space = DiskSpace.of(fd: directory.fd), space.isFull else { return "" }
        return
            "; the disk of \(directory.path) is full (\(Units.formatBytes(space.available)) free of \(Units.formatBytes(space.total)))"
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
