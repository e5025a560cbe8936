/// How an attempt ended, with what it used.
public struct AttemptEnding: Sendable, Equatable {
    /// The final state.
    public let state: AttemptState
    /// The exit code, for `exited`.
    public let exitCode: Int32?
    /// The signal, for `killed`.
    public let signal: Int32?
    /// A message a data scientist can act on.
    public var message: String?
    /// Wall-clock seconds from start to end.
    public let wallSeconds: Double?
    /// User CPU seconds.
    public let userCPU: Double?
    /// System CPU seconds.
    public let systemCPU: Double?
    /// Peak resident memory in bytes.
    public let maxRSSBytes: Int64?
    /// What the attempt reported in `$SLUICE_OUTPUT`, if anything.
    public var outputs: [String: String]?
    /// Where the usage figures come from: `cgroup` accounting or `rusage` from wait4.
    public var usageSource: String?
    /// True when the process exited 0 but what it wrote could not all be kept (a full disk): not a success.
    public var incomplete = false
    /// Things worth knowing that did not fail the attempt, such as a malformed `$SLUICE_OUTPUT` line.
    public var warnings: [String] = []
    /// Seconds between its end (as its watcher saw it) and this record, for an ending found late (after the
    /// engine that watched it had died): it is recorded as having ended then, not when it was found.
    public var endedSecondsAgo: Double?

    /// True for a clean exit whose logs and outputs were all kept.
    public var succeeded: Bool { state == .exited && exitCode == 0 && !incomplete }

    /// Creates an ending.
    public init(
        state: AttemptState, exitCode: Int32? = nil, signal: Int32? = nil, message: String? = nil,
        wallSeconds: Double? = nil, userCPU: Double? = nil, systemCPU: Double? = nil, maxRSSBytes: Int64? = nil
    ) {
        self.state = state
        self.exitCode = exitCode
        self.signal = signal
        self.message = message
        self.wallSeconds = wallSeconds
        self.userCPU = userCPU
        self.systemCPU = systemCPU
        self.maxRSSBytes = maxRSSBytes
    }
}

/// What an attempt asked for and how it was enforced, recorded when it begins.
public struct AttemptRequest: Sendable, Equatable {
    /// CPU cores.
    public var cpus: Double?
    /// Memory in bytes.
    public var memoryBytes: Int64?
    /// GPUs.
    public var gpus: Int?
    /// Most processes.
    public var maxProcesses: Int?
    /// The GPU indices it was given (`CUDA_VISIBLE_DEVICES`).
    public var gpuIDs: [Int]
    /// `cgroup v1`, `cgroup v2` or `rlimit`.
    public var enforcement: String?

    /// Creates a request record.
    public init(
        cpus: Double? = nil, memoryBytes: Int64? = nil, gpus: Int? = nil, maxProcesses: Int? = nil,
        gpuIDs: [Int] = [], enforcement: String? = nil
    ) {
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.gpus = gpus
        self.maxProcesses = maxProcesses
        self.gpuIDs = gpuIDs
        self.enforcement = enforcement
    }
}

/// How an attempt's process was started, as recorded when it runs: its pid and the executor's handle on it.
public struct AttemptStart: Sendable, Equatable {
    /// The step's process id.
    public var pid: Int32
    /// The executor's id for it (`shim:<pid>:<start ticks>` for the local executor, a Slurm job id).
    public var externalID: String?
    /// The executor's record of it, as JSON.
    public var executorState: String?
    /// Seconds between its start (as the engine learned of it) and this record, when recorded late.
    public var secondsAgo: Double?

    /// Creates a start record.
    public init(pid: Int32, externalID: String?, executorState: String?, secondsAgo: Double? = nil) {
        self.pid = pid
        self.externalID = externalID
        self.executorState = executorState
        self.secondsAgo = secondsAgo
    }
}
