import Synchronization

/// The cgroups of collected attempts, emptied and read, whose removal is put off until the engine has started
/// what comes next (`Executor.tidy`): removing a v1 cgroup in four hierarchies costs a chain's critical path
/// about 0.07 ms per step. Whatever is still here when the executor goes is removed then.
final class CgroupLeftovers: Sendable {
    private let backend: (any CgroupBackend)?
    private let pending = Mutex<[AttemptCgroup]>([])

    init(backend: (any CgroupBackend)?) { self.backend = backend }

    deinit { removeAll() }

    /// Puts off the removal of `cgroup`.
    func add(_ cgroup: AttemptCgroup) {
        pending.withLock { $0.append(cgroup) }
    }

    /// Removes every cgroup put off; one that cannot be removed (a member that outlives 200 rounds of SIGKILL)
    /// is left where it is.
    func removeAll() {
        guard let backend else { return }
        let cgroups = pending.withLock { list in
            defer { list = [] }
            return list
        }
        for cgroup in cgroups { try? backend.remove(cgroup) }
    }
}
