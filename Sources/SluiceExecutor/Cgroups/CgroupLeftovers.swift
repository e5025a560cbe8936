import Synchronization

/// The cgroups of collected attempts, emptied and read, whose clean-up is put off until the engine has started
/// what comes next (`Executor.tidy`); then each is made ready for another attempt where the interface allows
/// (`CgroupBackend.recycle`: v1, a clean cgroup), and kept for the next attempt, or else removed. Making and
/// removing a v1 cgroup in four hierarchies, and the kernel's release of its memory cgroup after, cost about
/// 0.3 ms of CPU per attempt; rewriting its limits costs nothing when they are the same. What is still here
/// when the executor goes (or `drain` is called) is removed.
final class CgroupLeftovers: Sendable {
    /// A cgroup with the limits it holds now (nil: not known, so not reused).
    typealias Held = (cgroup: AttemptCgroup, limits: CgroupLimits?)

    private let backend: (any CgroupBackend)?
    private let pending = Mutex<[Held]>([])
    private let idle = Mutex<[Held]>([])
    /// Most cgroups kept ready; more are removed.
    static let idleLimit = 16

    init(backend: (any CgroupBackend)?) { self.backend = backend }

    deinit { drain() }

    /// Puts off the clean-up of `cgroup`, which holds `limits` (nil when not known: it is removed then).
    func add(_ cgroup: AttemptCgroup, limits: CgroupLimits?) {
        pending.withLock { $0.append((cgroup, limits)) }
    }

    /// Keeps each cgroup put off for another attempt where it can be, and removes the rest; one that cannot be
    /// removed (a member that outlives 200 rounds of SIGKILL) is left where it is.
    func tidy() {
        guard let backend else { return }
        let cgroups = pending.withLock { list in
            defer { list = [] }
            return list
        }
        for held in cgroups {
            if held.limits != nil, idle.withLock({ $0.count }) < Self.idleLimit, backend.recycle(held.cgroup) {
                idle.withLock { $0.append(held) }
            } else {
                try? backend.remove(held.cgroup)
            }
        }
    }

    /// A cgroup ready for another attempt, with the limits it holds; nil when there is none.
    func take() -> (cgroup: AttemptCgroup, limits: CgroupLimits)? {
        idle.withLock { list in
            guard let held = list.popLast(), let limits = held.limits else { return nil }
            return (held.cgroup, limits)
        }
    }

    /// Removes every cgroup kept or put off.
    func drain() {
        guard let backend else { return }
        let all =
            pending.withLock { list in
                defer { list = [] }
                return list
            }
            + idle.withLock { list in
                defer { list = [] }
                return list
            }
        for held in all { try? backend.remove(held.cgroup) }
    }
}
