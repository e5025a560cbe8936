import CSpawn
import Foundation

/// A child that could not be started, with the stage that failed and the errno it saw.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    /// The step of the start sequence that failed.
    public enum Stage: Int32, Sendable {
        case pipe = 1
        case fork, session, mount, stdio, chdir, credentials, exec, cgroup, limits
        /// Set up and held for its release, which never came (its engine stopped first): not exec'd.
        case release
    }

    /// Which stage failed.
    public let stage: Stage
    /// The errno value.
    public let code: Int32
    /// The executable that was being started.
    public let executable: String
    /// The working directory that was requested.
    public let workdir: String?

    /// Describes a failure at `stage` with errno `code`.
    public init(stage: Stage, code: Int32, executable: String, workdir: String?) {
        self.stage = stage
        self.code = code
        self.executable = executable
        self.workdir = workdir
    }

    /// The interpreter named by the executable's `#!` line, when the executable exists and that is what
    /// was not found (exec reports both as ENOENT).
    var missingInterpreter: String? {
        let path = executable.hasPrefix("/") || workdir == nil ? executable : workdir! + "/" + executable
        // Its first line only: O_NONBLOCK, as what is there may not be a regular file.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        let bytes = buffer.prefix(max(0, count))
        guard bytes.starts(with: Array("#!".utf8)) else { return nil }
        let line = String(decoding: bytes.dropFirst(2).prefix { $0 != 10 }, as: UTF8.self)
        guard let interpreter = line.split(separator: " ", omittingEmptySubsequences: true).first else { return nil }
        return FileSystem.exists(String(interpreter)) ? nil : String(interpreter)
    }

    /// A one-line, actionable reason.
    public var description: String {
        let reason = String(cString: strerror(code))
        switch stage {
        case .exec where code == ENOENT:
            if let interpreter = missingInterpreter {
                return "cannot execute \(executable): its interpreter \(interpreter) (from its #! line) was not found"
            }
            return "command not found: \(executable)"
        case .exec where code == EACCES: return "permission denied: \(executable) is not executable"
        case .exec: return "cannot execute \(executable): \(reason)"
        case .chdir: return "cannot enter working directory \(workdir ?? "?"): \(reason)"
        case .pipe, .fork: return "cannot start a process: \(reason)"
        case .session: return "cannot create a process group: \(reason)"
        case .mount: return "cannot set up a private mount namespace: \(reason)"
        case .stdio: return "cannot set up stdin/stdout/stderr: \(reason)"
        case .credentials: return "cannot switch user: \(reason)"
        case .cgroup: return "cannot join the attempt's cgroup: \(reason)"
        case .limits: return "cannot apply resource limits: \(reason)"
        case .release:
            return
                "it was never released: the engine that set it up stopped before its start was recorded, so it did not run"
        }
    }
}
