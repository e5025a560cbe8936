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
    /// The supplementary groups to run with when `credentials` are set (none when empty).
    public var groups: [gid_t]
    /// Kill the child (SIGKILL) if the thread that spawned it exits first: for helpers that must not outlive us.
    public var dieWithParent: Bool
    /// Bind-mount `source` on `target` in a private mount namespace before exec.
    public var bindMount: (source: String, target: String)?
    /// Descriptors open for writing on `cgroup.procs` files; the child joins each before exec.
    public var cgroupProcs: [Int32]
    /// Resource limits the child sets on itself just before exec.
    public var limits: [ResourceLimit]
    /// Descriptors the child keeps, as its fds 3, 4, … in this order; every other one is closed at exec.
    public var inheritedDescriptors: [Int32]

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
        self.groups = []
        self.dieWithParent = false
        self.bindMount = nil
        self.cgroupProcs = []
        self.limits = []
        self.inheritedDescriptors = []
    }
}

/// One `setrlimit` for a child: which resource, and its soft and hard values (nil for unlimited).
public struct ResourceLimit: Sendable, Equatable {
    /// The resource, such as `RLIMIT_NOFILE`.
    public let resource: Int32
    /// The soft limit; nil for unlimited.
    public let soft: UInt64?
    /// The hard limit; nil for unlimited.
    public let hard: UInt64?

    /// A limit with the same soft and hard value.
    public init(resource: Int32, value: UInt64?) {
        self.resource = resource
        soft = value
        hard = value
    }

    /// A limit with distinct soft and hard values.
    public init(resource: Int32, soft: UInt64?, hard: UInt64?) {
        self.resource = resource
        self.soft = soft
        self.hard = hard
    }
}
