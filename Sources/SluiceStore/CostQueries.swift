import Foundation
import SluiceBasics
import Synchronization

/// A period and a grouping for cost reports.
public struct CostFilter: Sendable {
    /// The period: attempts that ended in [from, to).
    public var from: Date, to: Date
    /// What to group by: tag keys, and `step` for DAG and step together.
    public var by: [String]
    /// One group per UTC day as well.
    public var daily = false
    /// Only this DAG's attempts.
    public var dag: String?

    /// Creates a filter.
    public init(from: Date, to: Date, by: [String], daily: Bool = false, dag: String? = nil) {
        self.from = from
        self.to = to
        self.by = by
        self.daily = daily
        self.dag = dag
    }
}

/// One group of a cost report: what its attempts cost, wasted, left unused and saved.
public struct CostGroup: Sendable, Codable, Equatable {
    /// The group's values, one per `by` key; `(untagged)` where an attempt had no such tag.
    public var keys: [String]
    /// The UTC day (`2026-11-23`), in a daily report.
    public var day: String?
    /// Attempts that ended in the period.
    public var attempts: Int
    /// Of those, the ones that did not succeed.
    public var failedAttempts: Int
    /// Wall-clock hours of those attempts.
    public var hours: Double
    /// What they cost.
    public var amount: Double
    /// What failed attempts (including the failed tries of retried steps) cost: part of `amount`.
    public var waste: Double
    /// What was requested but not used (CPU and memory), at the prices charged.
    public var unused: Double
    /// Steps served from the cache, and what their reused attempts had cost.
    public var cachedSteps: Int
    /// What the cache saved.
    public var saved: Double
    /// Attempts with a resource no price covered (their amount counts only the priced resources).
    public var unpricedAttempts: Int

    enum CodingKeys: String, CodingKey {
        case keys, day, attempts, hours, amount, waste, unused, saved
        case failedAttempts = "failed_attempts"
        case cachedSteps = "cached_steps"
        case unpricedAttempts = "unpriced_attempts"
    }
}

/// One attempt in `sluice cost run`.
public struct AttemptCost: Sendable, Codable, Equatable {
    /// One resource of it.
    public struct Line: Sendable, Codable, Equatable {
        /// `cpu`, `memory`, `gpu`, `wall` or `attempt`.
        public let resource: String
        /// The unit of `quantity`.
        public let unit: String
        /// `max`, `requested` or `used`.
        public let basis: String
        /// What it asked for and used (cores, GiB, GPUs).
        public let requested: Double?, used: Double?
        /// Hours charged over.
        public let hours: Double
        /// Units charged.
        public let quantity: Double
        /// Units requested but not used.
        public let unused: Double
        /// The price row, its unit price, and the amount (nil while unpriced).
        public let priceID: Int64?, unitPrice: Double?, amount: Double?

        enum CodingKeys: String, CodingKey {
            case resource, unit, basis, requested, used, hours, quantity, unused, amount
            case priceID = "price_id"
            case unitPrice = "unit_price"
        }
    }

    /// The step instance and the attempt's number.
    public let step: String, number: Int
    /// The attempt's id and state.
    public let attempt: Int64, state: String
    /// Did not succeed.
    public let waste: Bool
    /// What it cost, and what of its request it left unused.
    public let amount: Double?, unused: Double?
    /// Its tags.
    public let tags: [String: String]
    /// Its lines.
    public let lines: [Line]
}

/// A cached step in `sluice cost run`: what reusing an earlier attempt saved.
public struct CachedSaving: Sendable, Codable, Equatable {
    /// The step instance.
    public let step: String
    /// The attempt it reused.
    public let reusedAttempt: Int64
    /// What that attempt had cost.
    public let saved: Double?

    enum CodingKeys: String, CodingKey {
        case step, saved
        case reusedAttempt = "reused_attempt"
    }
}

/// Usage against requests of one step over a period, for right-sizing.
public struct StepUsage: Sendable, Codable, Equatable {
    /// The DAG and step.
    public let dag: String, step: String
    /// The id of the step's tag set (its dag and step), which right-sizing groups by.
    public let stepSetID: Int64
    /// Attempts in the period.
    public let attempts: Int
    /// Median and 95th percentile of cores used (CPU seconds over wall seconds).
    public let cpuUsedP50: Double?, cpuUsedP95: Double?
    /// Median and 95th percentile of peak memory in bytes.
    public let memoryPeakP50: Int64?, memoryPeakP95: Int64?
    /// Attempts killed for memory, and timed out.
    public let oomKills: Int, timeouts: Int
    /// The step's current request: its latest attempt's.
    public let cpuRequested: Double?, memoryRequested: Int64?
    /// What its attempts cost.
    public let amount: Double
    /// What its CPU and memory were charged, in the parts a new request's charge is computed from.
    public let charges: Charges

