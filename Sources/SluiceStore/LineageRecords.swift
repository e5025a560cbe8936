import Foundation
import SluiceModel

/// A stat-cache row: a file's identity when it was hashed, and the hash.
public struct StatRow: Sendable, Codable, Equatable {
    /// The absolute path.
    public let path: String
    /// `st_dev`, `st_ino`, `st_size`, and the modification and change times in nanoseconds.
    public let device: Int64, inode: Int64, size: Int64, mtimeNs: Int64, ctimeNs: Int64
    /// The hex SHA-256.
    public let sha256: String

    /// Creates a row.
    public init(path: String, device: Int64, inode: Int64, size: Int64, mtimeNs: Int64, ctimeNs: Int64, sha256: String)
    {
        self.path = path
        self.device = device
        self.inode = inode
        self.size = size
        self.mtimeNs = mtimeNs
        self.ctimeNs = ctimeNs
        self.sha256 = sha256
    }

    enum CodingKeys: String, CodingKey {
        case path, device, inode, size, sha256
        case mtimeNs = "mtime_ns"
        case ctimeNs = "ctime_ns"
    }
}

/// An earlier successful attempt that a step with the same fingerprint can reuse.
public struct ReusableAttempt: Sendable {
    /// The attempt, its run and its step instance's key.
    public let attemptID: Int64, runID: Int64, stepKey: String
    /// The `key=value` outputs it reported, which downstream steps see.
    public let outputs: [String: String]
    /// The versions of data it wrote.
    public let outputVersions: [DataVersion]
}

/// Writes and reads the lineage pins: data versions, the edges from attempts to them, fingerprints, code
/// versions, the stat cache, and cache hits.
public struct LineageRecords: Sendable {
    let connection: PGConnection

    /// Records through a store's connection.
    public init(store: Store) { connection = store.connection }

    /// The stat-cache rows of a host for these paths and everything under them.
    public func stats(host: String, under paths: [String]) throws -> [StatRow] {
        guard !paths.isEmpty else { return [] }
        return try connection.query(
            ("""
            SELECT f.path, f.device, f.inode, f.size, f.mtime_ns, f.ctime_ns, f.sha256
            FROM file_stat f, jsonb_array_elements_text(\(json: paths)::jsonb) AS p(prefix)
            WHERE f.host = \(host)
              AND (f.path = p.prefix OR (f.path >= p.prefix || '/' AND f.path < p.prefix || '0'))
            """ as SQL).plannedOnce()
        ).rows.map {
            StatRow(
                path: $0["path"] ?? "", device: $0.int("device") ?? 0, inode: $0.int("inode") ?? 0,
                size: $0.int("size") ?? 0, mtimeNs: $0.int("mtime_ns") ?? 0, ctimeNs: $0.int("ctime_ns") ?? 0,
                sha256: $0["sha256"] ?? "")
        }
    }

    /// Remembers hashes (one statement for all of them).
    public func saveStats(host: String, _ rows: [StatRow]) throws {
        guard !rows.isEmpty else { return }
        try connection.query(
            ("""
            INSERT INTO file_stat (host, path, device, inode, size, mtime_ns, ctime_ns, sha256)
            SELECT \(host), r.path, r.device, r.inode, r.size, r.mtime_ns, r.ctime_ns, r.sha256
            FROM jsonb_to_recordset(\(json: rows)::jsonb)
                AS r(path text, device bigint, inode bigint, size bigint, mtime_ns bigint, ctime_ns bigint, sha256 text)
            ON CONFLICT (host, path) DO UPDATE SET device = excluded.device, inode = excluded.inode,
                size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, sha256 = excluded.sha256
            """ as SQL).plannedOnce())
    }

    /// Pins the versions of the inputs an attempt read, as they were when it started.
    public func pinInputs(attemptID: Int64, _ inputs: [DataVersion]) throws {
        guard !inputs.isEmpty else { return }
        try connection.query(
            ("""
            INSERT INTO attempt_data (attempt_id, role, data_version_id, path)
            SELECT DISTINCT \(attemptID)::bigint, 'input',
                   sluice_data_version(v.kind, v.name, v.version, v.method, v."sizeBytes"), v.path
            FROM jsonb_to_recordset(\(json: inputs)::jsonb)
                AS v(kind text, name text, path text, version text, method text, "sizeBytes" bigint)
            ON CONFLICT DO NOTHING
            """ as SQL).plannedOnce())
    }

