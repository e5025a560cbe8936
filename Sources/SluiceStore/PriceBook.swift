import Foundation
import SluiceBasics

/// One row of the price book: what one unit of a resource costs from an instant on.
public struct PriceEntry: Sendable, Encodable, Equatable {
    /// Its id in `price` (nil before it is stored).
    public var id: Int64?
    /// `cpu` (per core-hour), `memory` (per GiB-hour), `gpu` (per GPU-hour), `wall` (per hour), `attempt` (each).
    public var resource: String
    /// The price of one unit, as an exact decimal (`0.0425`).
    public var unitPrice: String
    /// The currency code, such as `USD`.
    public var currency: String
    /// `max` (of requested and used; the default), `requested` or `used`.
    public var basis: String
    /// Applies only to attempts of this executor, partition or host class (nil: any).
    public var executor: String?, partition: String?, hostClass: String?
    /// When it takes effect.
    public var effectiveFrom: Date
    /// Where it was set: `sluice.yaml:12:5` or `cli`.
    public var source: String
    /// Who set it.
    public var setBy: String
    /// When it was stored.
    public var createdAt: Date?

    /// The resources a price can be set for, with their units.
    public static let units: KeyValuePairs<String, String> = [
        "cpu": "core-hour", "memory": "GiB-hour", "gpu": "GPU-hour", "wall": "hour", "attempt": "attempt",
    ]
    /// The bases a price can charge on.
    public static let bases = ["max", "requested", "used"]

    /// Creates an entry.
    public init(
        resource: String, unitPrice: String, currency: String, basis: String = "max", executor: String? = nil,
        partition: String? = nil, hostClass: String? = nil, effectiveFrom: Date, source: String, setBy: String
    ) {
        self.resource = resource
        self.unitPrice = unitPrice
        self.currency = currency
        self.basis = basis
        self.executor = executor
        self.partition = partition
        self.hostClass = hostClass
        self.effectiveFrom = effectiveFrom
        self.source = source
        self.setBy = setBy
    }

    /// The unit one price is for.
    public var unit: String { Self.units.first { $0.key == resource }?.value ?? resource }

    /// `cpu` or `cpu executor=local host_class=big`: the resource and its selectors.
    public var selector: String {
        var parts = [resource]
        if let executor { parts.append("executor=\(executor)") }
        if let partition { parts.append("partition=\(partition)") }
        if let hostClass { parts.append("host_class=\(hostClass)") }
        return parts.joined(separator: " ")
    }

    enum CodingKeys: String, CodingKey {
        case id, resource, currency, basis, executor, partition, source, unit
        case unitPrice = "unit_price"
        case hostClass = "host_class"
        case effectiveFrom = "effective_from"
        case setBy = "set_by"
        case createdAt = "created_at"
    }

    /// Encodes the entry with its unit and its price as a number.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(id, forKey: .id)
        try container.encode(resource, forKey: .resource)
        try container.encode(unit, forKey: .unit)
        try container.encode(Decimal(string: unitPrice) ?? 0, forKey: .unitPrice)
        try container.encode(currency, forKey: .currency)
        try container.encode(basis, forKey: .basis)
        try container.encode(executor, forKey: .executor)
        try container.encode(partition, forKey: .partition)
        try container.encode(hostClass, forKey: .hostClass)
        try container.encode(effectiveFrom, forKey: .effectiveFrom)
        try container.encode(source, forKey: .source)
        try container.encode(setBy, forKey: .setBy)
        try container.encodeIfPresent(createdAt, forKey: .createdAt)
    }
}

/// A price that cannot be stored as given, with where it was written.
public struct PriceConflict: Error, Sendable, CustomStringConvertible {
    /// The entry.
    public let entry: PriceEntry
    /// Why.
    public let description: String
}

/// The price book in PostgreSQL: its history, new prices, and pricing what had no price.
public struct PriceBook: Sendable {
    let connection: PGConnection

    /// The book on a store's connection.
    public init(store: Store) { connection = store.connection }