    /// Sums over a step's attempts, per resource and basis, with w = unit price × hours (per core; per byte
    /// for memory): under `max`, Σ w·max(requested, used) and Σ w; under `requested`, Σ w·requested and Σ w.
    /// What a request `x` would have charged is then, under `max`, x·Σw plus Σ w·(used − x) over the attempts
    /// that used more than x (read separately: a few rows from an index), and under `requested` x·Σw.
    public struct Charges: Sendable, Codable, Equatable {
        /// CPU, per core.
        public var cpuMax = 0.0, cpuMaxWeight = 0.0, cpuRequested = 0.0, cpuRequestedWeight = 0.0
        /// Memory, per byte.
        public var memoryMax = 0.0, memoryMaxWeight = 0.0, memoryRequested = 0.0, memoryRequestedWeight = 0.0

        /// No charges.
        public init() {}
    }

    /// A percentile of use over the current request.
    public static func ratio(_ used: Double?, _ requested: Double?) -> Double? {
        guard let used, let requested, requested > 0 else { return nil }
        return used / requested
    }
}

/// Reads costs for reports; every query reads `attempt_cost`, `cost_saving` and `tag_set`.
public struct CostQueries: Sendable {
    let connection: PGConnection

    /// Queries on a store's connection.
    public init(store: Store) { connection = store.connection }

    /// Queries on another connection to the same database.
    public init(connection: PGConnection) { self.connection = connection }

    /// The groups of a report, largest amount first (by day first, in a daily report).
    public func report(_ filter: CostFilter) throws -> [CostGroup] {
        try connection.query(
            """
            WITH a AS (
                SELECT tag_set_id,
                       CASE WHEN \(filter.daily) THEN to_char(ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END AS day,
                       count(*) AS attempts, count(*) FILTER (WHERE waste) AS failed, sum(hours) AS hours,
                       sum(amount) AS amount, coalesce(sum(amount) FILTER (WHERE waste), 0) AS waste,
                       sum(unused_amount) AS unused, count(*) FILTER (WHERE unpriced > 0) AS unpriced
                FROM attempt_cost
                WHERE ended_at >= \(RFC3339.string(filter.from))::timestamptz
                  AND ended_at < \(RFC3339.string(filter.to))::timestamptz
                GROUP BY 1, 2
            ), s AS (
                SELECT tag_set_id, CASE WHEN \(filter.daily) THEN to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END AS day,
                       count(*) AS cached, coalesce(sum(amount), 0) AS saved
                FROM cost_saving
                WHERE at >= \(RFC3339.string(filter.from))::timestamptz AND at < \(RFC3339.string(filter.to))::timestamptz
                GROUP BY 1, 2
            ), j AS (
                SELECT tag_set_id, day, attempts, failed, hours, amount, waste, unused, unpriced,
                       0 AS cached, 0::numeric AS saved FROM a
                UNION ALL
                SELECT tag_set_id, day, 0, 0, 0, 0, 0, 0, 0, cached, saved FROM s
            )
            SELECT ARRAY(
                       SELECT CASE WHEN k = 'step'
                                   THEN coalesce(t.tags->>'dag', '(untagged)') || '/' || coalesce(t.tags->>'step', '(untagged)')
                                   ELSE coalesce(nullif(t.tags->>k, ''), '(untagged)') END
                       FROM unnest(\(PGArray(filter.by))::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n
                   ) AS keys,
                   j.day, sum(j.attempts) AS attempts, sum(j.failed) AS failed, sum(j.hours) AS hours,
                   sum(j.amount) AS amount, sum(j.waste) AS waste, sum(j.unused) AS unused, sum(j.cached) AS cached,
                   sum(j.saved) AS saved, sum(j.unpriced) AS unpriced
            FROM j LEFT JOIN tag_set t ON t.id = j.tag_set_id
            WHERE \(filter.dag)::text IS NULL OR t.tags->>'dag' = \(filter.dag)
            GROUP BY 1, 2
            ORDER BY 2 NULLS FIRST, 6 DESC, 1
            """
        ).rows.map { row in
            CostGroup(
                keys: PGArray.parse(row["keys"] ?? "{}"), day: row["day"], attempts: Int(row.int("attempts") ?? 0),
                failedAttempts: Int(row.int("failed") ?? 0), hours: row.double("hours") ?? 0,
                amount: row.double("amount") ?? 0, waste: row.double("waste") ?? 0, unused: row.double("unused") ?? 0,
                cachedSteps: Int(row.int("cached") ?? 0), saved: row.double("saved") ?? 0,
                unpricedAttempts: Int(row.int("unpriced") ?? 0))
        }
    }

