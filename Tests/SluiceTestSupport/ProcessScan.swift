import Foundation
import SluiceBasics

/// Finds live processes through /proc, for tests that check nothing a step started survived it.
public enum ProcessScan {
    /// Live (non-zombie) processes whose environment holds `entry` (`KEY=value`).
    public static func withEnvironment(_ entry: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard let environ = try? FileSystem.readBytes("/proc/\(pid)/environ"),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")"), stat.index(close, offsetBy: 2) < stat.endIndex,
                stat[stat.index(close, offsetBy: 2)] != "Z"
            else { return false }
            return environ.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == entry }
        }
    }
}
