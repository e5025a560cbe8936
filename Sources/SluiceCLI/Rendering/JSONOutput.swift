import Foundation
import SluiceBasics

/// Writes the documented `--json` output: snake_case keys, sorted, RFC 3339 UTC times.
enum JSONOutput {
    static func print(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(rfc3339(date))
        }
        let data = try encoder.encode(value)
        Terminal.write(STDOUT_FILENO, Array(data) + [10])
    }

    static func rfc3339(_ date: Date) -> String { RFC3339.string(date) }
}
