import Foundation
import SluiceBasics
import SluiceLineage
import SluiceModel
import SluiceSpec
import SluiceStore

/// A stat cache kept in the database (`file_stat`, per host), loaded per data root on first use and saved
/// in one statement per attempt.
final class StoreStatCache: StatCache {
    private let records: LineageRecords
    private let host: String
    private var loadedRoots: Set<String> = []
    private var entries: [String: (FileIdentity, String)] = [:]
    private var pending: [String: StatRow] = [:]

    init(records: LineageRecords, host: String) {
        self.records = records
        self.host = host
    }

    /// Loads what is known about these paths and everything under them, once per path.
    func preload(_ roots: [String]) throws {
        let fresh = roots.filter { !loadedRoots.contains($0) }
        guard !fresh.isEmpty else { return }
        for row in try records.stats(host: host, under: fresh) {
            entries[row.path] = (
                FileIdentity(
                    device: row.device, inode: row.inode, size: row.size, mtimeNanoseconds: row.mtimeNs,
                    ctimeNanoseconds: row.ctimeNs), row.sha256
            )
        }
        loadedRoots.formUnion(fresh)
    }

    func hash(of path: String, identity: FileIdentity) -> String? {
        guard let (known, sha) = entries[path], known == identity else { return nil }
        return sha
    }

    func remember(_ path: String, identity: FileIdentity, sha256: String) {
        entries[path] = (identity, sha256)
        pending[path] = StatRow(
            path: path, device: identity.device, inode: identity.inode, size: identity.size,
            mtimeNs: identity.mtimeNanoseconds, ctimeNs: identity.ctimeNanoseconds, sha256: sha256)
    }

    /// Saves the hashes computed since the last save.
    func save() throws {
        guard !pending.isEmpty else { return }
        try records.saveStats(host: host, pending.values.sorted { $0.path < $1.path })
        pending = [:]
    }
}

/// The lineage side of one run: its code version, the versioner and its stat cache, and the input
/// versions each running attempt pinned.
final class RunLineage {
    let code: CodeVersion
    let codeJSON: String
    let versioner: DataVersioner
    let cache: StoreStatCache
    let records: LineageRecords
    /// Input versions pinned at each running step's launch, checked again when it ends.
    var inputs: [Int: [DataVersion]] = [:]
    /// Each running step's fingerprint.
    var fingerprints: [Int: String] = [:]

    init(code: CodeVersion, records: LineageRecords, host: String, hasher: FileHasher) {
        self.code = code
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        codeJSON = String(decoding: (try? encoder.encode(code)) ?? Data("{}".utf8), as: UTF8.self)
        self.records = records
        cache = StoreStatCache(records: records, host: host)
        versioner = DataVersioner(hasher: hasher, cache: cache)
    }

    /// A data reference of a step with its templates resolved; paths are made absolute against the workdir.
    static func resolve(_ ref: DataRef, workdir: String, runtime: RuntimeValues) throws(PlanError) -> ResolvedData {
        var missing: [String] = []
        let text = ref.template.render(quote: false) { reference in
            if let found = runtime.value(reference) { return found }
            missing.append(runtime.missingMessage(reference))
            return nil
        }
        if !missing.isEmpty { throw PlanError(missing) }
        switch ref.location {
        case .path:
            let absolute = text.hasPrefix("/") ? text : workdir + "/" + text
            return ResolvedData(
                path: FileSystem.lexicallyNormal(absolute), uri: nil, dataset: ref.dataset, method: ref.version.rawValue
            )
        case .uri:
            return ResolvedData(path: nil, uri: text, dataset: ref.dataset, method: VersionSource.fromStep.rawValue)
        }
    }

}
