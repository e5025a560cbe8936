import Foundation

/// A SQL statement whose interpolated values become bound parameters (`$1`, `$2`, …), never text.
public struct SQL: Sendable, ExpressibleByStringInterpolation {
    /// The statement text with `$n` placeholders.
    public private(set) var text: String
    /// The parameter values in text form; nil is SQL NULL.
    public private(set) var binds: [String?]
    /// Plan once and reuse the plan for every execution (`plan_cache_mode = force_generic_plan`), for the
    /// statements a run executes per step, whose best plan does not depend on the values bound. They are
    /// planned with `enable_seqscan = off`: the plan is made once, often while a young database's tables
    /// are nearly empty, and a sequential scan chosen then would be kept while the table grows (every one of
    /// them reads rows by key).
    public private(set) var plansOnce = false

    /// This statement, planned once per connection instead of at every execution.
    public func plannedOnce() -> SQL {
        var copy = self
        copy.plansOnce = true
        return copy
    }

    /// A statement with no parameters.
    public init(stringLiteral value: String) {
        text = value
        binds = []
    }

    /// Builds a statement from an interpolation.
    public init(stringInterpolation: StringInterpolation) {
        text = stringInterpolation.text
        binds = stringInterpolation.binds
    }

    /// Collects literal text and turns each interpolated value into a placeholder.
    public struct StringInterpolation: StringInterpolationProtocol {
        var text = ""
        var binds: [String?] = []

        /// Reserves space.
        public init(literalCapacity: Int, interpolationCount: Int) {
            text.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        /// Appends SQL text written in the source.
        public mutating func appendLiteral(_ literal: String) { text += literal }

        /// Binds a value as the next parameter.
        public mutating func appendInterpolation(_ value: some SQLBindable) {
            binds.append(value.sqlText)
            text += "$\(binds.count)"
        }

        /// Binds an optional value; nil is NULL.
        public mutating func appendInterpolation(_ value: (some SQLBindable)?) {
            binds.append(value?.sqlText)
            text += "$\(binds.count)"
        }

        /// Inserts trusted SQL text written in this module (never a user value).
        public mutating func appendInterpolation(unsafeRaw text: StaticString) {
            text.withUTF8Buffer { self.text += String(decoding: $0, as: UTF8.self) }
        }

        /// Binds a value encoded as JSON (use with `::jsonb`).
        public mutating func appendInterpolation(json value: some Encodable) {
            let data = (try? JSONEncoder().encode(value)) ?? Data("null".utf8)
            binds.append(String(decoding: data, as: UTF8.self))
            text += "$\(binds.count)"
        }
    }
}

/// A Swift value that can be bound as a SQL parameter in text form.
public protocol SQLBindable {
    /// The PostgreSQL text representation.
    var sqlText: String? { get }
}

extension String: SQLBindable {
    /// The string itself.
    public var sqlText: String? { self }
}

extension Int: SQLBindable {
    /// Decimal digits.
    public var sqlText: String? { String(self) }
}

extension Int64: SQLBindable {
    /// Decimal digits.
    public var sqlText: String? { String(self) }
}

extension Int32: SQLBindable {
    /// Decimal digits.
    public var sqlText: String? { String(self) }
}

extension Double: SQLBindable {
    /// A round-trippable decimal.
    public var sqlText: String? { isFinite ? String(self) : nil }
}

extension Bool: SQLBindable {
    /// `true` or `false`.
    public var sqlText: String? { self ? "true" : "false" }
}
