import Foundation

/// Everything needed to start one child process.
public struct SpawnRequest: Sendable {
    /// The executable; absolute, or relative to `workdir`.
    public var executable: String
    /// argv, including argv[0].
    public var arguments: [String]
    /// The child's whole environment, as `KEY=value` strings.
    public var environment: [String]
    /// Working directory, or nil to inherit.
    public var workdir: String?
    /// Descriptor for stdin, or nil for /dev/null.
    public var stdin: Int32?
    /// Descriptor for stdout, or nil for /dev/null.
    public var stdout: Int32?
    /// Descriptor for stderr, or nil for /dev/null.
    public var stderr: Int32?
    /// True for a new session (a daemon); false for a new process group.
    public var newSession: Bool
    /// Run as this user and group instead of the caller's.
    public var credentials: (uid: uid_t, gid: gid_t)?
    /// Bind-mount `source` on `target` in a private mount namespace before exec.
    public var bindMount: (source: String, target: String)?

    /// A request with /dev/null for stdio, a new process group and the caller's identity.
    public init(
        executable: String, arguments: [String], environment: [String], workdir: String? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workdir = workdir
        self.stdin = nil
        self.stdout = nil
        self.stderr = nil
        self.newSession = false
        self.credentials = nil
        self.bindMount = nil
    }
}
