import CSpawn
import Foundation
import SluiceBasics
import SluiceModel
import Synchronization

/// Numbers attempt cgroups made by this process, so that two runs in one process never share a name.
private let cgroupSequence = Atomic<Int>(0)

/// Runs attempts as local processes, each watched by a `sluice-shim` that outlives the engine.
///
/// The engine makes the log files (through a directory descriptor that never follows links), the outputs
/// file and the cgroup; the shim starts the step in its own process group and cgroup, relays its output
/// into the logs, enforces its timeout, kills what it leaves behind and keeps how it ended in a status file.
/// The engine waits on the shim's pidfd, reads the status file, the cgroup's accounting and the outputs.
public struct LocalExecutor: Executor {
    /// The enforcement in effect.
    public let control: ResourceControl
    private let spawner = ShimSpawner()
    private let leftovers: CgroupLeftovers

    /// Creates an executor that enforces through `control`.
    public init(control: ResourceControl = .rlimitsOnly) {
        self.control = control
        leftovers = CgroupLeftovers(backend: control.backend)
    }

    /// `cgroup v1`, `cgroup v2` or `rlimit`.
    public var enforcementSummary: String { control.summary }

    /// Starts an attempt under a shim; throws `LaunchFailure` when the command cannot start.
    public func start(_ launch: AttemptLaunch) throws(LaunchFailure) -> RunningAttempt {
        try start(prepare(launch, hold: false))
    }

    /// Makes an attempt ready without starting its command: its cgroup made, its watcher forked, and the step
    /// set up to its exec, where it waits for `start(_:)`. The engine records the attempt's start meanwhile.
    public func prepare(_ launch: AttemptLaunch) throws(LaunchFailure) -> PreparedAttempt {
        try prepare(launch, hold: true)
    }

    private func prepare(_ launch: AttemptLaunch, hold: Bool) throws(LaunchFailure) -> PreparedAttempt {
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
        guard let shim = ShimProtocol.executable else {
            throw LaunchFailure(
                reason:
                    "sluice-shim, which watches every attempt, was not found beside sluice or on PATH; reinstall sluice (make install) or set SLUICE_SHIM"
            )
        }
        // The watcher makes the log files on the step's first byte to each stream.
        let outputFile: OutputFile?
        do {
            outputFile = launch.outputVariable == nil ? nil : try OutputFile.make(for: launch)
        } catch {
            throw LaunchFailure(reason: "cannot create its output file: \(error)\(Self.diskNote(launch.logDirectory))")
        }
        if let variable = launch.outputVariable, let outputFile {
            environment = environment.filter { !$0.hasPrefix(variable + "=") } + ["\(variable)=\(outputFile.path)"]
        }
        var cgroup: AttemptCgroup?
        var procs: [Int32] = []
        defer { for fd in procs { close(fd) } }
        if let backend = control.backend {
            let limits = Self.cgroupLimits(launch)
            do {
                try Phases.measure("cgroup: made (or reused), limits written, cgroup.procs opened") {
                    let sequence = cgroupSequence.wrappingAdd(1, ordering: .relaxed).newValue
                    let name = "\(launch.cgroupName)-\(getpid())-\(sequence)"
                    let made =
                        try reusedCgroup(name: name, limits: limits, backend: backend)
                        ?? backend.create(name: name, limits: limits)
                    cgroup = made
                    for file in backend.procsFiles(made) { procs.append(try HostCgroupFiles().openForWriting(file)) }
                }
            } catch {
                if let made = cgroup { try? backend.remove(made) }
                outputFile?.remove()
                throw LaunchFailure(reason: "cannot set up the attempt's cgroup: \(error)")
            }
        }
        let specification = ShimProtocol.specification(
            launch, executable: executable, environment: environment, rlimits: control.rlimits(for: launch.limits),
            cgroupDirectories: cgroup?.directories ?? [], cgroupFDs: procs.count,
            cgroupKill: control.backend?.version == .v2, hold: hold)
        do {
            let handed = try Phases.measure("prepare: the watcher handed the attempt, which it sets up (held)") {
                () throws(LaunchFailure) -> HandedWatcher in
                try handShim(
                    shim, specification: specification, descriptors: [launch.logDirectory.fd] + procs, hold: hold)
            }
            return PreparedAttempt(
                launch: launch, shim: shim, handed: handed, cgroup: cgroup, outputFile: outputFile)
        } catch {
            if let made = cgroup, let backend = control.backend { try? backend.remove(made) }
            outputFile?.remove()
            throw error
        }
    }

