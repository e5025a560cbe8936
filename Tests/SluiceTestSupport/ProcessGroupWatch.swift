import Foundation
import SluiceBasics

/// Finds the live (non-zombie) members of a process group through /proc, and waits for them to exit.
public enum ProcessGroupWatch {
    /// Pids whose process group is `pgid` and that are not zombies.
    public static func liveMembers(of pgid: pid_t) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            // Fields after "(comm)": state, ppid, pgrp, ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && fields[0] != "Z" && fields[2] == "\(pgid)"
        }
    }

    /// Waits (on pidfds, up to `timeout` seconds) until no live member remains; returns the survivors.
    public static func waitUntilEmpty(_ pgid: pid_t, timeout: Double = 10) -> [pid_t] {
        let deadline = MonotonicClock.now() + timeout
        while true {
            let members = liveMembers(of: pgid)
            let remaining = deadline - MonotonicClock.now()
            if members.isEmpty || remaining <= 0 { return members }
            let fds = members.compactMap { ChildProcess(pid: $0).exitDescriptor() }
            defer { for fd in fds { close(fd) } }
            if fds.isEmpty { return liveMembers(of: pgid) }
            _ = Poller.wait(fds, timeout: min(remaining, 1))
        }
    }
}
