import Foundation
import SluiceModel

/// A data version in a lineage answer, with its id.
public struct LineageVersion: Sendable, Codable, Equatable {
    /// Its id in `data_version`.
    public let id: Int64
    /// `path`, `dataset` or `uri`.
    public let kind: String
    /// The absolute path, the dataset's name, or the URI.
    public let name: String
    /// The version.
    public let version: String
    /// How it was found.
    public let method: String
    /// Its size in bytes, for local data.
    public let sizeBytes: Int64?
}

/// The attempt that produced or read a version: which run and step, with what code and params.
public struct LineageAttempt: Sendable, Codable, Equatable {
    /// The attempt's id.
    public let attempt: Int64
    /// Its run, the run's DAG and state, and the step instance.
    public let run: Int64, dag: String, step: String
    /// The attempt's number.
    public let number: Int
    /// When it ended.
    public let endedAt: Date?
    /// The code it ran.
    public let code: CodeDetail?
    /// Its run's params.
    public let params: [String: String]
    /// Its fingerprint.
    public let fingerprint: String?
    /// `complete` or `input_changed`.
    public let lineage: String?
    /// Its metrics.
    public let metrics: [String: Double]?
}

/// One edge of the lineage graph: attempt `attempt` read (`input`) or wrote (`output`) version `version`.
public struct LineageEdge: Sendable, Codable, Hashable {
    /// The attempt's id.
    public let attempt: Int64
    /// The version's id.
    public let version: Int64
    /// `input` or `output`.
    public let role: String
    /// For an input: it changed while the attempt ran.
    public let changed: Bool
}

/// A part of the lineage graph: versions, attempts and the edges between them.
public struct LineageGraph: Sendable, Codable {
    /// The versions, by id.
    public var versions: [Int64: LineageVersion] = [:]
    /// The attempts, by id.
    public var attempts: [Int64: LineageAttempt] = [:]
    /// The edges.
    public var edges: [LineageEdge] = []
}

/// The lineage graph's reads: finding a version, walking up (what produced it) and down (what it fed).
public struct LineageQueries: Sendable {
    let connection: PGConnection

    /// Queries on a store's connection.
    public init(store: Store) { connection = store.connection }

    /// The versions recorded for a path (as a path, or as a dataset's path), a dataset or a URI, newest first;
    /// `version` narrows them to those whose version starts with it.
    public func find(name: String, path: String?, version: String?) throws -> [LineageVersion] {
        try connection.query(
            """
            WITH named AS (
                SELECT id FROM data_version WHERE name = \(name)
                UNION
                SELECT data_version_id FROM attempt_data WHERE path = \(path)
            )
            SELECT v.id, v.kind, v.name, v.version, v.method, v.size_bytes
            FROM data_version v JOIN named ON named.id = v.id
            WHERE \(version)::text IS NULL OR starts_with(v.version, \(version))
            ORDER BY v.id DESC
            """
        ).rows.map(Self.version).sorted { $0.id > $1.id }
    }

    /// The edges touching these versions in one direction: the attempts that wrote them (`up`) with
    /// everything those attempts read, or the attempts that read them (`down`) with everything they wrote.
    /// The same bytes at the same path are one version, whether a step declared them as a path or as a
    /// named dataset: an edge to such a twin is returned as an edge to the version asked about.
    public func step(from versions: [Int64], up: Bool) throws -> [LineageEdge] {
        guard !versions.isEmpty else { return [] }
        let first = up ? "output" : "input"
        let second = up ? "input" : "output"
        return try connection.query(
            """
            WITH f AS (
                SELECT jsonb_array_elements_text(\(json: versions)::jsonb)::bigint AS id
            ), eq AS (
                SELECT f.id AS via, f.id AS id FROM f
                UNION
                SELECT f.id, d2.data_version_id
                FROM f JOIN data_version v1 ON v1.id = f.id
                JOIN attempt_data d1 ON d1.data_version_id = f.id AND d1.path IS NOT NULL
                JOIN attempt_data d2 ON d2.path = d1.path AND d2.data_version_id <> f.id
                JOIN data_version v2 ON v2.id = d2.data_version_id AND v2.version = v1.version
            ), hop AS (
                SELECT DISTINCT d.attempt_id, eq.via, d.data_version_id FROM attempt_data d
                JOIN eq ON eq.id = d.data_version_id
                WHERE d.role = \(first)
            )
            SELECT DISTINCT d.attempt_id,
                   CASE WHEN d.role = \(first) THEN hop.via ELSE d.data_version_id END AS data_version_id,
                   d.role, d.changed
            FROM attempt_data d JOIN hop ON hop.attempt_id = d.attempt_id
            WHERE d.role = \(second) OR (d.role = \(first) AND d.data_version_id = hop.data_version_id)
            ORDER BY 1, 3, 2
            """
        ).rows.map {
            LineageEdge(
                attempt: $0.int("attempt_id") ?? 0, version: $0.int("data_version_id") ?? 0, role: $0["role"] ?? "",
                changed: $0.bool("changed") == true)
        }
    }

