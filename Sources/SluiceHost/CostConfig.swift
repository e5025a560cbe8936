import Foundation
import SluiceModel
import SluiceSpec

/// A tag every step must carry (`required_tags` in `sluice.yaml`), with the values it may take.
public struct RequiredTag: Sendable, Equatable {
    /// The tag's key.
    public var key: String
    /// The values allowed; nil for any non-empty value.
    public var allowed: [String]?
    /// Where it is required.
    public var file: String, mark: SourceMark
}

/// A price from `sluice.yaml`'s `prices:` list.
public struct ConfiguredPrice: Sendable, Equatable {
    /// `cpu`, `memory`, `gpu`, `wall` or `attempt`.
    public var resource: String
    /// The unit price as an exact decimal.
    public var unitPrice: String
    /// `max`, `requested` or `used`.
    public var basis = "max"
    /// Selectors; nil for any.
    public var executor: String?, partition: String?, hostClass: String?
    /// When it takes effect (the start of time when not given).
    public var effectiveFrom = Date(timeIntervalSince1970: 0)
    /// Where it is written.
    public var file: String, mark: SourceMark

    /// `sluice.yaml:12:5`.
    public var source: String { "\(file):\(mark.line):\(mark.column)" }
}

extension NodeReader {
    /// `required_tags: [team, cost_center]`, or a mapping from key to its allowed values (`~` for any).
    mutating func requiredTags(_ node: YAMLNode) -> [RequiredTag] {
        var result: [RequiredTag] = []
        func add(_ key: String, _ mark: SourceMark, allowed: [String]?) {
            if !Identifiers.isTagKey(key) {
                error(mark, "required_tags", "required_tags: '\(key)' is not a valid tag name")
            } else {
                result.append(RequiredTag(key: key, allowed: allowed, file: file, mark: mark))
            }
        }
        switch node.content {
        case .sequence(let items):
            for (index, item) in items.enumerated() {
                if let key = nonEmptyString(item, path: "required_tags[\(index)]") { add(key, item.mark, allowed: nil) }
            }
        case .mapping:
            for (key, keyMark, value) in mapping(node, path: "required_tags", allowed: nil, what: "") ?? [] {
                if value.isNull {
                    add(key, keyMark, allowed: nil)
                } else if let values = stringList(value, path: "required_tags.\(key)") {
                    if values.isEmpty {
                        error(
                            value.mark, "required_tags.\(key)",
                            "required_tags.\(key): list at least one value, or ~ for any")
                    } else {
                        add(key, keyMark, allowed: values)
                    }
                }
            }
        default:
            mismatch(
                node, "required_tags",
                expected: "a list of tag names, or a mapping from tag name to its allowed values")
        }
        return result
    }

    /// `prices:`, a list of `{resource, price, basis, from, executor, partition, host_class}`.
    mutating func prices(_ node: YAMLNode) -> [ConfiguredPrice] {
        guard let items = list(node, path: "prices", of: "prices") else { return [] }
        var result: [ConfiguredPrice] = []
        let resources = ["cpu", "memory", "gpu", "wall", "attempt"]
        for (index, item) in items.enumerated() {
            let path = "prices[\(index)]"
            guard
                let fields = mapping(
                    item, path: path,
                    allowed: ["resource", "price", "basis", "from", "executor", "partition", "host_class"],
                    what: "a mapping with resource and price")
            else { continue }
            var resource: String?
            var price: String?
            var entry = ConfiguredPrice(resource: "", unitPrice: "", file: file, mark: item.mark)
            for (key, _, value) in fields {
                switch key {
                case "resource": resource = choice(value, path: "\(path).resource", resources)
                case "price":
                    if case .scalar(let text, .plain) = value.content, Units.isDecimal(text) {
                        price = text
                    } else {
                        mismatch(value, "\(path).price", expected: "a price per unit, such as 0.045 (no currency sign)")
                    }
                case "basis": entry.basis = choice(value, path: "\(path).basis", ["max", "requested", "used"]) ?? "max"
                case "from":
                    if let text = string(value, path: "\(path).from") {
                        if let instant = CostConfig.instant(text) {
                            entry.effectiveFrom = instant
                        } else {
                            mismatch(value, "\(path).from", expected: "a date (2026-01-01) or an RFC 3339 time")
                        }
                    }
                case "executor": entry.executor = nonEmptyString(value, path: "\(path).executor")
                case "partition": entry.partition = nonEmptyString(value, path: "\(path).partition")
                case "host_class": entry.hostClass = nonEmptyString(value, path: "\(path).host_class")
                default: break
                }
            }
            if resource == nil && !fields.contains(where: { $0.key == "resource" }) {
                error(item.mark, path, "\(path): give the resource: one of \(resources.joined(separator: ", "))")
            }
            if price == nil && !fields.contains(where: { $0.key == "price" }) {
                error(item.mark, path, "\(path): give the price of one unit, such as price: 0.045")
            }
            guard let resource, let price else { continue }
            entry.resource = resource
            entry.unitPrice = price
            if let twin = result.first(where: {
                $0.resource == resource && $0.executor == entry.executor && $0.partition == entry.partition
                    && $0.hostClass == entry.hostClass && $0.effectiveFrom == entry.effectiveFrom
            }) {
                error(
                    item.mark, path,
                    "\(path): this price has the same resource, selectors and from as the one at line \(twin.mark.line); give it a later from"
                )
                continue
            }
            result.append(entry)
        }
        return result
    }
}

/// Parsing shared by the configuration and `sluice prices set`.
public enum CostConfig {
    /// `2026-01-01` (midnight UTC) or an RFC 3339 instant.
    public static func instant(_ text: String) -> Date? {
        let rfc = ISO8601DateFormatter()
        rfc.formatOptions = [.withInternetDateTime]
        if let instant = rfc.date(from: text) { return instant }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let instant = fractional.date(from: text) { return instant }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1...12).contains(month),
            (1...31).contains(day)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: day)),
            calendar.component(.day, from: date) == day
        else { return nil }
        return date
    }
}
