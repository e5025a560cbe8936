import Foundation
import SluiceLineage
import SluiceModel

/// One OpenLineage 2-0-2 run event, as Sluice emits it.
struct OpenLineageEvent: Encodable, Sendable {
    static let producer = "https://github.com/sluice-orchestrator/sluice"
    static let schemaURL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"

    let eventType: String
    let eventTime: String
    let producer = Self.producer
    let schemaURL = Self.schemaURL
    let run: Run
    let job: Job
    let inputs: [Dataset]
    let outputs: [Dataset]

    /// `run`: its id and facets.
    struct Run: Encodable, Sendable {
        let runId: String
        let facets: RunFacets?
    }

    /// The run facets Sluice fills: the parent (the DAG run of a step's attempt) and the error of a failure.
    struct RunFacets: Encodable, Sendable {
        var parent: ParentFacet?
        var errorMessage: ErrorFacet?
    }

    /// `job`: namespace, name and its type.
    struct Job: Encodable, Sendable {
        let namespace: String
        let name: String
        let facets: JobFacets
    }

    /// `jobType`: BATCH, integration SLUICE, DAG or TASK.
    struct JobFacets: Encodable, Sendable {
        let jobType: JobTypeFacet
    }

    /// A dataset with its version.
    struct Dataset: Encodable, Sendable {
        let namespace: String
        let name: String
        let facets: DatasetFacets
    }

    /// `version`: the dataset version facet.
    struct DatasetFacets: Encodable, Sendable {
        let version: VersionFacet
    }

    struct VersionFacet: Encodable, Sendable {
        let producer = OpenLineageEvent.producer
        let schemaURL =
            "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
        let datasetVersion: String

        enum CodingKeys: String, CodingKey {
            case producer = "_producer"
            case schemaURL = "_schemaURL"
            case datasetVersion
        }
    }

    struct JobTypeFacet: Encodable, Sendable {
        let producer = OpenLineageEvent.producer
        let schemaURL = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
        let processingType = "BATCH"
        let integration = "SLUICE"
        let jobType: String

        enum CodingKeys: String, CodingKey {
            case producer = "_producer"
            case schemaURL = "_schemaURL"
            case processingType, integration, jobType
        }
    }

    struct ParentFacet: Encodable, Sendable {
        let producer = OpenLineageEvent.producer
        let schemaURL = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
        let run: ParentRun
        let job: ParentJob

        struct ParentRun: Encodable, Sendable { let runId: String }
        struct ParentJob: Encodable, Sendable {
            let namespace: String
            let name: String
        }

        enum CodingKeys: String, CodingKey {
            case producer = "_producer"
            case schemaURL = "_schemaURL"
            case run, job
        }
    }

    struct ErrorFacet: Encodable, Sendable {
        let producer = OpenLineageEvent.producer
        let schemaURL = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
        let message: String
        let programmingLanguage = "shell"

        enum CodingKeys: String, CodingKey {
            case producer = "_producer"
            case schemaURL = "_schemaURL"
            case message, programmingLanguage
        }
    }

    /// The event as one line of JSON.
    func line() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data("{}".utf8)) + [10]
    }

    /// A dataset as OpenLineage names it: local files in namespace `file` by absolute path; named datasets
    /// in Sluice's namespace by name; URIs split into `scheme://authority` and the rest.
    static func dataset(_ version: DataVersion, namespace: String) -> Dataset {
        let facets = DatasetFacets(version: VersionFacet(datasetVersion: version.version))
        switch version.kind {
        case .path: return Dataset(namespace: "file", name: version.name, facets: facets)
        case .dataset: return Dataset(namespace: namespace, name: version.name, facets: facets)
        case .uri:
            if let range = version.name.range(of: "://"),
                let slash = version.name[range.upperBound...].firstIndex(of: "/")
            {
                return Dataset(
                    namespace: String(version.name[..<slash]), name: String(version.name[slash...]), facets: facets)
            }
            return Dataset(namespace: version.name, name: "/", facets: facets)
        }
    }

    /// A stable UUID (version 5 layout) for `text` within one database: the same run always gets the same id.
    static func uuid(_ text: String) -> String {
        let hex = Array(FileHasher.sha256(Array(text.utf8)).prefix(32))
        var digits = hex.map { Character(String($0)) }
        digits[12] = "5"
        let variant = Int(String(digits[16]), radix: 16) ?? 0
        digits[16] = Character(String((variant & 0x3) | 0x8, radix: 16))
        let s = String(digits)
        func part(_ a: Int, _ b: Int) -> Substring {
            s[s.index(s.startIndex, offsetBy: a)..<s.index(s.startIndex, offsetBy: b)]
        }
        return "\(part(0, 8))-\(part(8, 12))-\(part(12, 16))-\(part(16, 20))-\(part(20, 32))"
    }
}
