import Foundation
import SluiceBasics
import Testing

@Suite("RFC 3339 timestamps without a formatter")
struct RFC3339Tests {
    @Test(arguments: [0, 1_795_447_404.1234, 951_782_400.9996, 1_700_000_000.5, -1.25])
    func itSaysWhatFoundationsFormatterSays(seconds: Double) {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = Date(timeIntervalSince1970: seconds)
        // Foundation truncates to the millisecond where this rounds; compare at the same millisecond.
        let rounded = Date(timeIntervalSince1970: (seconds * 1000).rounded() / 1000)
        #expect(RFC3339.string(date) == formatter.string(from: rounded))
    }

    @Test func aLeapDayAndTheEndOfASecondAreWrittenOut() {
        #expect(RFC3339.string(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
        #expect(RFC3339.string(Date(timeIntervalSince1970: 59.9999)) == "1970-01-01T00:01:00.000Z")
    }
}
