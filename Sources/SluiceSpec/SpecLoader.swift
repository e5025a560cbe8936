import Foundation
import SluiceBasics

/// Reads, parses and validates DAG files.
public enum SpecLoader {
    /// Loads and validates the file at `path`; throws `SpecReadError` or `SpecError`.
    public static func load(path: String) throws -> DAGSpec {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readBytes(path)
        } catch let error as SystemError {
            throw SpecReadError(file: path, reason: readReason(error, path: path))
        }
        let base = (FileSystem.absolute(path) as NSString).deletingLastPathComponent
        return try parse(bytes: bytes, file: path, baseDirectory: base)
    }

    /// Parses and validates DAG source bytes; `file` is used in diagnostics.
    public static func parse(bytes: [UInt8], file: String, baseDirectory: String) throws -> DAGSpec {
        guard let source = String(validating: bytes, as: UTF8.self) else {
            throw SpecReadError(file: file, reason: "not valid UTF-8 text; save the DAG file as UTF-8")
        }
        let root: YAMLNode?
        do {
            root = try YAMLParser.parse(bytes)
        } catch {
            throw SpecError([Diagnostic(file: file, mark: error.mark, path: "", message: error.message)])
        }
        guard let root else {
            throw SpecError([
                Diagnostic(
                    file: file, mark: SourceMark(line: 1, column: 1), path: "",
                    message: "the file is empty: expected a mapping with 'dag' and 'steps'")
            ])
        }
        var decoder = SpecDecoder(file: file)
        let (spec, diagnostics) = decoder.decode(root, baseDirectory: baseDirectory, source: source)
        guard let spec else { throw SpecError(diagnostics) }
        return spec
    }

    private static func readReason(_ error: SystemError, path: String) -> String {
        if !FileSystem.exists(path) { return "no such file" }
        if FileSystem.isDirectory(path) { return "is a directory, not a DAG file" }
        return error.description
    }
}