    /// Pins what an attempt wrote and how its inputs fared, once: output versions, inputs that changed
    /// while it ran, `complete` or `input_changed`, and its metrics.
    public func pinEnd(
        attemptID: Int64, outputs: [DataVersion], changedInputs: [DataVersion], metrics: [String: Double]
    ) throws {
        try connection.query(
            ("""
            WITH a AS (
                -- Pinned once: an ending recorded again (by an engine that adopted the attempt) keeps the first.
                UPDATE attempt SET
                       lineage = coalesce(lineage, CASE WHEN \(changedInputs.count) > 0 THEN 'input_changed' ELSE 'complete' END),
                       metrics = coalesce(metrics, nullif(\(json: metrics)::jsonb, '{}'))
                WHERE id = \(attemptID) RETURNING id
            ), o AS (
                INSERT INTO attempt_data (attempt_id, role, data_version_id, path)
                SELECT DISTINCT a.id, 'output', sluice_data_version(v.kind, v.name, v.version, v.method, v."sizeBytes"), v.path
                FROM a, jsonb_to_recordset(\(json: outputs)::jsonb)
                    AS v(kind text, name text, path text, version text, method text, "sizeBytes" bigint)
                ON CONFLICT DO NOTHING
            ), c AS (
                UPDATE attempt_data d SET changed = true
                FROM data_version v, jsonb_to_recordset(\(json: changedInputs)::jsonb)
                    AS x(kind text, name text, version text)
                WHERE d.attempt_id = \(attemptID) AND d.role = 'input' AND v.id = d.data_version_id
                  AND v.kind = x.kind AND v.name = x.name AND v.version = x.version
            )
            SELECT count(*) AS n FROM a
            """ as SQL).plannedOnce())
    }

    /// The latest attempt with this fingerprint whose step succeeded with complete lineage, with its outputs.
    public func reusable(fingerprint: String) throws -> ReusableAttempt? {
        guard
            let row = try connection.query(
                ("""
                SELECT a.id, s.run_id, s.step_key, a.outputs::text AS outputs
                FROM attempt a JOIN step_instance s ON s.id = a.step_instance_id
                WHERE a.fingerprint = \(fingerprint) AND a.state = 'exited' AND a.exit_code = 0
                  AND a.lineage = 'complete' AND s.state = 'succeeded'
                ORDER BY a.id DESC LIMIT 1
                """ as SQL).plannedOnce()
            ).rows.first, let id = row.int("id")
        else { return nil }
        let outputs = (row["outputs"]).flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
        return ReusableAttempt(
            attemptID: id, runID: row.int("run_id") ?? 0, stepKey: row["step_key"] ?? "", outputs: outputs ?? [:],
            outputVersions: try versions(attemptID: id, role: "output"))
    }

    /// The data versions an attempt read or wrote.
    public func versions(attemptID: Int64, role: String) throws -> [DataVersion] {
        try connection.query(
            ("""
            SELECT v.kind, v.name, d.path, v.version, v.method, v.size_bytes
            FROM attempt_data d JOIN data_version v ON v.id = d.data_version_id
            WHERE d.attempt_id = \(attemptID) AND d.role = \(role)
            ORDER BY v.name
            """ as SQL).plannedOnce()
        ).rows.map(Self.version)
    }

    /// Points a ready step at the earlier attempt it reuses; the step's move to `cached` follows.
    public func pointAt(reused: Int64, runID: Int64, stepID: Int64) throws {
        try connection.query(
            ("""
            UPDATE step_instance SET reused_attempt_id = \(reused)
            WHERE id = \(stepID) AND run_id = \(runID) AND state = 'ready'
            """ as SQL).plannedOnce())
    }

    /// The latest version of a dataset or URI that an attempt wrote (what a `from_step` input reads).
    public func latestVersion(kind: String, name: String) throws -> String? {
        try connection.query(
            """
            SELECT v.version FROM data_version v
            JOIN attempt_data d ON d.data_version_id = v.id AND d.role = 'output'
            WHERE v.kind = \(kind) AND v.name = \(name)
            ORDER BY d.attempt_id DESC LIMIT 1
            """
        ).rows.first?["version"]
    }

    /// Adds to the bytes a run read to hash data (the stat cache spares unchanged files).
    public func addBytesHashed(runID: Int64, _ bytes: Int64) throws {
        try connection.query("UPDATE run SET bytes_hashed = coalesce(bytes_hashed, 0) + \(bytes) WHERE id = \(runID)")
    }

    /// This database's own id (made by the migration).
    public func installationID() throws -> String {
        try connection.query("SELECT id::text AS id FROM installation ORDER BY created_at LIMIT 1").rows.first?["id"]
            ?? ""
    }

    /// What this database's attempt cgroups are named with (`run<id>-<step>.<attempt>-<tag>-<pid>-<n>`), so
    /// that an engine never takes another database's runs for its own; nil when the database has no id.
    public func cgroupTag() throws -> String? { Self.cgroupTag(installationID: try installationID()) }

    /// The tag of a database's attempt cgroups: the first 8 hex digits of its installation id; nil without one.
    public static func cgroupTag(installationID: String) -> String? {
        let digits = String(installationID.filter(\.isHexDigit).prefix(8))
        return digits.count == 8 ? digits.lowercased() : nil
    }

    /// The hash of a DAG version (its file and templates).
    public func specHash(versionID: Int64) throws -> String? {
        try connection.query("SELECT spec_hash FROM dag_version WHERE id = \(versionID)").rows.first?["spec_hash"]
    }

    static func version(_ row: PGRow) -> DataVersion {
        DataVersion(
            kind: DataVersion.Kind(rawValue: row["kind"] ?? "") ?? .path, name: row["name"] ?? "", path: row["path"],
            version: row["version"] ?? "", method: row["method"] ?? "", sizeBytes: row.int("size_bytes"))
    }
}
