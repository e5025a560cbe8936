import CSpawn
import Foundation

/// How a child process ended, with the resources it used.
public struct ProcessExit: Sendable, Equatable {
    /// The exit code, when the process exited.
    public let exitCode: Int32?
    /// The terminating signal, when a signal killed it.
    public let signal: Int32?
    /// User CPU seconds.
    public let userCPU: Double
    /// System CPU seconds.
    public let systemCPU: Double
    /// Peak resident set size in bytes.
    public let maxRSSBytes: Int64

    /// True for exit code 0.
    public var succeeded: Bool { exitCode == 0 }

    /// An ending that could not be observed (the child was reaped elsewhere).
    public static let unknown = ProcessExit(
        exitCode: nil, signal: nil, userCPU: 0, systemCPU: 0, maxRSSBytes: 0)

    /// Creates a status from its parts.
    public init(exitCode: Int32?, signal: Int32?, userCPU: Double, systemCPU: Double, maxRSSBytes: Int64) {
        self.exitCode = exitCode
        self.signal = signal
        self.userCPU = userCPU
        self.systemCPU = systemCPU
        self.maxRSSBytes = maxRSSBytes
    }

    /// Decodes a wait status and rusage.
    init(status: Int32, usage: rusage) {
        let termsig = status & 0x7f
        if termsig == 0 {
            exitCode = (status >> 8) & 0xff
            signal = nil
        } else {
            exitCode = nil
            signal = termsig
        }
        userCPU = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        systemCPU = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        maxRSSBytes = Int64(usage.ru_maxrss) * 1024
    }
}

/// A started child process, identified by its pid (and process group, which has the same id).
public struct ChildProcess: Sendable, Hashable {
    /// The process id, which is also its process group id.
    public let pid: pid_t

    /// Starts a process as described; throws `SpawnError` when it could not start.
    public static func spawn(_ request: SpawnRequest) throws(SpawnError) -> ChildProcess {
        var failure = sluice_spawn_failure()
        let pid: pid_t = withCStrings(request.arguments) { argv in
            withCStrings(request.environment) { envp in
                request.executable.withCString { path in
                    withOptionalCString(request.workdir) { cwd in
                        withOptionalCString(request.bindMount?.source) { bindSource in
                            withOptionalCString(request.bindMount?.target) { bindTarget in
                                var c = sluice_spawn_request()
                                c.path = path
                                c.argv = argv
                                c.envp = envp
                                c.cwd = cwd
                                c.stdin_fd = request.stdin ?? -1
                                c.stdout_fd = request.stdout ?? -1
                                c.stderr_fd = request.stderr ?? -1
                                c.new_session = request.newSession ? 1 : 0
                                if let ids = request.credentials {
                                    c.set_ids = 1
                                    c.uid = ids.uid
                                    c.gid = ids.gid
                                }
                                c.die_with_parent = request.dieWithParent ? 1 : 0
                                c.bind_source = bindSource
                                c.bind_target = bindTarget
                                let limits = request.limits.map { limit in
                                    sluice_rlimit(
                                        resource: limit.resource, soft: limit.soft.map { rlim_t($0) } ?? rlim_t.max,
                                        hard: limit.hard.map { rlim_t($0) } ?? rlim_t.max)
                                }
                                return request.cgroupProcs.withUnsafeBufferPointer { fds in
                                    limits.withUnsafeBufferPointer { rlimits in
                                        request.groups.withUnsafeBufferPointer { groups in
                                            request.inheritedDescriptors.withUnsafeBufferPointer { inherited in
                                                c.cgroup_fds = fds.baseAddress
                                                c.cgroup_fd_count = Int32(fds.count)
                                                c.rlimits = rlimits.baseAddress
                                                c.rlimit_count = Int32(rlimits.count)
                                                c.groups = groups.baseAddress
                                                c.group_count = Int32(groups.count)
                                                c.inherit_fds = inherited.baseAddress
                                                c.inherit_fd_count = Int32(inherited.count)
                                                return sluice_spawn(&c, &failure)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        guard pid > 0 else {
            throw SpawnError(
                stage: SpawnError.Stage(rawValue: failure.stage) ?? .exec, code: failure.error,
                executable: request.executable, workdir: request.workdir)
        }
        return ChildProcess(pid: pid)
    }

    /// Creates a handle for an already-running child.
    public init(pid: pid_t) { self.pid = pid }

    /// A descriptor that becomes readable when the child exits (a pidfd); nil where the kernel has none.
    public func exitDescriptor() -> Int32? {
        let fd = sluice_pidfd_open(pid)
        return fd >= 0 ? fd : nil
    }

    /// Reaps the child if it has ended; nil while it still runs.
    public func poll() -> ProcessExit? { reap(options: WNOHANG) }

    /// Reaps the child if it has ended, first killing whatever it left running in its process group.
    ///
    /// The exit is noticed without reaping (`WNOWAIT`), so the zombie still holds the group id and the
    /// kill cannot reach an unrelated process that reused it.
    public func pollKillingGroup() -> ProcessExit? {
        let exited = sluice_has_exited(pid)
        if exited == 0 { return nil }
        if exited == 1 { kill(-pid, SIGKILL) }
        return reap(options: WNOHANG) ?? wait()
    }

    /// Blocks until the child ends and reaps it.
    public func wait() -> ProcessExit {
        while true {
            if let status = reap(options: 0) { return status }
        }
    }

    /// Sends a signal to the child's whole process group.
    public func signalGroup(_ signal: Int32) {
        if kill(-pid, signal) != 0 && errno == ESRCH {
            kill(pid, signal)
        }
    }

    private func reap(options: Int32) -> ProcessExit? {
        var status: Int32 = 0
        var usage = rusage()
        let result = wait4(pid, &status, options, &usage)
        if result == pid { return ProcessExit(status: status, usage: usage) }
        if result < 0 && errno == ECHILD {
            // Already reaped elsewhere: report an unknown ending rather than hang.
            return .unknown
        }
        return nil
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Calls `body` with a C string, or nil.
func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}

/// Tells a process from a later one that reused its pid: the start time the kernel keeps for it.
public enum ProcessIdentity {
    /// The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22); nil when it is gone.
    public static func startTime(_ pid: pid_t) -> UInt64? {
        guard let bytes = try? FileSystem.readBytes("/proc/\(pid)/stat", limit: 4096) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        // After "(comm)": state is field 3, so starttime (field 22) is the 20th after the parenthesis.
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    /// True when `pid` is alive and is the process that started at `startTime`.
    public static func isAlive(_ pid: pid_t, startedAt startTime: UInt64) -> Bool {
        guard pid > 0, let now = ProcessIdentity.startTime(pid) else { return false }
        return now == startTime && !isZombie(pid)
    }

    /// True when `pid` has exited and waits to be reaped.
    public static func isZombie(_ pid: pid_t) -> Bool {
        guard let bytes = try? FileSystem.readBytes("/proc/\(pid)/stat", limit: 4096) else { return false }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return false }
        return text[text.index(after: close)...].split(separator: " ").first == "Z"
    }
}
