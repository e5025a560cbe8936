import SluiceModel

/// A value in a `when` condition.
public enum ConditionValue: Sendable, Hashable, CustomStringConvertible {
    /// Text.
    case string(String)
    /// A number.
    case number(Double)
    /// true or false.
    case bool(Bool)

    /// How a value of unknown type reads: numbers and booleans where the text is one, else a string.
    public static func infer(_ text: String) -> ConditionValue {
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if Units.isDecimal(text.hasPrefix("-") ? String(text.dropFirst()) : text), let number = Double(text) {
            return .number(number)
        }
        return .string(text)
    }

    /// The value as a number: a number, or a string that reads as one.
    var number: Double? {
        switch self {
        case .number(let value): return value
        case .string(let text):
            if case .number(let value) = Self.infer(text.trimmingCharacters(in: .whitespaces)) { return value }
            return nil
        case .bool: return nil
        }
    }

    /// The truth of a value on its own: false, 0, the empty string and "false" are false.
    var truth: Bool {
        switch self {
        case .bool(let value): return value
        case .number(let value): return value != 0
        case .string(let value): return !value.isEmpty && value != "false"
        }
    }

    /// The value as written in a message.
    public var description: String {
        switch self {
        case .string(let value): return "'\(value)'"
        case .number(let value):
            return value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        case .bool(let value): return String(value)
        }
    }
}

/// A parsed `when` condition: comparisons of references and literals joined by and/or/not.
public indirect enum Condition: Sendable, Hashable, CustomStringConvertible {
    /// A literal.
    case literal(ConditionValue)
    /// A reference, with its character offset in the condition text.
    case reference(Reference, offset: Int)
    /// Negation.
    case not(Condition)
    /// Both.
    case and(Condition, Condition)
    /// Either.
    case or(Condition, Condition)
    /// A comparison: `==`, `!=`, `<`, `<=`, `>`, `>=`.
    case compare(String, Condition, Condition)
    /// Membership in a list of literals or references.
    case isIn(Condition, [Condition])

    /// Every reference in the condition, with its offset.
    public var references: [(Reference, Int)] {
        switch self {
        case .literal: return []
        case .reference(let reference, let offset): return [(reference, offset)]
        case .not(let inner): return inner.references
        case .and(let a, let b), .or(let a, let b), .compare(_, let a, let b): return a.references + b.references
        case .isIn(let a, let list): return a.references + list.flatMap(\.references)
        }
    }

    /// The condition in canonical form.
    public var description: String {
        switch self {
        case .literal(let value): return value.description
        case .reference(let reference, _): return reference.description
        case .not(let inner): return "not (\(inner))"
        case .and(let a, let b): return "(\(a) and \(b))"
        case .or(let a, let b): return "(\(a) or \(b))"
        case .compare(let op, let a, let b): return "\(a) \(op) \(b)"
        case .isIn(let a, let list): return "\(a) in [\(list.map(\.description).joined(separator: ", "))]"
        }
    }

    /// Evaluates with `resolve` giving each reference's value; nil when a reference has no value yet.
    public func evaluate(_ resolve: (Reference) -> ConditionValue?) -> Bool? {
        value(resolve)?.truth
    }

    /// Replaces references that `resolve` knows by literals, leaving the rest.
    public func substituting(_ resolve: (Reference) -> ConditionValue?) -> Condition {
        mapLeaves {
            if case .reference(let reference, _) = $0, let value = resolve(reference) { return .literal(value) }
            return $0
        }
    }

    func mapReferences(_ transform: (Reference) -> Reference) -> Condition {
        mapLeaves {
            if case .reference(let reference, let offset) = $0 {
                return .reference(transform(reference), offset: offset)
            }
            return $0
        }
    }

    /// The same condition with every literal and reference replaced by `transform` of it.
    func mapLeaves(_ transform: (Condition) -> Condition) -> Condition {
        switch self {
        case .literal, .reference: return transform(self)
        case .not(let inner): return .not(inner.mapLeaves(transform))
        case .and(let a, let b): return .and(a.mapLeaves(transform), b.mapLeaves(transform))
        case .or(let a, let b): return .or(a.mapLeaves(transform), b.mapLeaves(transform))
        case .compare(let op, let a, let b): return .compare(op, a.mapLeaves(transform), b.mapLeaves(transform))
        case .isIn(let a, let list): return .isIn(a.mapLeaves(transform), list.map { $0.mapLeaves(transform) })
        }
    }

    private func value(_ resolve: (Reference) -> ConditionValue?) -> ConditionValue? {
        switch self {
        case .literal(let value): return value
        case .reference(let reference, _): return resolve(reference)
        case .not(let inner): return inner.value(resolve).map { .bool(!$0.truth) }
        case .and(let a, let b):
            guard let left = a.value(resolve) else { return nil }
            if !left.truth { return .bool(false) }
            return b.value(resolve).map { .bool($0.truth) }
        case .or(let a, let b):
            guard let left = a.value(resolve) else { return nil }
            if left.truth { return .bool(true) }
            return b.value(resolve).map { .bool($0.truth) }
        case .compare(let op, let a, let b):
            guard let left = a.value(resolve), let right = b.value(resolve) else { return nil }
            return .bool(Self.compare(op, left, right))
        case .isIn(let a, let list):
            guard let left = a.value(resolve) else { return nil }
            var values: [ConditionValue] = []
            for item in list {
                guard let value = item.value(resolve) else { return nil }
                values.append(value)
            }
            return .bool(values.contains { Self.compare("==", left, $0) })
        }
    }

    private static func compare(_ op: String, _ a: ConditionValue, _ b: ConditionValue) -> Bool {
        let order: Int
        switch (a, b) {
        case (.bool(let x), .bool(let y)): order = x == y ? 0 : (x ? 1 : -1)
        case _ where a.number != nil && b.number != nil:
            // Numbers compare as numbers even when one side is written as a string: 10 > '5' is true.
            let x = a.number!
            let y = b.number!
            order = x < y ? -1 : (x > y ? 1 : 0)
        default:
            let x = Self.text(a)
            let y = Self.text(b)
            order = x < y ? -1 : (x > y ? 1 : 0)
        }
        switch op {
        case "==": return order == 0
        case "!=": return order != 0
        case "<": return order < 0
        case "<=": return order <= 0
        case ">": return order > 0
        default: return order >= 0
        }
    }

    private static func text(_ value: ConditionValue) -> String {
        if case .string(let text) = value { return text }
        return value.description
    }
}

