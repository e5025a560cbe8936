import Foundation
import SluiceSpec
import Testing

/// Fire times across daylight-saving changes, and cron's day rules, with no clock but the one given.
@Suite("Schedules: fire times in a time zone")
struct FireTimesTests {
    private func utc(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)!
    }

    private func iso(_ date: Date?) -> String {
        guard let date else { return "nil" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    private func fires(_ cron: String, _ zone: String, after: String, count: Int) throws -> [String] {
        let schedule = try Schedule.parse(cron).get()
        let times = FireTimes(schedule, timezone: zone)
        var cursor = utc(after)
        var result: [String] = []
        for _ in 0..<count {
            guard let next = times.next(after: cursor) else { break }
            result.append(iso(next))
            cursor = next
        }
        return result
    }

    @Test func aWallTimeSkippedBySpringForwardRunsOnceAtTheFirstInstantAfterTheGap() throws {
        // Amsterdam, 29 March 2026: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 does not exist.
        #expect(
            try fires("30 2 * * *", "Europe/Amsterdam", after: "2026-03-27T12:00:00Z", count: 3) == [
                "2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z",
            ])
        // Four wall times in the missing hour collapse into that one instant.
        #expect(
            try fires("*/15 2 * * *", "Europe/Amsterdam", after: "2026-03-29T00:00:00Z", count: 2) == [
                "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z",
            ])
    }

    @Test func aWallTimeThatHappensTwiceInFallBackRunsOnce() throws {
        // Amsterdam, 25 October 2026: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 happens twice.
        #expect(
            try fires("30 2 * * *", "Europe/Amsterdam", after: "2026-10-24T12:00:00Z", count: 2) == [
                "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z",
            ])
        // Hourly through the repeated hour: 02:00 once, then 03:00 (02:00 UTC).
        #expect(
            try fires("0 * * * *", "Europe/Amsterdam", after: "2026-10-24T23:30:00Z", count: 3) == [
                "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z",
            ])
    }

    @Test func dayOfMonthAndDayOfWeekBothRestrictedMatchEither() throws {
        // 1 December 2026 is a Tuesday: the 1st fires, and so does every Monday.
        #expect(
            try fires("0 0 1 * MON", "UTC", after: "2026-11-29T00:00:00Z", count: 3) == [
                "2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z", "2026-12-07T00:00:00Z",
            ])
        #expect(try fires("0 0 30 2 *", "UTC", after: "2026-01-01T00:00:00Z", count: 1).isEmpty)
    }

    @Test func theLatestFireTimeAndTheRangeBetweenTwoInstants() throws {
        let times = FireTimes(try Schedule.parse("*/10 * * * *").get(), timezone: "UTC")
        #expect(iso(times.latest(atOrBefore: utc("2026-11-23T10:25:00Z"))) == "2026-11-23T10:20:00Z")
        #expect(
            times.between(after: utc("2026-11-23T10:00:00Z"), upTo: utc("2026-11-23T10:30:00Z")).map(iso) == [
                "2026-11-23T10:10:00Z", "2026-11-23T10:20:00Z", "2026-11-23T10:30:00Z",
            ])
        let amsterdam = FireTimes(try Schedule.parse("@daily").get(), timezone: "Europe/Amsterdam")
        #expect(amsterdam.localDate(utc("2026-11-22T23:30:00Z")) == "2026-11-23")
        #expect(amsterdam.offset(at: utc("2026-07-01T00:00:00Z")) == "+02:00")
    }
}
