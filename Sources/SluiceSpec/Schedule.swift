/// A parsed `schedule`: five cron fields, each the set of values it matches.
public struct Schedule: Sendable, Hashable {
    /// The text as written.
    public let text: String
    /// Minutes 0–59.
    public let minutes: Set<Int>
    /// Hours 0–23.
    public let hours: Set<Int>
    /// Days of the month 1–31.
    public let daysOfMonth: Set<Int>
    /// Months 1–12.
    public let months: Set<Int>
    /// Days of the week 0–6, Sunday is 0.
    public let daysOfWeek: Set<Int>
    /// Whether day-of-month and day-of-week were both restricted (cron then matches either).
    public let eitherDay: Bool

    /// The `@` shortcuts and the cron line each stands for.
    public static let macros: [String: String] = [
        "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
        "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
    ]

    private static let fields: [(name: String, range: ClosedRange<Int>, names: [String])] = [
        ("minute", 0...59, []), ("hour", 0...23, []), ("day of month", 1...31, []),
        ("month", 1...12, ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
        ("day of week", 0...7, ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
    ]

    /// Parses a 5-field cron line or an `@` shortcut; the error says which field is wrong and why.
    public static func parse(_ text: String) -> Result<Schedule, ScheduleError> {
        let trimmed = text.strip()
        var line = trimmed
        if trimmed.hasPrefix("@") {
            guard let expanded = macros[trimmed.lowercased()] else {
                let hint = Suggestions.hint(for: trimmed.lowercased(), in: macros.keys.sorted())
                return .failure(
                    ScheduleError(
                        message:
                            "unknown schedule '\(trimmed)': expected 5 cron fields or one of @hourly, @daily, @weekly, @monthly, @yearly\(hint)"
                    ))
            }
            line = expanded
        }
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            return .failure(
                ScheduleError(
                    message:
                        "schedule '\(trimmed)' has \(parts.count) field\(parts.count == 1 ? "" : "s"); expected 5 (minute hour day-of-month month day-of-week), e.g. \"0 3 * * MON\""
                ))
        }
        var sets: [Set<Int>] = []
        for (index, part) in parts.enumerated() {
            switch parseField(part, fields[index]) {
            case .success(let set): sets.append(set)
            case .failure(let error): return .failure(error)
            }
        }
        var dow = sets[4]
        if dow.remove(7) != nil { dow.insert(0) }
        return .success(
            Schedule(
                text: trimmed, minutes: sets[0], hours: sets[1], daysOfMonth: sets[2], months: sets[3], daysOfWeek: dow,
                eitherDay: parts[2] != "*" && parts[4] != "*"))
    }

    private static func parseField(
        _ text: String, _ field: (name: String, range: ClosedRange<Int>, names: [String])
    ) -> Result<Set<Int>, ScheduleError> {
        var result = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            func fail(_ why: String) -> Result<Set<Int>, ScheduleError> {
                .failure(ScheduleError(message: "schedule field \(field.name) '\(text)': \(why)"))
            }
            var body = item
            var step = 1
            if let slash = item.firstIndex(of: "/") {
                body = String(item[..<slash])
                guard let value = Int(item[item.index(after: slash)...]), value > 0 else {
                    return fail("the step after '/' must be a positive number")
                }
                step = value
            }
            var low = field.range.lowerBound
            var high = field.range.upperBound
            if body == "*" {
                if field.name == "day of week" { high = 6 }
            } else {
                let bounds = body.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
                guard bounds.count <= 2, let first = value(bounds[0], field.names, field.range.lowerBound) else {
                    return fail("'\(body)' is not a value, a range a-b or *")
                }
                low = first
                high = bounds.count == 2 ? (value(bounds[1], field.names, field.range.lowerBound) ?? -1) : first
                if bounds.count == 2 && high < 0 { return fail("'\(bounds[1])' is not a value") }
                if item.contains("/") && bounds.count == 1 { high = field.range.upperBound }
            }
            guard field.range.contains(low), field.range.contains(high) else {
                return fail("values must be within \(field.range.lowerBound)-\(field.range.upperBound)")
            }
            guard low <= high else { return fail("the range \(low)-\(high) is backwards") }
            result.formUnion(stride(from: low, through: high, by: step))
        }
        return .success(result)
    }

    private static func value(_ text: String, _ names: [String], _ base: Int) -> Int? {
        if let number = Int(text) { return number }
        guard let index = names.firstIndex(of: text.uppercased()) else { return nil }
        return base + index
    }
}

/// Why a `schedule` does not parse.
public struct ScheduleError: Error, Sendable {
    /// The reason, naming the field.
    public let message: String
}
