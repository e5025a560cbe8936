import Foundation

/// A one-dimensional PostgreSQL array literal bound as one parameter (cast it in the statement: `::text[]`,
/// `::bigint[]`), and the parser for one in a result.
struct PGArray: SQLBindable {
    let values: [String]

    init(_ values: [String]) { self.values = values }

    init(_ values: [Int64]) { self.values = values.map(String.init) }

    /// `{"a","b"}`, each element quoted and escaped.
    var sqlText: String? {
        "{"
            + values.map {
                "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                    + "\""
            }
            .joined(separator: ",") + "}"
    }

    /// The elements of a one-dimensional text array in PostgreSQL's output form (NULL elements as "NULL").
    static func parse(_ text: String) -> [String] {
        var chars = Substring(text)
        guard chars.first == "{", chars.last == "}" else { return [] }
        chars = chars.dropFirst().dropLast()
        var result: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        var sawQuote = false
        for char in chars {
            if escaped {
                current.append(char)
                escaped = false
            } else if char == "\\" {
                escaped = true
            } else if char == "\"" {
                quoted.toggle()
                sawQuote = true
            } else if char == "," && !quoted {
                result.append(current)
                current = ""
                sawQuote = false
            } else {
                current.append(char)
            }
        }
        if !chars.isEmpty || sawQuote { result.append(current) }
        return result
    }
}
