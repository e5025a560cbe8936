/// Parsing and printing of the DAG language's units: memory sizes and durations.
public enum Units {
    /// Memory units and their size in bytes; binary (`Ki`) and decimal (`K`).
    static let memoryUnits: [(String, Double)] = [
        ("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776),
        ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12),
    ]

    /// Duration units and their length in seconds.
    static let durationUnits: [(Character, Double)] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]

    /// Bytes for `4Gi`, `512Mi`, `1.5G`; nil when the text is not a size with a unit.
    public static func memory(_ text: String) -> Int64? {
        for (unit, scale) in memoryUnits where text.hasSuffix(unit) {
            let number = String(text.dropLast(unit.count))
            guard isDecimal(number), let value = Double(number) else { return nil }
            let bytes = value * scale
            guard bytes >= 1, bytes < 9.2e18 else { return nil }
            return Int64(bytes.rounded())
        }
        return nil
    }

    /// A likely intended spelling for a memory size written with a wrong unit (`4GB` → `4Gi`).
    public static func memorySuggestion(_ text: String) -> String? {
        let digits = String(text.prefix { $0.isNumber || $0 == "." })
        guard !digits.isEmpty, isDecimal(digits) else { return nil }
        let unit = text.dropFirst(digits.count).lowercased().strip()
        let map = [
            "": "Mi", "k": "Ki", "kb": "Ki", "kib": "Ki", "m": "Mi", "mb": "Mi", "mib": "Mi", "g": "Gi",
            "gb": "Gi", "gib": "Gi", "t": "Ti", "tb": "Ti", "tib": "Ti",
        ]
        return map[unit].map { digits + $0 }
    }

    /// Seconds for `30s`, `10m`, `2h`, `1d` or a sum such as `1h30m`; nil otherwise.
    public static func duration(_ text: String) -> Double? {
        guard !text.isEmpty else { return nil }
        var total = 0.0
        var number = ""
        var lastRank = -1
        for char in text {
            if char.isASCII && char.isNumber {
                number.append(char)
                continue
            }
            guard !number.isEmpty, let rank = durationUnits.firstIndex(where: { $0.0 == char }), rank > lastRank,
                let value = Double(number)
            else { return nil }
            total += value * durationUnits[rank].1
            lastRank = rank
            number = ""
        }
        return number.isEmpty ? total : nil
    }

    /// The shortest exact spelling of a duration: `90` → `1m30s`.
    public static func formatDuration(_ seconds: Double) -> String {
        var rest = Int(seconds.rounded())
        if rest == 0 { return "0s" }
        var text = ""
        for (unit, size) in durationUnits {
            let count = rest / Int(size)
            if count > 0 { text += "\(count)\(unit)" }
            rest %= Int(size)
        }
        return text
    }

    /// A number as written in YAML: `2` for 2.0, `0.5` for 0.5.
    public static func formatNumber(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// A readable binary size: `4294967296` → `4.0 GiB`.
    public static func formatBytes(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var index = 0
        while value >= 1024 && index < units.count - 1 {
            value /= 1024
            index += 1
        }
        if index == 0 { return "\(bytes) B" }
        let tenths = (value * 10).rounded() / 10
        return "\(tenths) \(units[index])"
    }

    /// True for `12`, `1.5`, `.5`: digits with at most one dot.
    package static func isDecimal(_ text: String) -> Bool {
        var dots = 0
        var digits = 0
        for char in text {
            if char == "." { dots += 1 } else if char.isASCII && char.isNumber { digits += 1 } else { return false }
        }
        return digits > 0 && dots <= 1
    }
}

extension String {
    /// The string without leading and trailing characters from `set`.
    package func strip(_ set: String = " \t") -> String {
        let chars = Set(set)
        var slice = Substring(self)
        while let first = slice.first, chars.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, chars.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
