import Foundation
import SluiceBasics
import SluiceModel

/// Numbers, instants and bars as cost reports print them.
enum CostFormat {
    /// `12.40` for larger amounts, `0.0123` or `0.000005` for small ones (short steps cost fractions of a cent).
    static func money(_ value: Double) -> String {
        let size = abs(value)
        return String(format: size >= 10 ? "%.2f" : size >= 0.01 || size == 0 ? "%.4f" : "%.6f", value)
    }

    /// `2026-11-23 14:00` (UTC) or the date alone at midnight.
    static func instant(_ date: Date) -> String {
        let text = RFC3339.string(date)
        let day = String(text.prefix(10))
        let time = String(text.dropFirst(11).prefix(5))
        return time == "00:00" ? day : "\(day) \(time)"
    }

    /// A bar of up to `width` blocks for `value` out of `maximum`, with eighths for the remainder.
    static func bar(_ value: Double, of maximum: Double, width: Int = 30) -> String {
        guard maximum > 0, value > 0 else { return "" }
        let eighths = Int((value / maximum * Double(width) * 8).rounded())
        let partial = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        let text = String(repeating: "█", count: eighths / 8) + partial[eighths % 8]
        return text.isEmpty ? "▏" : text
    }

    /// A ratio as a percentage: `42%`, or `-`.
    static func percent(_ ratio: Double?) -> String {
        guard let ratio, ratio.isFinite else { return "-" }
        return "\(Int((ratio * 100).rounded()))%"
    }

    /// Cores, `1.25`.
    static func cores(_ value: Double?) -> String { value.map { Units.formatNumber($0) } ?? "-" }

    /// A number with at most 6 decimals, for CSV.
    static func plain(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "" }
        var text = String(format: "%.6f", value)
        while text.contains(".") && (text.hasSuffix("0") || text.hasSuffix(".")) { text.removeLast() }
        return text
    }
}

/// RFC 4180 CSV: fields with commas, quotes or line breaks quoted, quotes doubled.
enum CSV {
    /// The rows as CSV text, one line each (LF-terminated; readers take LF as well as CRLF).
    static func render(_ rows: [[String]]) -> String {
        rows.map { row in
            row.map { field in
                field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                    ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
            }.joined(separator: ",")
        }.joined(separator: "\n") + "\n"
    }
}
