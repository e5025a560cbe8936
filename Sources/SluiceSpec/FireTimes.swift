import Foundation

/// When a schedule fires, in a time zone, across daylight-saving changes.
///
/// The rules: a cron line names wall-clock times in the DAG's `timezone`. A wall time that does not exist
/// (the hour skipped when clocks go forward) fires once, at the first instant after the gap; several such
/// times collapse into that one instant. A wall time that occurs twice (the hour repeated when clocks go
/// back) fires once, at its first occurrence. When both day-of-month and day-of-week are restricted, a day
/// matching either fires (as in Vixie cron).
public struct FireTimes: Sendable {
    /// The schedule.
    public let schedule: Schedule
    /// The zone its wall times are read in.
    public let zone: TimeZone
    private let calendar: Calendar
    private let minutes: [Int]
    private let hours: [Int]

    /// The fire times of `schedule` in the zone named `timezone` (UTC when nil or unknown).
    public init(_ schedule: Schedule, timezone: String?) {
        self.schedule = schedule
        zone = timezone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        self.calendar = calendar
        minutes = schedule.minutes.sorted()
        hours = schedule.hours.sorted()
    }

    /// The first fire time strictly after `instant`; nil when the schedule never fires (say, 30 February).
    public func next(after instant: Date) -> Date? {
        guard var day = startOfDay(instant) else { return nil }
        // Four years (and a day) cover every calendar pattern, leap days included.
        for _ in 0..<(4 * 366 + 1) {
            if let fire = fires(on: day).first(where: { $0 > instant }) { return fire }
            guard let following = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = following
        }
        return nil
    }

    /// The latest fire time at or before `instant`; nil when there is none in the four years before it.
    public func latest(atOrBefore instant: Date) -> Date? {
        guard var day = startOfDay(instant) else { return nil }
        for _ in 0..<(4 * 366 + 1) {
            if let fire = fires(on: day).last(where: { $0 <= instant }) { return fire }
            guard let previous = calendar.date(byAdding: .day, value: -1, to: day) else { return nil }
            day = previous
        }
        return nil
    }

    /// The fire times of one local day, in order, without repeats.
    private func fires(on day: Date) -> [Date] {
        let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
        guard let year = parts.year, let month = parts.month, let date = parts.day, let weekday = parts.weekday,
            matches(month: month, day: date, weekday: weekday - 1)
        else { return [] }
        var result: [Date] = []
        for hour in hours {
            for minute in minutes {
                guard let fire = resolve(year: year, month: month, day: date, hour: hour, minute: minute) else {
                    continue
                }
                if result.last.map({ fire > $0 }) ?? true { result.append(fire) }
            }
        }
        return result
    }

    private func startOfDay(_ instant: Date) -> Date? {
        let parts = calendar.dateComponents([.year, .month, .day], from: instant)
        return calendar.date(from: DateComponents(year: parts.year, month: parts.month, day: parts.day))
    }

    /// The fire times in `(after, upTo]`, oldest first, at most `limit` of them.
    public func between(after: Date, upTo end: Date, limit: Int = 10_000) -> [Date] {
        var found: [Date] = []
        var cursor = after
        while found.count < limit, let fire = next(after: cursor), fire <= end {
            found.append(fire)
            cursor = fire
        }
        return found
    }

    /// The calendar date of an instant in the zone, as `YYYY-MM-DD` (a scheduled run's logical date).
    public func localDate(_ instant: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day], from: instant)
        return String(format: "%04d-%02d-%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
    }

    /// The offset from UTC at an instant, as `+02:00`.
    public func offset(at instant: Date) -> String {
        let seconds = zone.secondsFromGMT(for: instant)
        let sign = seconds < 0 ? "-" : "+"
        return String(format: "%@%02d:%02d", sign, abs(seconds) / 3600, (abs(seconds) % 3600) / 60)
    }

    /// The wall time at an instant in the zone, as `2026-03-29 03:00`.
    public func wallTime(_ instant: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: instant)
        return String(
            format: "%04d-%02d-%02d %02d:%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0,
            parts.minute ?? 0)
    }

    private func matches(month: Int, day: Int, weekday: Int) -> Bool {
        guard schedule.months.contains(month) else { return false }
        let dayOfMonth = schedule.daysOfMonth.contains(day)
        let dayOfWeek = schedule.daysOfWeek.contains(weekday)
        return schedule.eitherDay ? (dayOfMonth || dayOfWeek) : (dayOfMonth && dayOfWeek)
    }

    /// The instant a wall time happens in the zone: the first of two when it happens twice, the first instant
    /// after the gap when it does not happen at all.
    func resolve(year: Int, month: Int, day: Int, hour: Int, minute: Int) -> Date? {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        guard
            let asUTC = utc.date(
                from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute))
        else { return nil }
        let offsets = Set([
            zone.secondsFromGMT(for: asUTC.addingTimeInterval(-14 * 3600)),
            zone.secondsFromGMT(for: asUTC.addingTimeInterval(14 * 3600)), zone.secondsFromGMT(for: asUTC),
        ])
        let wanted = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute)
        let valid = offsets.map { asUTC.addingTimeInterval(-Double($0)) }.filter { candidate in
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: candidate)
            return parts.year == wanted.year && parts.month == wanted.month && parts.day == wanted.day
                && parts.hour == wanted.hour && parts.minute == wanted.minute
        }
        if let first = valid.min() { return first }
        // Skipped by a clock change: the first instant after the gap is the transition itself.
        let earliest = offsets.map { asUTC.addingTimeInterval(-Double($0)) }.min() ?? asUTC
        return zone.nextDaylightSavingTimeTransition(after: earliest.addingTimeInterval(-3600))
    }
}
