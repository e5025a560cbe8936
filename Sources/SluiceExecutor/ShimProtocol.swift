import Foundation
import SluiceBasics
import SluiceModel

/// How the engine talks to `sluice-shim`: the launch specification it writes, and the status file the
/// shim keeps (see `Sources/sluice-shim/main.c`).
enum ShimProtocol {
    /// The shim's executable: `$SLUICE_SHIM`, else `sluice-shim` beside this executable, else on PATH.
    static let executable: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["SLUICE_SHIM"], !explicit.isEmpty { return explicit }
        if let me = try? FileSystem.realPath("/proc/self/exe") {
            var directory = (me as NSString).deletingLastPathComponent
            if directory.hasSuffix(".xctest") { directory = (directory as NSString).deletingLastPathComponent }
            let beside = directory + "/sluice-shim"
            if access(beside, X_OK) == 0 { return beside }
        }
        return ExecutableLookup.resolve("sluice-shim", path: environment["PATH"])
    }()

    /// The specification: records `key=LENGTH:BYTES\n`, so any byte may appear in a value.
    static func specification(
        _ launch: AttemptLaunch, executable: String, environment: [String], rlimits: [ResourceLimit],
        cgroupDirectories: [String], cgroupFDs: Int, cgroupKill: Bool = false, hold: Bool = false
    ) -> [UInt8] {
        var out: [UInt8] = []
        func add(_ key: String, _ value: String) {
            let bytes = Array(value.utf8)
            out += Array("\(key)=\(bytes.count):".utf8) + bytes + [10]
        }
        add("path", executable)
        for argument in launch.argv { add("argv", argument) }
        for entry in environment { add("env", entry) }
        add("cwd", launch.workdir)
        if let user = launch.user, !user.isCurrent {
            add("uid", String(user.uid))
            add("gid", String(user.gid))
            for group in user.groups { add("group", String(group)) }
        }
        for limit in rlimits {
            add(
                "rlimit",
                "\(limit.resource) \(limit.soft.map(String.init) ?? "-") \(limit.hard.map(String.init) ?? "-")")
        }
        if let timeout = launch.timeout { add("timeout", String(timeout)) }
        add("grace", String(launch.gracePeriod))
        if let limit = launch.logLimit {
            add("log_limit", String(limit))
            add("cut_marker", "\n[sluice: output cut here: the log limit is \(Units.formatBytes(limit)) per stream]\n")
        }
        for secret in Set(launch.maskedValues) where secret.utf8.count >= 4 { add("mask", secret) }
        add("status", launch.statusName)
        add("stdout", launch.logName + ".out")
        add("stderr", launch.logName + ".err")
        add("log_mode", String(launch.logMode, radix: 8))
        for directory in cgroupDirectories { add("cgroup_dir", directory) }
        if cgroupKill { add("cgroup_kill", "1") }
        add("cgroup_fds", String(cgroupFDs))
        if hold { add("hold", "1") }
        return out
    }

    /// What the shim wrote in its status file.
    struct Status: Decodable {
        struct StartFailure: Decodable {
            let stage: Int32
            let errno: Int32
        }
        let state: String
        let shimPid: Int32
        let pid: Int32?
        let exitCode: Int32?
        let signal: Int32?
        let userCpu: Double?
        let systemCpu: Double?
        let maxRssBytes: Int64?
        let wallSeconds: Double?
        let stop: String?
        let killed: Bool?
        let droppedStdout: Int64?
        let droppedStderr: Int64?
        let writeErrorStdout: Int32?
        let writeErrorStderr: Int32?
        let startFailed: StartFailure?
        let endedAt: Double?

        // Spelled out rather than converted from snake case by the decoder at every read (one read per attempt
        // at least, on the engine's critical path).
        enum CodingKeys: String, CodingKey {
            case state, pid, signal, stop, killed
            case shimPid = "shim_pid"
            case exitCode = "exit_code"
            case userCpu = "user_cpu"
            case systemCpu = "system_cpu"
            case maxRssBytes = "max_rss_bytes"
            case wallSeconds = "wall_seconds"
            case droppedStdout = "dropped_stdout"
            case droppedStderr = "dropped_stderr"
            case writeErrorStdout = "write_error_stdout"
            case writeErrorStderr = "write_error_stderr"
            case startFailed = "start_failed"
            case endedAt = "ended_at"
        }
    }

    /// Reads the status file; nil when there is none (yet) or it cannot be read.
    static func readStatus(_ directory: SecureDirectory, name: String) -> Status? {
        let decoder = JSONDecoder()
        // The shim rewrites the file in place; a read that caught a write half-done is read again.
        for _ in 0..<100 {
            guard let bytes = try? directory.readFile(name, limit: 1 << 16) else { return nil }
            if let status = try? decoder.decode(Status.self, from: Data(bytes)) { return status }
            _ = Poller.wait([], timeout: 0.001)
        }
        return nil
    }

    /// `shim:<pid>:<start ticks>`.
    static func externalID(shim: pid_t, start: UInt64) -> String { "shim:\(shim):\(start)" }

    /// The shim's pid and start time from an external id.
    static func parse(_ externalID: String) -> (pid: pid_t, start: UInt64)? {
        let parts = externalID.split(separator: ":")
        guard parts.count == 3, parts[0] == "shim", let pid = pid_t(parts[1]), let start = UInt64(parts[2]) else {
            return nil
        }
        return (pid, start)
    }
}