    /// Every price, oldest first.
    public func history() throws -> [PriceEntry] {
        try connection.query(
            """
            SELECT id, resource, unit_price::text AS unit_price, currency, basis, executor, partition, host_class,
                   extract(epoch FROM effective_from) AS effective_from, source, set_by,
                   extract(epoch FROM created_at) AS created_at
            FROM price ORDER BY effective_from, resource, id
            """
        ).rows.map { row in
            var entry = PriceEntry(
                resource: row["resource"] ?? "", unitPrice: row["unit_price"] ?? "0", currency: row["currency"] ?? "",
                basis: row["basis"] ?? "max", executor: row["executor"], partition: row["partition"],
                hostClass: row["host_class"],
                effectiveFrom: Date(timeIntervalSince1970: row.double("effective_from") ?? 0),
                source: row["source"] ?? "", setBy: row["set_by"] ?? "")
            entry.id = row.int("id")
            entry.createdAt = row.double("created_at").map { Date(timeIntervalSince1970: $0) }
            return entry
        }
    }

    /// Brings the book in line with `entries` (from `sluice.yaml`, or one from `sluice prices set`): a new
    /// entry is added; one equal to a stored row changes nothing; one that changes a stored row's price is
    /// refused once that row may have priced an attempt. All or nothing; returns how many rows were written.
    @discardableResult
    public func apply(_ entries: [PriceEntry]) throws -> Int {
        guard !entries.isEmpty else { return 0 }
        struct Row: Encodable {
            let n: Int
            let resource, unitPrice, currency, basis, source, setBy: String
            let executor, partition, hostClass: String?
            let effectiveFrom: String

            enum CodingKeys: String, CodingKey {
                case n, resource, currency, basis, source, executor, partition
                case unitPrice = "unit_price"
                case setBy = "set_by"
                case hostClass = "host_class"
                case effectiveFrom = "effective_from"
            }
        }
        let rows = entries.enumerated().map { n, e in
            Row(
                n: n, resource: e.resource, unitPrice: e.unitPrice, currency: e.currency, basis: e.basis,
                source: e.source, setBy: e.setBy, executor: e.executor, partition: e.partition,
                hostClass: e.hostClass, effectiveFrom: RFC3339.string(e.effectiveFrom))
        }
        return try connection.transaction { session in
            // One read decides; the usual case (the book already holds the file's prices) writes nothing.
            let found = try session.query(
                """
                SELECT x.n, p.id, p.unit_price = x.unit_price AND p.basis = x.basis AND p.currency = x.currency AS same,
                       EXISTS (SELECT 1 FROM attempt_cost c WHERE c.ended_at >= p.effective_from) AS used,
                       (SELECT min(currency) FROM price WHERE currency <> x.currency) AS other_currency
                FROM jsonb_to_recordset(\(json: rows)::jsonb)
                     AS x(n integer, resource text, unit_price numeric, currency text, basis text, executor text,
                          partition text, host_class text, effective_from timestamptz)
                LEFT JOIN price p ON p.resource = x.resource AND p.effective_from = x.effective_from
                     AND p.executor IS NOT DISTINCT FROM x.executor AND p.partition IS NOT DISTINCT FROM x.partition
                     AND p.host_class IS NOT DISTINCT FROM x.host_class
                ORDER BY x.n
                """
            ).rows
            var writes: [Int] = []
            for row in found {
                let index = Int(row.int("n") ?? 0)
                let entry = entries[index]
                if let other = row["other_currency"] {
                    throw PriceConflict(
                        entry: entry,
                        description:
                            "the price book is in \(other), and this price is in \(entry.currency); one book has one currency"
                    )
                }
                if row.int("id") == nil || row.bool("same") == false {
                    if row.int("id") != nil && row.bool("used") == true {
                        throw PriceConflict(
                            entry: entry,
                            description:
                                "\(entry.selector) from \(RFC3339.string(entry.effectiveFrom)) is already in the price book at another price, and attempts have been costed since; a price change never rewrites past costs: add a price with a later `from`"
                        )
                    }
                    writes.append(index)
                }
            }
            if writes.isEmpty { return 0 }
            let chosen = writes.map { rows[$0] }
            try session.query(
                """
                INSERT INTO price (resource, unit_price, currency, basis, executor, partition, host_class, effective_from,
                                   source, set_by)
                SELECT resource, unit_price, currency, basis, executor, partition, host_class, effective_from, source, set_by
                FROM jsonb_to_recordset(\(json: chosen)::jsonb)
                     AS x(resource text, unit_price numeric, currency text, basis text, executor text, partition text,
                          host_class text, effective_from timestamptz, source text, set_by text)
                ON CONFLICT (resource, executor, partition, host_class, effective_from) DO UPDATE SET
                    unit_price = EXCLUDED.unit_price, currency = EXCLUDED.currency, basis = EXCLUDED.basis,
                    source = EXCLUDED.source, set_by = EXCLUDED.set_by, created_at = clock_timestamp()
                """)
            return writes.count
        }
    }