/// A condition that does not parse, with the offset of the problem.
struct ConditionError: Error {
    let offset: Int
    let message: String
}

/// Recursive-descent parser for `when` conditions.
struct ConditionParser {
    private enum Token: Equatable {
        case word(String)
        case string(String)
        case number(Double)
        case op(String)
        case end
    }

    private var tokens: [(Token, Int)] = []
    private var index = 0

    /// Parses `text`, accepting an optional `${{ … }}` around the whole condition.
    static func parse(_ text: String) -> Result<Condition, ConditionError> {
        var body = Array(text)
        var shift = 0
        let trimmed = text.strip()
        if trimmed.hasPrefix("${{") && trimmed.hasSuffix("}}") {
            let start = text.firstIndex(of: "$").map { text.distance(from: text.startIndex, to: $0) } ?? 0
            shift = start + 3
            body = Array(trimmed.dropFirst(3).dropLast(2))
        }
        var parser = ConditionParser()
        if let error = parser.tokenize(body) {
            return .failure(ConditionError(offset: error.offset + shift, message: error.message))
        }
        switch parser.parseAll() {
        case .success(let condition): return .success(condition.shifted(by: shift))
        case .failure(let error): return .failure(ConditionError(offset: error.offset + shift, message: error.message))
        }
    }

