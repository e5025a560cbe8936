import Foundation
import SluiceModel

/// The type of a DAG parameter.
public enum ParamType: String, Sendable, CaseIterable, Codable {
    case string, int, float, bool, date, path, list

    /// The type in a message: "an integer", "a date (YYYY-MM-DD)".
    var expectation: String {
        switch self {
        case .string: return "a string"
        case .int: return "an integer"
        case .float: return "a number"
        case .bool: return "true or false"
        case .date: return "a date (YYYY-MM-DD)"
        case .path: return "a path"
        case .list: return "a list"
        }
    }
}

/// A typed parameter value.
public enum ParamValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case float(Double)
    case bool(Bool)
    case date(String)
    case path(String)
    case list([String])

    /// The value as substituted into templates: `90`, `0.5`, `true`, `2026-11-22`, `a,b`.
    public var description: String {
        switch self {
        case .string(let value), .date(let value), .path(let value): return value
        case .int(let value): return String(value)
        case .float(let value):
            return value == value.rounded() && abs(value) < 1e15 ? String(format: "%.1f", value) : String(value)
        case .bool(let value): return String(value)
        case .list(let items): return items.joined(separator: ",")
        }
    }

    /// The value for `when` comparisons.
    public var conditionValue: ConditionValue {
        switch self {
        case .int(let value): return .number(Double(value))
        case .float(let value): return .number(value)
        case .bool(let value): return .bool(value)
        default: return .string(description)
        }
    }

    /// A number for min/max checks (dates compare as text, which is their order).
    var number: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .float(let value): return value
        default: return nil
        }
    }

    /// The value as JSON-compatible text or number, for `--json` output.
    public var json: JSONValue {
        switch self {
        case .string(let value), .date(let value), .path(let value): return .string(value)
        case .int(let value): return .number(Double(value))
        case .float(let value): return .number(value)
        case .bool(let value): return .bool(value)
        case .list(let items): return .array(items.map { .string($0) })
        }
    }
}

/// One entry of `params:`.
public struct ParamSpec: Sendable {
    /// The parameter's name.
    public let name: String
    /// Its type.
    public let type: ParamType
    /// The value when none is given; nil means it must be given.
    public let defaultValue: ParamValue?
    /// The allowed values, if restricted.
    public let allowed: [ParamValue]?
    /// The smallest allowed value (int, float, date).
    public let min: ParamValue?
    /// The largest allowed value (int, float, date).
    public let max: ParamValue?
    /// Free text shown by `plan`.
    public let description: String?
    /// Where it is declared.
    public let mark: SourceMark

    /// Creates a parameter.
    public init(
        name: String, type: ParamType, defaultValue: ParamValue?, allowed: [ParamValue]?, min: ParamValue?,
        max: ParamValue?, description: String?, mark: SourceMark
    ) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.allowed = allowed
        self.min = min
        self.max = max
        self.description = description
        self.mark = mark
    }

    /// Parses a command-line value (`--param name=value`); lists are comma-separated.
    public func parse(_ text: String) -> Result<ParamValue, ParamError> {
        guard let value = Self.value(text, as: type) else {
            return .failure(ParamError("parameter '\(name)' expects \(type.expectation), got '\(text)'"))
        }
        return check(value)
    }

    /// Checks `enum`, `min` and `max`.
    public func check(_ value: ParamValue) -> Result<ParamValue, ParamError> {
        if let allowed, !allowed.contains(value) {
            let list = allowed.map(\.description).joined(separator: ", ")
            let hint = Suggestions.hint(for: value.description, in: allowed.map(\.description))
            return .failure(ParamError("parameter '\(name)' must be one of \(list), got '\(value)'\(hint)"))
        }
        if let min, Self.less(value, min) {
            return .failure(ParamError("parameter '\(name)' must be at least \(min), got \(value)"))
        }
        if let max, Self.less(max, value) {
            return .failure(ParamError("parameter '\(name)' must be at most \(max), got \(value)"))
        }
        return .success(value)
    }

    static func less(_ a: ParamValue, _ b: ParamValue) -> Bool {
        if let x = a.number, let y = b.number { return x < y }
        return a.description < b.description
    }

    /// Reads text as a value of `type`; nil when it is not one.
    static func value(_ text: String, as type: ParamType) -> ParamValue? {
        switch type {
        case .string: return .string(text)
        case .path: return text.isEmpty ? nil : .path(text)
        case .int: return isInteger(text) ? Int(text).map { .int($0) } : nil
        case .float:
            let body = text.hasPrefix("-") || text.hasPrefix("+") ? String(text.dropFirst()) : text
            return Units.isDecimal(body) ? Double(text).map { .float($0) } : nil
        case .bool:
            switch text {
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default: return nil
            }
        case .date: return isDate(text) ? .date(text) : nil
        case .list:
            let items = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).strip() }
            return items.contains(where: \.isEmpty) ? nil : .list(items)
        }
    }

    /// `[-+]?[0-9]+`.
    static func isInteger(_ text: String) -> Bool {
        let body = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        return !body.isEmpty && body.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// A real calendar date written `YYYY-MM-DD`.
    public static func isDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1...12).contains(month),
            day >= 1
        else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= days[month - 1]
    }
}

/// A parameter value that does not fit its declaration.
public struct ParamError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let description: String

    /// Creates the error.
    public init(_ description: String) { self.description = description }
}
