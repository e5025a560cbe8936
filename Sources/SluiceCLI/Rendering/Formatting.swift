import Foundation

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

    /// `512 MiB`, `1.5 GiB`.
    static func bytes(_ value: Int64?) -> String {
        guard let value else { return "-" }
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var size = Double(value)
        var unit = 0
        while size >= 1024 && unit < units.count - 1 {
            size /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.1f %@", size, units[unit])
    }
}