    /// The costs of one run: each attempt with its lines, and what its cached steps saved.
    public func run(_ runID: Int64) throws -> (attempts: [AttemptCost], cached: [CachedSaving]) {
        let attempts = try connection.query(
            """
            SELECT s.step_key, a.number, a.id, a.state, c.amount, c.unused_amount, coalesce(c.waste, a.ended_at IS NOT NULL
                   AND NOT coalesce(a.state = 'exited' AND a.exit_code = 0, false)) AS waste,
                   coalesce(t.tags, '{}')::text AS tags,
                   coalesce((SELECT jsonb_agg(jsonb_build_object(
                           'resource', l.resource, 'unit', l.unit, 'basis', l.basis, 'requested', l.requested,
                           'used', l.used, 'hours', l.hours, 'quantity', l.quantity, 'unused', l.unused,
                           'price_id', l.price_id, 'unit_price', l.unit_price, 'amount', l.amount)
                           ORDER BY array_position(ARRAY['cpu', 'memory', 'gpu', 'wall', 'attempt'], l.resource))
                       FROM cost_line l WHERE l.attempt_id = a.id), '[]')::text AS lines
            FROM step_instance s JOIN attempt a ON a.step_instance_id = s.id
            LEFT JOIN attempt_cost c ON c.attempt_id = a.id
            LEFT JOIN tag_set t ON t.id = a.tag_set_id
            WHERE s.run_id = \(runID)
            ORDER BY s.position, a.number
            """
        ).rows.map { row in
            AttemptCost(
                step: row["step_key"] ?? "", number: Int(row.int("number") ?? 0), attempt: row.int("id") ?? 0,
                state: row["state"] ?? "", waste: row.bool("waste") ?? false, amount: row.double("amount"),
                unused: row.double("unused_amount"),
                tags: (try? JSONDecoder().decode([String: String].self, from: Data((row["tags"] ?? "{}").utf8))) ?? [:],
                lines: (try? JSONDecoder().decode([AttemptCost.Line].self, from: Data((row["lines"] ?? "[]").utf8)))
                    ?? [])
        }
        let cached = try connection.query(
            """
            SELECT s.step_key, c.reused_attempt_id, c.amount
            FROM cost_saving c JOIN step_instance s ON s.id = c.step_instance_id
            WHERE s.run_id = \(runID) ORDER BY s.position
            """
        ).rows.map {
            CachedSaving(
                step: $0["step_key"] ?? "", reusedAttempt: $0.int("reused_attempt_id") ?? 0, saved: $0.double("amount"))
        }
        return (attempts, cached)
    }

    /// The highest id of the attempts recorded before costs were kept, while `sluice cost backfill` has not
    /// given them lines (nil once it has, or when there were none).
    public func backfillPending() throws -> Int64? {
        let below = try connection.query("SELECT backfill_below FROM cost_state").rows.first?.int("backfill_below")
        return (below ?? 0) > 0 ? below : nil
    }

    /// Whether the run exists.
    public func runExists(_ runID: Int64) throws -> Bool {
        try connection.query("SELECT EXISTS (SELECT 1 FROM run WHERE id = \(runID)) AS present").rows[0].bool("present")
            ?? false
    }