    /// A cgroup an earlier attempt of this executor left ready, renamed `name` (the attempt it now holds: its
    /// run, for the leftover sweep's check and for whoever reads the records) and with `limits` written
    /// (nothing is written when they are what it holds); nil when none is ready.
    private func reusedCgroup(name: String, limits: CgroupLimits, backend: any CgroupBackend) -> AttemptCgroup? {
        while let ready = leftovers.take() {
            guard let renamed = try? backend.rename(ready.cgroup, to: name) else {
                try? backend.remove(ready.cgroup)
                continue
            }
            do {
                if ready.limits != limits { try backend.reuse(renamed, limits: limits) }
                return renamed
            } catch {
                try? backend.remove(renamed)
            }
        }
        return nil
    }

    /// Starts a prepared attempt's step. A held one is released once its watcher has forked it (its exec
    /// follows, and a failure to exec is its ending); an attempt prepared unheld is waited for until started.
    public func start(_ prepared: PreparedAttempt) throws(LaunchFailure) -> RunningAttempt {
        let launch = prepared.launch
        let started: StartedWatcher
        do {
            started = try Phases.measure("spawn: until the watcher reports the step forked (held) or started") {
                () throws(LaunchFailure) -> StartedWatcher in
                let watcher = try awaitStart(prepared)
                prepared.release(go: true)
                return watcher
            }
        } catch {
            undo(prepared)
            throw error
        }
        let start = ProcessIdentity.startTime(started.watcher) ?? 0
        let record = AttemptRecord(
            externalID: ShimProtocol.externalID(shim: started.watcher, start: start),
            logDirectory: launch.logDirectory.path, logName: launch.logName, cgroupName: prepared.cgroup?.name,
            cgroupDirectories: prepared.cgroup?.directories ?? [], outputPath: prepared.outputFile?.path,
            outputOwner: prepared.outputFile.map { UInt32($0.ownerID) })
        return RunningAttempt(
            externalID: record.externalID, pid: started.pid,
            exitFD: ChildProcess(pid: started.watcher).exitDescriptor(), endFD: started.reports,
            record: record, watcher: started.watcher, isChild: started.isChild, statusDirectory: launch.logDirectory,
            cgroup: prepared.cgroup, outputFile: prepared.outputFile, launch: launch)
    }

    /// Drops a prepared attempt unrun: its step ends without exec, its watcher records that and exits, and then
    /// its files and cgroup go.
    public func discard(_ prepared: PreparedAttempt) {
        prepared.release(go: false)
        if let child = prepared.child {
            _ = child.wait()
        } else {
            Self.readToEnd(prepared.reports)  // the watcher's last word, then its exit
        }
        undo(prepared)
    }

    /// Removes what a prepared attempt made: its status file, cgroup and outputs file.
    private func undo(_ prepared: PreparedAttempt) {
        prepared.closeReports()
        try? prepared.launch.logDirectory.removeTree(prepared.launch.statusName)
        if let made = prepared.cgroup, let backend = control.backend { try? backend.remove(made) }
        prepared.outputFile?.remove()
    }

    /// A watcher that has started its step.
    private struct StartedWatcher {
        /// The watcher's pid.
        let watcher: pid_t
        /// The step's pid.
        let pid: pid_t
        /// True when the watcher is this process's child (started directly, not by the spawner).
        let isChild: Bool
        /// The report pipe, where the watcher's last word ("ended") comes; nil when started directly.
        var reports: Int32? = nil
    }

