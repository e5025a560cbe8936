import Foundation
import SluiceBasics
import SluiceHost
import SluiceSpec
import SluiceStore

/// The DAG folder a service serves: every DAG file in it, kept up to date as files are added, edited or
/// removed. A file that stops loading keeps its last good version; its error is kept beside it.
final class DagFolder {
    /// A DAG file that loaded at least once.
    struct Loaded {
        /// The last good spec.
        let spec: DAGSpec
        /// Its version id in the database.
        let versionID: Int64
    }

    /// What a rescan found changed.
    struct Changes {
        /// Files whose DAG (re)loaded.
        var loaded: [(file: String, spec: DAGSpec)] = []
        /// Files that do not load now, with their diagnostics (and the DAG they held, if any).
        var failed: [(file: String, dag: String?, error: String)] = []
        /// Files that left the folder, with the DAG they held.
        var removed: [(file: String, dag: String?)] = []
    }

    let root: String
    private(set) var files: [String: Loaded] = [:]
    private(set) var errors: [String: String] = [:]
    /// What each file (and the templates it includes) looked like when it was last read.
    private var stamps: [String: [String: FileStamp]] = [:]
    /// The DAG id of each loaded file, to refuse the same id in two files.
    private var owners: [String: String] = [:]

    /// Checks a loaded spec against the host (its required tags); a DAG with diagnostics does not load.
    private let vet: (DAGSpec) -> [Diagnostic]

    init(root: String, vet: @escaping (DAGSpec) -> [Diagnostic] = { _ in [] }) {
        self.root = FileSystem.absolute(root)
        self.vet = vet
    }

    /// The loaded DAGs by id.
    var dags: [String: Loaded] {
        Dictionary(files.values.map { ($0.spec.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Forgets what the files looked like: the next scan reads (and records) every one again. For a scan
    /// whose changes could not all be recorded (the database went away half-way).
    func invalidate() { stamps.removeAll() }

    /// Reads what changed since the last scan; `record` turns a freshly loaded spec into its version id.
    /// A database error from `record` is thrown (the file is read again next time), not taken for a load error.
    func rescan(record: (DAGSpec) throws -> Int64) throws -> Changes {
        var changes = Changes()
        let present = Set(Self.dagFiles(under: root))
        for file in files.keys.sorted() where !present.contains(file) {
            changes.removed.append((file, files[file]?.spec.name))
            files.removeValue(forKey: file)
            stamps.removeValue(forKey: file)
            owners.removeValue(forKey: file)
        }
        for file in errors.keys where !present.contains(file) {
            errors.removeValue(forKey: file)
            stamps.removeValue(forKey: file)
            changes.removed.append((file, nil))
        }
        for file in present.sorted() {
            let previous = stamps[file]
            if let previous, previous.allSatisfy({ FileStamp(path: $0.key) == $0.value }) { continue }
            do {
                switch try SpecLoader.check(path: file) {
                case .template:
                    stamps[file] = [file: FileStamp(path: file)]
                    continue
                case .dag(let spec):
                    let problems = vet(spec)
                    if !problems.isEmpty { throw SpecError(problems) }
                    if let other = owners.first(where: { $0.value == spec.name && $0.key != file })?.key {
                        throw DuplicateDAG(
                            message: "\(file): dag '\(spec.name)' is already the id of \(other); DAG ids must be unique"
                        )
                    }
                    let versionID = try record(spec)
                    files[file] = Loaded(spec: spec, versionID: versionID)
                    owners[file] = spec.name
                    errors.removeValue(forKey: file)
                    var seen = [file: FileStamp(path: file)]
                    for (template, _) in spec.includedSources { seen[template] = FileStamp(path: template) }
                    stamps[file] = seen
                    changes.loaded.append((file, spec))
                }
            } catch let error as DatabaseError {
                throw error
            } catch {
                let text =
                    (error as? SpecError)?.description ?? (error as? SpecReadError)?.description
                    ?? (error as? DuplicateDAG)?.message ?? "\(error)"
                if errors[file] != text {
                    changes.failed.append((file, files[file]?.spec.name, text))
                }
                errors[file] = text
                stamps[file] = [file: FileStamp(path: file)]
            }
        }
        return changes
    }

    /// Every `*.yaml`/`*.yml` below `root`, hidden entries skipped, sorted.
    static func dagFiles(under root: String) -> [String] {
        var found: [String] = []
        var seen: Set<String> = []  // each directory once, whatever links lead to it (no loops)
        func walk(_ directory: String) {
            guard let real = try? FileSystem.realPath(directory), seen.insert(real).inserted else { return }
            for name in FileSystem.entries(directory) where !name.hasPrefix(".") {
                let path = directory + "/" + name
                if FileSystem.isDirectory(path) {
                    walk(path)
                } else if name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                    found.append(path)
                }
            }
        }
        walk(root)
        return found.sorted()
    }

    private struct DuplicateDAG: Error {
        let message: String
    }
}

/// What identifies a version of a file without reading it: device, inode, size, times.
struct FileStamp: Equatable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modified: Int64
    let changed: Int64

    /// The stamp of the file at `path` now (all zero when it is gone).
    init(path: String) {
        var st = stat()
        if stat(path, &st) == 0 {
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            changed = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        } else {
            device = 0
            inode = 0
            size = -1
            modified = 0
            changed = 0
        }
    }
}