    /// What `sluice cost backfill` found and did.
    public struct Backfill: Sendable, Codable, Equatable {
        /// Ended attempts that had no cost lines (they ran before costs were kept).
        public var attemptsWithoutLines: Int
        /// Attempts whose lines (some of them) had no price.
        public var attemptsUnpriced: Int
        /// Attempts given lines now (0 in a dry run).
        public var attemptsCosted = 0
        /// Attempts priced now (0 in a dry run).
        public var attemptsPriced = 0
        /// Attempts still without a price afterwards: no price covers the time they ended.
        public var attemptsStillUnpriced = 0

        enum CodingKeys: String, CodingKey {
            case attemptsWithoutLines = "attempts_without_lines"
            case attemptsCosted = "attempts_costed"
            case attemptsUnpriced = "attempts_unpriced"
            case attemptsPriced = "attempts_priced"
            case attemptsStillUnpriced = "attempts_still_unpriced"
        }
    }

    /// Gives cost lines to ended attempts that have none, then prices lines written while no price applied,
    /// each at the price in effect when its attempt ended. Lines already priced are never touched.
    public func backfill(dryRun: Bool, batch: Int = 50_000) throws -> Backfill {
        let counts = try connection.query(
            """
            SELECT (SELECT count(*) FROM attempt a WHERE a.ended_at IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM attempt_cost c WHERE c.attempt_id = a.id)) AS missing,
                   (SELECT count(*) FROM attempt_cost WHERE unpriced > 0) AS unpriced
            """
        ).rows[0]
        var result = Backfill(
            attemptsWithoutLines: Int(counts.int("missing") ?? 0), attemptsUnpriced: Int(counts.int("unpriced") ?? 0))
        if dryRun { return result }
        var after: Int64 = 0
        while true {
            // In batches of ids, each its own transaction: a big history never holds one long transaction.
            let ids = try connection.query(
                """
                SELECT a.id FROM attempt a
                WHERE a.id > \(after) AND a.ended_at IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM attempt_cost c WHERE c.attempt_id = a.id)
                ORDER BY a.id LIMIT \(batch)
                """
            ).rows.compactMap { $0.int("id") }
            guard let last = ids.last else { break }
            try connection.query("SELECT sluice_cost_attempts(\(PGArray(ids))::bigint[])")
            result.attemptsCosted += ids.count
            after = last
        }
        // Every attempt from before costs were kept has lines now: reports stop pointing at the backfill.
        try connection.query(
            """
            UPDATE cost_state SET backfill_below = 0
            WHERE NOT EXISTS (SELECT 1 FROM attempt a WHERE a.id <= backfill_below AND a.ended_at IS NOT NULL
                              AND NOT EXISTS (SELECT 1 FROM attempt_cost c WHERE c.attempt_id = a.id))
            """)
        let priced = try connection.query("SELECT sluice_cost_price_unpriced() AS n").rows[0]
        result.attemptsPriced = Int(priced.int("n") ?? 0)
        let still = try connection.query("SELECT count(*) AS n FROM attempt_cost WHERE unpriced > 0").rows[0]
        result.attemptsStillUnpriced = Int(still.int("n") ?? 0)
        return result
    }
}
