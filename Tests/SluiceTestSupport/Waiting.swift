import Foundation
import SluiceBasics

/// Waits for a condition another process brings about, checking it every few milliseconds until a deadline.
///
/// This is synchronisation on an observable fact (a file appears, a process goes), never a fixed sleep; the
/// deadline only turns a broken build's hang into a failure.
public enum Waiting {
    /// True once `condition` holds; false if `timeout` seconds pass first.
    public static func until(timeout: Double = 60, _ condition: () -> Bool) -> Bool {
        let deadline = MonotonicClock.now() + timeout
        while !condition() {
            if MonotonicClock.now() > deadline { return false }
            _ = Poller.wait([], timeout: 0.01)
        }
        return true
    }

    /// True once a file exists at `path`.
    public static func forFile(_ path: String, timeout: Double = 60) -> Bool {
        until(timeout: timeout) { FileSystem.exists(path) }
    }
}

/// Live processes whose command line contains `text`.
public func processes(withCommandLineContaining text: String) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { pid_t($0) }.filter { pid in
        guard let bytes = try? FileSystem.readBytes("/proc/\(pid)/cmdline", limit: 1 << 16),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"), stat.index(close, offsetBy: 2) < stat.endIndex,
            stat[stat.index(close, offsetBy: 2)] != "Z"
        else { return false }
        return String(decoding: bytes.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text)
    }
}
