import Foundation

/// The tz database zones this host knows.
enum TimeZones {
    /// Every known zone name.
    static let all: [String] = TimeZone.knownTimeZoneIdentifiers + ["UTC"]

    /// True for a tz database name such as `Europe/Amsterdam` or `UTC`.
    static func isKnown(_ name: String) -> Bool {
        name == "UTC" || (TimeZone.knownTimeZoneIdentifiers.contains(name) && TimeZone(identifier: name) != nil)
    }
}