    /// Per step (its dag and step tags), usage in [from, to), optionally for one DAG, with the steps split
    /// into halves read side by side on this connection and `other` (the percentiles are sorts PostgreSQL
    /// cannot share among its parallel workers; two connections use two cores).
    public func usage(from: Date, to: Date, dag: String?, alongside other: PGConnection) throws -> [StepUsage] {
        let middle =
            try connection.query(
                """
                SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id) AS middle FROM tag_set
                WHERE step_set_id IS NULL AND tags ? 'step'
                """
            ).rows.first?.int("middle") ?? 0
        let queries = [self, CostQueries(connection: other)]
        let halves = Mutex<[Result<[StepUsage], Error>]>([.success([]), .success([])])
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            let result = Result {
                try queries[half].usage(
                    from: from, to: to, dag: dag, steps: half == 0 ? Int64.min...middle : (middle + 1)...Int64.max)
            }
            halves.withLock { $0[half] = result }
        }
        let results = halves.withLock { $0 }
        return try (results[0].get() + results[1].get()).sorted { ($0.dag, $0.step) < ($1.dag, $1.step) }
    }

    /// Per step (its dag and step tags) whose tag set id is in `steps`, usage in [from, to), optionally for one
    /// DAG. One index-only scan of `attempt_cost_by_step_memory`, in step order: no table access.
    public func usage(from: Date, to: Date, dag: String?, steps: ClosedRange<Int64>) throws -> [StepUsage] {
        try connection.query(
            """
            WITH g AS (
                SELECT step_set_id, count(*) AS attempts,
                       percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY cpu_used)::text AS cpu,
                       percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY memory_peak)::text AS memory,
                       count(*) FILTER (WHERE state = 'oom_killed') AS ooms,
                       count(*) FILTER (WHERE state = 'timed_out') AS timeouts,
                       max(attempt_id) AS latest, sum(amount::float8) AS amount,
                       -- The basis rules of sluice_cost_quantity, split into sums (see StepUsage.Charges).
                       sum(cpu_rate * hours * greatest(coalesce(cpu_requested, 0), coalesce(cpu_used, 0)))
                           FILTER (WHERE cpu_basis = 'max') AS cpu_max,
                       sum(cpu_rate * hours) FILTER (WHERE cpu_basis = 'max') AS cpu_max_weight,
                       sum(cpu_rate * hours * coalesce(cpu_requested, cpu_used, 0))
                           FILTER (WHERE cpu_basis = 'requested') AS cpu_requested,
                       sum(cpu_rate * hours) FILTER (WHERE cpu_basis = 'requested') AS cpu_requested_weight,
                       sum(memory_rate * hours / 1073741824.0::float8
                           * greatest(coalesce(memory_requested, 0), coalesce(memory_peak, 0)))
                           FILTER (WHERE memory_basis = 'max') AS memory_max,
                       sum(memory_rate * hours / 1073741824.0::float8)
                           FILTER (WHERE memory_basis = 'max') AS memory_max_weight,
                       sum(memory_rate * hours / 1073741824.0::float8 * coalesce(memory_requested, memory_peak, 0))
                           FILTER (WHERE memory_basis = 'requested') AS memory_requested,
                       sum(memory_rate * hours / 1073741824.0::float8)
                           FILTER (WHERE memory_basis = 'requested') AS memory_requested_weight
                FROM attempt_cost
                WHERE ended_at >= \(RFC3339.string(from))::timestamptz AND ended_at < \(RFC3339.string(to))::timestamptz
                  AND step_set_id BETWEEN \(steps.lowerBound) AND \(steps.upperBound)
                  AND (\(dag)::text IS NULL
                       OR step_set_id IN (SELECT id FROM tag_set WHERE step_set_id IS NULL AND tags->>'dag' = \(dag)))
                GROUP BY step_set_id
            )
            SELECT coalesce(t.tags->>'dag', '(untagged)') AS dag, coalesce(t.tags->>'step', '(untagged)') AS step,
                   g.*, l.cpu_requested AS cpu_now, l.memory_requested AS memory_now
            FROM g LEFT JOIN tag_set t ON t.id = g.step_set_id LEFT JOIN attempt_cost l ON l.attempt_id = g.latest
            """
        ).rows.map { row in
            let cpu = PGArray.parse(row["cpu"] ?? "{}").map(Double.init)
            let memory = PGArray.parse(row["memory"] ?? "{}").map { Int64($0) }
            var charges = StepUsage.Charges()
            charges.cpuMax = row.double("cpu_max") ?? 0
            charges.cpuMaxWeight = row.double("cpu_max_weight") ?? 0
            charges.cpuRequested = row.double("cpu_requested") ?? 0
            charges.cpuRequestedWeight = row.double("cpu_requested_weight") ?? 0
            charges.memoryMax = row.double("memory_max") ?? 0
            charges.memoryMaxWeight = row.double("memory_max_weight") ?? 0
            charges.memoryRequested = row.double("memory_requested") ?? 0
            charges.memoryRequestedWeight = row.double("memory_requested_weight") ?? 0
            return StepUsage(
                dag: row["dag"] ?? "", step: row["step"] ?? "", stepSetID: row.int("step_set_id") ?? 0,
                attempts: Int(row.int("attempts") ?? 0), cpuUsedP50: cpu.first ?? nil,
                cpuUsedP95: cpu.count > 1 ? cpu[1] : nil, memoryPeakP50: memory.first ?? nil,
                memoryPeakP95: memory.count > 1 ? memory[1] : nil, oomKills: Int(row.int("ooms") ?? 0),
                timeouts: Int(row.int("timeouts") ?? 0), cpuRequested: row.double("cpu_now"),
                memoryRequested: row.int("memory_now"), amount: row.double("amount") ?? 0, charges: charges)
        }
    }

    /// A request to price a step's attempts at.
    public struct Sizing: Sendable, Encodable {
        /// The step's tag set (`StepUsage.stepSetID`).
        public let stepSetID: Int64
        /// The cores and memory bytes to price at.
        public let cpus: Double, memory: Int64

        /// Creates one.
        public init(stepSetID: Int64, cpus: Double, memory: Int64) {
            self.stepSetID = stepSetID
            self.cpus = cpus
            self.memory = memory
        }

        enum CodingKeys: String, CodingKey {
            case cpus, memory
            case stepSetID = "step_set_id"
        }
    }

    /// Per step, what its attempts in [from, to) would have cost less had they requested `sizing` (CPU and
    /// memory, each at the price and basis it was charged at); negative when the sizing asks for more. From
    /// the step's `charges` and, under `max`, the attempts that used more than the new request, which the
    /// two step indexes find without reading the rest.
    public func savings(from: Date, to: Date, usage: [StepUsage], sizing: [Sizing]) throws -> [Int64: Double] {
        guard !sizing.isEmpty else { return [:] }
        var excess: [Int64: (cpu: Double, memory: Double)] = [:]
        for row in try connection.query(
            """
            WITH r AS (
                SELECT * FROM jsonb_to_recordset(\(json: sizing)::jsonb)
                    AS r(step_set_id bigint, cpus double precision, memory bigint)
            )
            SELECT r.step_set_id,
                   (SELECT sum(c.cpu_rate * c.hours * (c.cpu_used - r.cpus)) FROM attempt_cost c
                    WHERE c.step_set_id = r.step_set_id AND c.cpu_used > r.cpus AND c.cpu_basis = 'max'
                      AND c.ended_at >= \(RFC3339.string(from))::timestamptz
                      AND c.ended_at < \(RFC3339.string(to))::timestamptz) AS cpu,
                   (SELECT sum(c.memory_rate * c.hours / 1073741824.0::float8 * (c.memory_peak - r.memory))
                    FROM attempt_cost c
                    WHERE c.step_set_id = r.step_set_id AND c.memory_peak > r.memory AND c.memory_basis = 'max'
                      AND c.ended_at >= \(RFC3339.string(from))::timestamptz
                      AND c.ended_at < \(RFC3339.string(to))::timestamptz) AS memory
            FROM r
            """
        ).rows {
            if let id = row.int("step_set_id") { excess[id] = (row.double("cpu") ?? 0, row.double("memory") ?? 0) }
        }
        let charges = Dictionary(usage.map { ($0.stepSetID, $0.charges) }, uniquingKeysWith: { first, _ in first })
        var result: [Int64: Double] = [:]
        for size in sizing {
            guard let c = charges[size.stepSetID] else { continue }
            let over = excess[size.stepSetID] ?? (0, 0)
            let memory = Double(size.memory)
            let cpuNow = c.cpuMax + c.cpuRequested
            let cpuThen = size.cpus * (c.cpuMaxWeight + c.cpuRequestedWeight) + over.cpu
            let memoryNow = c.memoryMax + c.memoryRequested
            let memoryThen = memory * (c.memoryMaxWeight + c.memoryRequestedWeight) + over.memory
            result[size.stepSetID] = (cpuNow - cpuThen) + (memoryNow - memoryThen)
        }
        return result
    }
}
