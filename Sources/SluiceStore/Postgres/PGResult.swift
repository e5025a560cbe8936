/// One row of a result, with values in PostgreSQL's text form.
public struct PGRow: Sendable {
    let values: [String?]
    let columns: [String: Int]

    /// The raw text of a column; nil for NULL or an unknown column.
    public subscript(_ name: String) -> String? {
        guard let i = columns[name] else { return nil }
        return values[i]
    }

    /// A column as an integer.
    public func int(_ name: String) -> Int64? { self[name].flatMap { Int64($0) } }

    /// A column as a Double.
    public func double(_ name: String) -> Double? { self[name].flatMap { Double($0) } }

    /// A column as a Bool (`t`/`f`).
    public func bool(_ name: String) -> Bool? { self[name].map { $0 == "t" } }
}

/// The rows of a query, copied out of libpq.
public struct PGResult: Sendable {
    /// The rows.
    public let rows: [PGRow]
    /// Rows affected by an INSERT/UPDATE/DELETE.
    public let affected: Int
}
