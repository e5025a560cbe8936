import Foundation
import Logging
import SluiceBasics

/// How the service writes its log: plain lines for people, or one JSON object per line for collectors.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-11-23T14:00:00.123Z info loaded churn_features file=dags/churn_features.yaml`.
    case plain
    /// `{"time":"…","level":"info","message":"…","file":"…"}`.
    case json
}

/// A swift-log handler writing to stderr in one of the two formats, control characters escaped.
public struct ServiceLogHandler: LogHandler {
    /// Entries below this level are dropped.
    public var logLevel: Logger.Level
    /// Metadata added to every entry.
    public var metadata: Logger.Metadata = [:]
    private let format: LogFormat

    /// A handler for `format` at `level`.
    public init(format: LogFormat, level: Logger.Level) {
        self.format = format
        logLevel = level
    }

    /// Metadata by key.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one entry as one line.
    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let time = Self.timestamp()
        let line: String
        switch format {
        case .plain:
            let pairs = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line = "\(time) \(event.level) \(event.message)\(pairs.isEmpty ? "" : " " + pairs)"
            Terminal.printError(line)
        case .json:
            var object: [String: String] = ["time": time, "level": "\(event.level)", "message": "\(event.message)"]
            for (key, value) in all where object[key] == nil { object[key] = "\(value)" }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = (try? encoder.encode(object)) ?? Data("{}".utf8)
            Terminal.write(STDERR_FILENO, Array(data) + [10])
        }
    }

    private static func timestamp() -> String { RFC3339.string(Date()) }
}