    private mutating func tokenize(_ chars: [Character]) -> ConditionError? {
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" || c == "\n" {
                i += 1
                continue
            }
            let start = i
            if c == "'" || c == "\"" {
                var j = i + 1
                var text = ""
                while j < chars.count && chars[j] != c {
                    text.append(chars[j])
                    j += 1
                }
                guard j < chars.count else { return ConditionError(offset: start, message: "unterminated string") }
                tokens.append((.string(text), start))
                i = j + 1
            } else if c.isNumber || (c == "-" && i + 1 < chars.count && chars[i + 1].isNumber) {
                var j = i + 1
                while j < chars.count && (chars[j].isNumber || chars[j] == ".") { j += 1 }
                guard let number = Double(String(chars[i..<j])) else {
                    return ConditionError(offset: start, message: "'\(String(chars[i..<j]))' is not a number")
                }
                tokens.append((.number(number), start))
                i = j
            } else if c.isLetter || c == "_" {
                var j = i + 1
                while j < chars.count {
                    if chars[j].isLetter || chars[j].isNumber || "_.-".contains(chars[j]) {
                        j += 1
                    } else if chars[j] == "[", String(chars[i..<j]).hasPrefix("steps."),
                        let close = chars[j...].firstIndex(of: "]")
                    {
                        j = close + 1  // steps.<id>[<item>].outputs.<key>
                    } else {
                        break
                    }
                }
                tokens.append((.word(String(chars[i..<j])), start))
                i = j
            } else {
                let two = i + 1 < chars.count ? String(chars[i...i + 1]) : ""
                if ["==", "!=", "<=", ">=", "&&", "||"].contains(two) {
                    tokens.append((.op(two), start))
                    i += 2
                } else if "<>!()[],".contains(c) {
                    tokens.append((.op(String(c)), start))
                    i += 1
                } else {
                    return ConditionError(offset: start, message: "unexpected character '\(c)'")
                }
            }
        }
        tokens.append((.end, chars.count))
        return nil
    }

    private var current: Token { tokens[index].0 }
    private var offset: Int { tokens[index].1 }

    private mutating func parseAll() -> Result<Condition, ConditionError> {
        if current == .end { return .failure(ConditionError(offset: 0, message: "the condition is empty")) }
        do {
            let condition = try parseOr()
            guard current == .end else {
                throw ConditionError(offset: offset, message: "unexpected \(describe(current))")
            }
            return .success(condition)
        } catch let error as ConditionError {
            return .failure(error)
        } catch {
            return .failure(ConditionError(offset: 0, message: "\(error)"))
        }
    }

    private mutating func parseOr() throws -> Condition {
        var left = try parseAnd()
        while current == .op("||") || current == .word("or") {
            index += 1
            left = .or(left, try parseAnd())
        }
        return left
    }

    private mutating func parseAnd() throws -> Condition {
        var left = try parseNot()
        while current == .op("&&") || current == .word("and") {
            index += 1
            left = .and(left, try parseNot())
        }
        return left
    }

    private mutating func parseNot() throws -> Condition {
        if current == .op("!") || current == .word("not") {
            index += 1
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    private mutating func parseComparison() throws -> Condition {
        let left = try parsePrimary()
        if case .op(let op) = current, ["==", "!=", "<", "<=", ">", ">="].contains(op) {
            index += 1
            return .compare(op, left, try parsePrimary())
        }
        if current == .word("in") {
            index += 1
            guard current == .op("[") else { throw ConditionError(offset: offset, message: "expected '[' after 'in'") }
            index += 1
            var list: [Condition] = []
            while current != .op("]") {
                list.append(try parsePrimary())
                if current == .op(",") {
                    index += 1
                } else if current != .op("]") {
                    throw ConditionError(offset: offset, message: "expected ',' or ']' in the list")
                }
            }
            index += 1
            return .isIn(left, list)
        }
        return left
    }

    private mutating func parsePrimary() throws -> Condition {
        let start = offset
        switch current {
        case .string(let text):
            index += 1
            return .literal(.string(text))
        case .number(let number):
            index += 1
            return .literal(.number(number))
        case .word("true"):
            index += 1
            return .literal(.bool(true))
        case .word("false"):
            index += 1
            return .literal(.bool(false))
        case .word(let word):
            index += 1
            switch Reference.parse(word, allowState: true) {
            case .success(let reference): return .reference(reference, offset: start)
            case .failure(let error):
                let text =
                    word.contains(".") || word == "item" ? error.message : error.message + " (quote text: '\(word)')"
                throw ConditionError(offset: start, message: text)
            }
        case .op("("):
            index += 1
            let inner = try parseOr()
            guard current == .op(")") else { throw ConditionError(offset: offset, message: "expected ')'") }
            index += 1
            return inner
        default:
            throw ConditionError(offset: start, message: "expected a value or a reference, found \(describe(current))")
        }
    }

    private func describe(_ token: Token) -> String {
        switch token {
        case .word(let word): return "'\(word)'"
        case .string(let text): return "'\(text)'"
        case .number(let number): return "\(number)"
        case .op(let op): return "'\(op)'"
        case .end: return "the end of the condition"
        }
    }
}

extension Condition {
    fileprivate func shifted(by shift: Int) -> Condition {
        guard shift != 0 else { return self }
        return mapLeaves {
            if case .reference(let reference, let offset) = $0 { return .reference(reference, offset: offset + shift) }
            return $0
        }
    }
}
