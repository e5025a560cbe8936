import Foundation
import SluiceModel
import SluiceSpec

/// How times, durations and sizes are written in tables.
enum Formatting {
    /// `0.82s`, `3m04s`, `1h02m`; `-` for nil.
    static func duration(_ seconds: Double?) -> String {
        guard let seconds, seconds >= 0 else { return "-" }
        if seconds < 60 { return String(format: "%.2fs", seconds) }
        let total = Int(seconds.rounded())
        if total < 3600 { return String(format: "%dm%02ds", total / 60, total % 60) }
        return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60)
    }

    /// Local time as `2026-11-22 22:19:03`; `-` for nil.
    static func time(_ date: Date?) -> String {
        guard let date else { return "-" }
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        localtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    /// Local wall-clock time as `22:19:03`.
    static func clock(_ date: Date = Date()) -> String { String(time(date).suffix(8)) }

    /// `512.0 MiB`, `1.5 GiB`; `-` when unknown.
    static func bytes(_ value: Int64?) -> String { value.map(Units.formatBytes) ?? "-" }
}