    /// Walks the graph from some versions, up or down, to the end (or `depth` hops).
    public func walk(from start: [Int64], up: Bool, depth: Int = 1000) throws -> LineageGraph {
        var graph = LineageGraph()
        var seen = Set(start)
        var frontier = start
        var hops = 0
        var known = Set<LineageEdge>()
        while !frontier.isEmpty && hops < depth {
            let edges = try step(from: frontier, up: up)
            var next: [Int64] = []
            for edge in edges where known.insert(edge).inserted {
                graph.edges.append(edge)
                if seen.insert(edge.version).inserted { next.append(edge.version) }
            }
            frontier = next
            hops += 1
        }
        try fill(&graph, versions: Array(seen))
        return graph
    }

    /// Loads the versions and attempts a graph's edges name.
    public func fill(_ graph: inout LineageGraph, versions: [Int64]) throws {
        let ids = Array(Set(versions + graph.edges.map(\.version)))
        if !ids.isEmpty {
            for row in try connection.query(
                """
                SELECT id, kind, name, version, method, size_bytes FROM data_version
                WHERE id IN (SELECT jsonb_array_elements_text(\(json: ids)::jsonb)::bigint)
                """
            ).rows {
                let version = Self.version(row)
                graph.versions[version.id] = version
            }
        }
        let attempts = Array(Set(graph.edges.map(\.attempt)))
        guard !attempts.isEmpty else { return }
        for row in try connection.query(
            """
            SELECT a.id, a.number, s.run_id, s.step_key, d.name AS dag, a.fingerprint, a.lineage,
                   a.code::text AS code_text, a.metrics::text AS metrics_text, r.params::text AS params_text,
                   extract(epoch FROM a.ended_at)::float8 AS ended
            FROM attempt a JOIN step_instance s ON s.id = a.step_instance_id
            JOIN run r ON r.id = s.run_id JOIN dag d ON d.id = r.dag_id
            WHERE a.id IN (SELECT jsonb_array_elements_text(\(json: attempts)::jsonb)::bigint)
            """
        ).rows {
            let decode = { (text: String?) in text.map { Data($0.utf8) } }
            let attempt = LineageAttempt(
                attempt: row.int("id") ?? 0, run: row.int("run_id") ?? 0, dag: row["dag"] ?? "",
                step: row["step_key"] ?? "", number: Int(row.int("number") ?? 0),
                endedAt: row.double("ended").map { Date(timeIntervalSince1970: $0) },
                code: decode(row["code_text"]).flatMap { try? JSONDecoder().decode(CodeDetail.self, from: $0) },
                params: decode(row["params_text"]).flatMap {
                    try? JSONDecoder().decode([String: String].self, from: $0)
                }
                    ?? [:],
                fingerprint: row["fingerprint"], lineage: row["lineage"],
                metrics: decode(row["metrics_text"]).flatMap {
                    try? JSONDecoder().decode([String: Double].self, from: $0)
                })
            graph.attempts[attempt.attempt] = attempt
        }
    }

    /// The newest version recorded (written) of each of these names, by name.
    public func latest(names: [String]) throws -> [String: Int64] {
        guard !names.isEmpty else { return [:] }
        var result: [String: Int64] = [:]
        for row in try connection.query(
            """
            SELECT DISTINCT ON (v.name) v.name, v.id FROM data_version v
            JOIN attempt_data d ON d.data_version_id = v.id AND d.role = 'output'
            WHERE v.name IN (SELECT jsonb_array_elements_text(\(json: names)::jsonb))
            ORDER BY v.name, d.attempt_id DESC
            """
        ).rows {
            result[row["name"] ?? ""] = row.int("id")
        }
        return result
    }

    static func version(_ row: PGRow) -> LineageVersion {
        LineageVersion(
            id: row.int("id") ?? 0, kind: row["kind"] ?? "", name: row["name"] ?? "", version: row["version"] ?? "",
            method: row["method"] ?? "", sizeBytes: row.int("size_bytes"))
    }
}