    /// Hands a watcher the attempt: forked by the spawner, or else started directly in a session of its own.
    /// With `hold`, it gets the release socket too, whose other end comes back in the result.
    private func handShim(
        _ shim: String, specification: [UInt8], descriptors: [Int32], hold: Bool
    ) throws(LaunchFailure) -> HandedWatcher {
        var reportPipe: [Int32] = [0, 0]
        var releasePair: [Int32] = [-1, -1]
        guard sluice_pipe_cloexec(&reportPipe) == 0, !hold || sluice_socketpair_cloexec(&releasePair) == 0 else {
            let reason = String(cString: strerror(errno))
            for fd in reportPipe + releasePair where fd > 0 { close(fd) }
            throw LaunchFailure(reason: "cannot start a process: \(reason)")
        }
        let handed = descriptors + (hold ? [releasePair[1]] : [])
        defer {
            close(reportPipe[1])
            if hold { close(releasePair[1]) }
        }
        if spawner.hand(shim: shim, specification: specification, descriptors: [reportPipe[1]] + handed) {
            return HandedWatcher(reports: reportPipe[0], release: releasePair[0], child: nil)
        }
        var specPipe: [Int32] = [0, 0]
        guard sluice_pipe_cloexec(&specPipe) == 0 else {
            close(reportPipe[0])
            if hold { close(releasePair[0]) }
            throw LaunchFailure(reason: "cannot start a process: \(String(cString: strerror(errno)))")
        }
        var request = SpawnRequest(
            executable: shim, arguments: ["sluice-shim"], environment: ["PATH=/usr/bin:/bin", "LC_ALL=C"],
            workdir: "/")
        request.stdin = specPipe[0]
        request.newSession = true
        request.inheritedDescriptors = [reportPipe[1]] + handed
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(request)
        } catch {
            for fd in specPipe + [reportPipe[0]] { close(fd) }
            if hold { close(releasePair[0]) }
            throw LaunchFailure(reason: "cannot start its watcher (\(shim)): \(error)")
        }
        close(specPipe[0])
        Terminal.write(specPipe[1], specification)
        close(specPipe[1])
        return HandedWatcher(reports: reportPipe[0], release: releasePair[0], child: child)
    }

    /// Waits for a handed watcher's first word: the step started (its pid), or why it did not.
    private func awaitStart(_ prepared: PreparedAttempt) throws(LaunchFailure) -> StartedWatcher {
        let words = Self.readReport(prepared.reports)
        let started = words.first == "started" || words.first == "held"
        if let child = prepared.child {
            if started, words.count >= 2, let pid = pid_t(words[1]) {
                prepared.closeReports()  // its end is its exit
                return StartedWatcher(watcher: child.pid, pid: pid, isChild: true)
            }
            _ = child.wait()
        } else if started, words.count == 3, let pid = pid_t(words[1]),
            let watcher = pid_t(words[2])
        {
            return StartedWatcher(watcher: watcher, pid: pid, isChild: false, reports: prepared.takeReports())
        }
        throw Self.failure(words, shim: prepared.shim, launch: prepared.launch)
    }

    /// Reads a pipe until its writers are gone.
    private static func readToEnd(_ fd: Int32) {
        var chunk = [UInt8](repeating: 0, count: 128)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
        }
    }

    /// The watcher's first line ("started PID WATCHER", "held PID WATCHER" or "failed STAGE ERRNO"), as words.
    private static func readReport(_ fd: Int32) -> [Substring] {
        // One line, written at once: read in chunks until the newline (or the pipe's end).
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 128)
        while !reply.contains(10) && reply.count < 4096 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            reply += chunk[0..<n]
        }
        if let newline = reply.firstIndex(of: 10) { reply.removeSubrange(newline...) }
        return String(decoding: reply, as: UTF8.self).split(separator: " ")
    }

    /// Why a watcher did not start its step, from its report.
    private static func failure(_ words: [Substring], shim: String, launch: AttemptLaunch) -> LaunchFailure {
        if words.first == "failed", words.count == 3, let stage = Int32(words[1]), let code = Int32(words[2]),
            SpawnError.Stage(rawValue: stage) != nil
        {
            return LaunchFailure(reason: startFailure(stage: stage, code: code, launch: launch))
        }
        return LaunchFailure(reason: "its watcher (\(shim)) did not start it: \(words.joined(separator: " "))")
    }

    /// Why a start failed at `stage` with errno `code`; `launch` nil for an adopted attempt (its command unknown).
    private static func startFailure(stage: Int32, code: Int32, launch: AttemptLaunch?) -> String {
        guard let known = SpawnError.Stage(rawValue: stage) else {
            return "its watcher reported an unknown start failure (stage \(stage), errno \(code))"
        }
        let error = SpawnError(
            stage: known, code: code, executable: launch?.argv.first ?? "its command", workdir: launch?.workdir)
        var reason = error.description
        if let user = launch?.user, !user.isCurrent, known == .chdir || known == .exec {
            reason += " (steps run as \(user.name))"
        }
        return reason
    }

    /// Once the attempt's watcher has exited: its recorded ending, the cgroup's accounting (then the
    /// cgroup is removed) and the outputs. Nil while it runs.
    public func poll(_ attempt: RunningAttempt) -> AttemptExit? {
        if attempt.isChild {
            guard ChildProcess(pid: attempt.watcher).poll() != nil else { return nil }
        } else if let fd = attempt.waitFD {
            guard !Poller.wait([fd], timeout: 0).isEmpty else { return nil }
        } else if let (pid, start) = ShimProtocol.parse(attempt.externalID),
            ProcessIdentity.isAlive(pid, startedAt: start)
        {
            return nil
        }
        return collect(attempt)
    }

    /// Reads what an ended attempt left: the status file, the cgroup, the outputs.
    private func collect(_ attempt: RunningAttempt) -> AttemptExit {
        let status = ShimProtocol.readStatus(attempt.statusDirectory, name: attempt.record.logName + ".status")
        var usage: CgroupUsage?
        if let cgroup = attempt.cgroup, let backend = control.backend {
            // A watcher that recorded the ending emptied the cgroup first; otherwise empty it here. Removal
            // (which still kills whatever is left if the kernel reports the cgroup busy) waits for `tidy`.
            if status?.state != "ended" { backend.killAll(cgroup) }
            usage = backend.usage(cgroup)
            // Reused only when it held what this executor wrote (an adopted attempt's limits are not known).
            leftovers.add(cgroup, limits: status?.state == "ended" ? attempt.launch.map(Self.cgroupLimits) : nil)
        }
        guard let status, status.state == "ended" else {
            // The watcher died without a word: stop what may still run of the step; its ending is unknown.
            if let pid = status?.pid, pid > 0 { kill(-pid, SIGKILL) }
            var exit = AttemptExit(
                status: .unknown, usage: usage, wallSeconds: 0, droppedLogBytes: 0)
            exit.recordProblem = "its watcher (sluice-shim) ended without recording how the step ended"
            attempt.outputFile?.remove()
            return exit
        }
        if let failed = status.startFailed {
            // Its exec failed after its release, or it was never released (its engine died first).
            var exit = AttemptExit(status: .unknown, usage: usage, wallSeconds: 0, droppedLogBytes: 0)
            exit.startFailure = Self.startFailure(stage: failed.stage, code: failed.errno, launch: attempt.launch)
            attempt.outputFile?.remove()
            return exit
        }
        let processExit = ProcessExit(
            exitCode: status.exitCode, signal: status.signal, userCPU: status.userCpu ?? 0,
            systemCPU: status.systemCpu ?? 0, maxRSSBytes: status.maxRssBytes ?? 0)
        var exit = AttemptExit(
            status: processExit, usage: usage, wallSeconds: status.wallSeconds ?? 0,
            droppedLogBytes: (status.droppedStdout ?? 0) + (status.droppedStderr ?? 0))
        exit.stop = status.stop
        exit.killed = status.killed ?? false
        exit.endedAt = status.endedAt
        var problems: [String] = []
        var outOfSpace = false
        let logs = [(status.writeErrorStdout, ".out"), (status.writeErrorStderr, ".err")]
        for (code, suffix) in logs {
            if let code, code != 0 {
                outOfSpace = outOfSpace || code == ENOSPC || code == EDQUOT
                problems.append(
                    "its log \(attempt.record.logDirectory)/\(attempt.record.logName)\(suffix) could not be written (\(String(cString: strerror(code))))"
                )
            }
        }
        switch attempt.outputFile?.read() {
        case .success(let bytes)?: exit.outputBytes = bytes
        case .failure(let error)?: problems.append(error.description)
        case nil: break
        }
        if let space = DiskSpace.of(fd: attempt.statusDirectory.fd), space.isFull, problems.isEmpty {
            problems.append("its logs and $SLUICE_OUTPUT may be incomplete")
        }
        if !problems.isEmpty {
            exit.recordProblem =
                problems.joined(separator: "; ") + Self.diskNote(attempt.statusDirectory, ranOut: outOfSpace)
        }
        return exit
    }

    /// Stops the attempt through its watcher: SIGTERM (it sends SIGTERM, then SIGKILL after the grace
    /// period, to the step's group and cgroup), or SIGUSR1 (SIGKILL at once).
    public func stop(_ attempt: RunningAttempt, now: Bool) {
        let signal = now ? SIGUSR1 : SIGTERM
        if let exitFD = attempt.exitFD {
            _ = sluice_pidfd_send_signal(exitFD, signal)
        } else if let (pid, start) = ShimProtocol.parse(attempt.externalID),
            ProcessIdentity.isAlive(pid, startedAt: start)
        {
            kill(pid, signal)
        }
    }

    /// Finds an attempt from its record: still watched (adopted), ended (its status file says how), or lost.
    public func adopt(_ record: AttemptRecord) -> Adoption {
        guard let (shim, start) = ShimProtocol.parse(record.externalID),
            let directory = try? SecureDirectory.open(record.logDirectory)
        else {
            return .lost("it has no watcher on record (it never started, or started elsewhere)")
        }
        let cgroup = record.cgroupName.map { AttemptCgroup(name: $0, directories: record.cgroupDirectories) }
        let output = record.outputPath.flatMap {
            OutputFile.reopen(
                path: $0, owner: uid_t(record.outputOwner ?? UInt32(geteuid())),
                isPrivate: !$0.hasPrefix(record.logDirectory))
        }
        var status = ShimProtocol.readStatus(directory, name: record.logName + ".status")
        // A watcher caught starting the step (its engine died then) is given time to say how that went.
        let deadline = MonotonicClock.now() + 10
        while status?.state == "starting" && ProcessIdentity.isAlive(shim, startedAt: start)
            && MonotonicClock.now() < deadline
        {
            _ = Poller.wait([], timeout: 0.01)
            status = ShimProtocol.readStatus(directory, name: record.logName + ".status")
        }
        let alive = ProcessIdentity.isAlive(shim, startedAt: start)
        let pidfd = alive ? ChildProcess(pid: shim).exitDescriptor() : nil
        // Checked again after the pidfd is open: a watcher that ended in between is read as ended.
        let stillAlive = alive && ProcessIdentity.isAlive(shim, startedAt: start)
        // A watcher writes its last state before it exits: one found gone is read again, or a state read just
        // before its last write (a held step's "starting", as its engine's death ends it) would be taken for its
        // last word.
        if !stillAlive { status = ShimProtocol.readStatus(directory, name: record.logName + ".status") }
        if stillAlive, status?.state == "starting" {
            kill(shim, SIGUSR1)  // stuck starting: stop whatever it started rather than risk a second copy
        }
        if stillAlive, let pid = status?.pid {
            let attempt = RunningAttempt(
                externalID: record.externalID, pid: pid, exitFD: pidfd, record: record, watcher: shim, isChild: false,
                statusDirectory: directory, cgroup: cgroup, outputFile: output)
            return .running(attempt)
        }
        if let pidfd { close(pidfd) }
        if status?.startFailed?.stage == SpawnError.Stage.release.rawValue {
            if let cgroup, let backend = control.backend { try? backend.remove(cgroup) }
            output?.remove()
            return .neverStarted("it was set up, and its engine stopped before releasing it")
        }
        guard let status, status.state == "ended" else {
            if let pid = status?.pid, pid > 0 {
                kill(-pid, SIGKILL)
                if let cgroup, let backend = control.backend { backend.killAll(cgroup) }
            }
            if let cgroup, let backend = control.backend { try? backend.remove(cgroup) }
            output?.remove()
            return .lost(
                status == nil
                    ? "its watcher never started it"
                    : "its watcher (pid \(shim)) ended without recording how the step ended; what was left of it was stopped"
            )
        }
        let attempt = RunningAttempt(
            externalID: record.externalID, pid: status.pid ?? 0, exitFD: nil, record: record, watcher: shim,
            isChild: false, statusDirectory: directory, cgroup: cgroup, outputFile: output)
        return .ended(collect(attempt), attempt)
    }

    /// The record of an attempt whose start was never recorded (its engine died right after starting it):
    /// what its watcher's status file says; nil when there is none (then it never started). Its cgroup is
    /// not known this way and stays behind, empty, until an engine removes it (`removeLeftoverCgroups`).
    public static func recordFromStatus(logDirectory: String, logName: String) -> AttemptRecord? {
        guard let directory = try? SecureDirectory.open(logDirectory),
            let status = ShimProtocol.readStatus(directory, name: logName + ".status")
        else { return nil }
        let start = ProcessIdentity.startTime(status.shimPid) ?? 0
        let output = logDirectory + "/" + logName + ".output"
        return AttemptRecord(
            externalID: ShimProtocol.externalID(shim: status.shimPid, start: start), logDirectory: logDirectory,
            logName: logName, cgroupName: nil, cgroupDirectories: [],
            outputPath: FileSystem.exists(output) ? output : nil,
            outputOwner: UInt32(geteuid()))
    }

    /// True while the watcher named by an attempt's external id still runs (on this host).
    public static func watcherIsAlive(_ externalID: String) -> Bool {
        guard let (pid, start) = ShimProtocol.parse(externalID) else { return false }
        return ProcessIdentity.isAlive(pid, startedAt: start)
    }

    /// Lets go of an attempt whose ending is recorded. Its status file stays beside its logs, as the watcher's
    /// own record of how it ended (removing it would cost every step a file system write for nothing).
    public func release(_ attempt: RunningAttempt) {}

    /// The cgroups of the attempts collected since the last call are kept for the next attempts, or removed.
    public func tidy() { leftovers.tidy() }

    /// Removes the cgroups kept for reuse and those put off.
    public func drain() { leftovers.drain() }

    /// What an attempt's cgroup enforces.
    static func cgroupLimits(_ launch: AttemptLaunch) -> CgroupLimits {
        CgroupLimits(
            memoryBytes: launch.limits.memoryBytes, cpus: launch.limits.cpus, maxProcesses: launch.limits.maxProcesses)
    }

    /// Removes the empty attempt cgroups that engines now gone left under the parents, for ended runs.
    public func removeLeftoverCgroups(tag: String, ended: ([Int64]) throws -> Set<Int64>) rethrows -> Int {
        guard let backend = control.backend else { return 0 }
        let orphans = backend.orphans(tag: tag)
        guard !orphans.isEmpty else { return 0 }
        let over = try ended(Array(Set(orphans.map(\.runID))).sorted())
        return orphans.filter { over.contains($0.runID) && backend.removeIfEmpty($0.cgroup) }.count
    }

    /// Starts an attempt and waits for it to end (tools and tests).
    public func runToEnd(_ launch: AttemptLaunch) throws(LaunchFailure) -> AttemptExit {
        let running = try start(launch)
        while true {
            if let exit = poll(running) {
                release(running)
                tidy()
                return exit
            }
            _ = Poller.wait(running.waitFD.map { [$0] } ?? [], timeout: running.waitFD == nil ? 0.05 : nil)
        }
    }

    /// "; the disk of DIR is full (0 B free of 64.0 MiB)" when it is (or a write ran out of space), else "".
    static func diskNote(_ directory: SecureDirectory, ranOut: Bool = false) -> String {
        guard let space = DiskSpace.of(fd: directory.fd), space.isFull || ranOut else { return "" }
        return
            "; the disk of \(directory.path) is full (\(Units.formatBytes(space.available)) free of \(Units.formatBytes(space.total)))"
    }
}
