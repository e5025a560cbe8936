import Foundation
import SluiceSpec

/// Where OpenLineage run events go (`openlineage:` in `sluice.yaml`): a JSON-lines file, an HTTP
/// endpoint, or both.
public struct OpenLineageConfig: Sendable, Equatable {
    /// The JSON-lines file events are appended to (absolute), if any.
    public var file: String?
    /// The `http://` endpoint events are POSTed to (Marquez: `http://host:5000/api/v1/lineage`), if any.
    public var url: String?
    /// The namespace of Sluice's jobs and of named datasets (default `sluice`).
    public var namespace = "sluice"

    /// No sink.
    public init(file: String? = nil, url: String? = nil, namespace: String = "sluice") {
        self.file = file
        self.url = url
        self.namespace = namespace
    }

    /// The keys of `openlineage:`.
    static let keys = ["file", "url", "namespace"]
}

extension NodeReader {
    /// `openlineage: {file, url, namespace}`; a relative file is relative to the configuration file's folder.
    mutating func openLineage(_ node: YAMLNode, base: String) -> OpenLineageConfig? {
        guard let fields = mapping(node, path: "openlineage", allowed: OpenLineageConfig.keys, what: "a mapping")
        else { return nil }
        var config = OpenLineageConfig()
        for (key, _, value) in fields {
            let path = "openlineage.\(key)"
            switch key {
            case "file":
                if let file = nonEmptyString(value, path: path) {
                    config.file = file.hasPrefix("/") ? file : (base as NSString).appendingPathComponent(file)
                }
            case "url":
                guard let url = nonEmptyString(value, path: path) else { continue }
                if url.hasPrefix("https://") {
                    error(
                        value.mark, path,
                        "\(path): https is not supported here; send to an http:// collector on this host or network (a proxy can add TLS), or use openlineage.file"
                    )
                } else if !url.hasPrefix("http://") || URLComponents(string: url)?.host?.isEmpty != false {
                    error(
                        value.mark, path,
                        "\(path): expected an http:// URL, such as http://localhost:5000/api/v1/lineage")
                } else {
                    config.url = url
                }
            case "namespace":
                if let namespace = nonEmptyString(value, path: path) { config.namespace = namespace }
            default: break
            }
        }
        if config.file == nil && config.url == nil {
            error(node.mark, "openlineage", "openlineage: give a file, a url, or both")
            return nil
        }
        return config
    }
}
