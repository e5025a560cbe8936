import Foundation
import SluiceSpec
import SluiceStore

/// A DAG version as the database keeps it, turned back into a spec and a plan for one run.
public enum RecordedVersion {
    /// The spec of version `id`, parsed from its recorded source and templates (not from disk).
    public static func spec(_ id: Int64, catalog: DagCatalog) throws -> DAGSpec {
        guard let version = try catalog.version(id) else {
            throw PlanError(["DAG version \(id) is not recorded"])
        }
        return try spec(source: version.source, path: version.path, templates: version.templates)
    }

    /// A spec from a version's parts: its source, the file it came from, and its templates as JSON.
    public static func spec(source: String, path: String, templates: String) throws -> DAGSpec {
        let included =
            (try? JSONDecoder().decode([String: String].self, from: Data(templates.utf8))) ?? [:]
        return try SpecLoader.parse(
            bytes: Array(source.utf8), file: path, baseDirectory: (path as NSString).deletingLastPathComponent,
            templates: included)
    }

    /// The plan of a queued run: its version, with the parameters and logical date it was queued with.
    public static func plan(_ claimed: ClaimedRun, catalog: DagCatalog) throws -> RunPlan {
        let spec = try spec(claimed.versionID, catalog: catalog)
        let given = spec.params.compactMap { param in claimed.params[param.name].map { (param.name, $0) } }
        return try Planner.plan(
            spec, params: given, logicalDate: claimed.logicalDate ?? Planner.today(timezone: spec.timezone))
    }
}
