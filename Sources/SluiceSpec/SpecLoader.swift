import Foundation
import SluiceBasics

/// What `sluice validate` found in one file: a DAG, a template, or diagnostics.
public enum CheckedFile: Sendable {
    /// A valid DAG.
    case dag(DAGSpec)
    /// A valid template file, with its name.
    case template(String)
}

/// Reads, parses and validates DAG files.
public enum SpecLoader {
    /// The largest DAG file accepted, so a stray multi-gigabyte file is refused before it is read.
    public static let maxFileBytes = 32 << 20
    /// The longest scalar accepted.
    public static let maxScalarBytes = 1 << 20

    /// Loads and validates the file at `path`; throws `SpecReadError` or `SpecError`.
    public static func load(path: String) throws -> DAGSpec {
        let bytes = try read(path)
        let base = (FileSystem.absolute(path) as NSString).deletingLastPathComponent
        return try parse(bytes: bytes, file: path, baseDirectory: base)
    }

    /// Loads a DAG or a template file (told apart by its `template:` key); throws `SpecReadError` or `SpecError`.
    public static func check(path: String) throws -> CheckedFile {
        let bytes = try read(path)
        let base = (FileSystem.absolute(path) as NSString).deletingLastPathComponent
        let root: YAMLNode
        switch parseTree(bytes: bytes, file: path) {
        case .success(let tree): root = tree
        case .failure(let error): throw error
        }
        if SpecDecoder.isTemplate(root) && !root.content.mappingKeys.contains("dag") {
            var decoder = SpecDecoder(file: path, readInclude: includeReader(file: path, baseDirectory: base))
            let diagnostics = decoder.decodeTemplateFile(root)
            if !diagnostics.isEmpty { throw SpecError(diagnostics) }
            let name = root.content.mappingValue("template") ?? ""
            return .template(name)
        }
        return .dag(try decode(root, bytes: bytes, file: path, baseDirectory: base))
    }

    /// Parses and validates DAG source bytes; `file` is used in diagnostics and includes resolve against `baseDirectory`.
    public static func parse(bytes: [UInt8], file: String, baseDirectory: String) throws -> DAGSpec {
        switch parseTree(bytes: bytes, file: file) {
        case .success(let root): return try decode(root, bytes: bytes, file: file, baseDirectory: baseDirectory)
        case .failure(let error): throw error
        }
    }

    private static func decode(_ root: YAMLNode, bytes: [UInt8], file: String, baseDirectory: String) throws -> DAGSpec
    {
        var decoder = SpecDecoder(file: file, readInclude: includeReader(file: file, baseDirectory: baseDirectory))
        let (spec, diagnostics) = decoder.decode(
            root, baseDirectory: baseDirectory, source: String(decoding: bytes, as: UTF8.self))
        guard let spec else { throw SpecError(diagnostics) }
        return spec
    }

    /// The YAML tree of a file's bytes, or the diagnostic that says why there is none.
    package static func parseTree(bytes: [UInt8], file: String) -> Result<YAMLNode, SpecError> {
        func fail(_ mark: SourceMark, _ message: String, _ code: String) -> Result<YAMLNode, SpecError> {
            .failure(SpecError([Diagnostic(file: file, mark: mark, path: "", message: message, code: code)]))
        }
        if bytes.count > maxFileBytes {
            return fail(
                SourceMark(line: 1, column: 1),
                "the file is \(bytes.count >> 20) MiB; a DAG file may be at most \(maxFileBytes >> 20) MiB", "too-large"
            )
        }
        if String(validating: bytes, as: UTF8.self) == nil {
            let (offset, mark) = firstInvalidUTF8(bytes)
            return fail(
                mark,
                "not valid UTF-8 text (byte \(offset) is 0x\(String(bytes[offset], radix: 16))); save the DAG file as UTF-8",
                "encoding")
        }
        if let nul = bytes.firstIndex(of: 0) {
            return fail(
                position(of: nul, in: bytes), "the file contains a NUL byte; it looks binary, not a YAML text file",
                "encoding")
        }
        do {
            guard let root = try YAMLParser.parse(bytes, maxScalarBytes: maxScalarBytes) else {
                return fail(
                    SourceMark(line: 1, column: 1), "the file is empty: expected a mapping with 'dag' and 'steps'",
                    "empty")
            }
            return .success(root)
        } catch {
            let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            if error.message.contains("flow"), error.mark.line >= 1, error.mark.line <= lines.count,
                lines[error.mark.line - 1].contains("${{")
            {
                return fail(
                    error.mark,
                    error.message
                        + "; a ${{ … }} inside [ ] or { } must be quoted, e.g. [\"data/scores_${{ item }}.csv\"]",
                    "syntax")
            }
            let advice = YAMLSyntaxAdvice.explain(error, lines: lines)
            return fail(advice.mark, advice.message, "syntax")
        }
    }

    /// Parses a DAG recorded earlier: its source, and the templates it included by absolute path (read from
    /// `templates`, not from disk, so the version is exactly what ran).
    public static func parse(bytes: [UInt8], file: String, baseDirectory: String, templates: [String: String]) throws
        -> DAGSpec
    {
        let root: YAMLNode
        switch parseTree(bytes: bytes, file: file) {
        case .success(let tree): root = tree
        case .failure(let error): throw error
        }
        let reader = includeReader(file: file, baseDirectory: baseDirectory, recorded: templates)
        var decoder = SpecDecoder(file: file, readInclude: reader)
        let (spec, diagnostics) = decoder.decode(
            root, baseDirectory: baseDirectory, source: String(decoding: bytes, as: UTF8.self))
        guard let spec else { throw SpecError(diagnostics) }
        return spec
    }

    static func includeReader(file: String, baseDirectory: String, recorded: [String: String]? = nil)
        -> IncludeReader
    {
        { relative in
            let absolute =
                relative.hasPrefix("/")
                ? relative
                : ((baseDirectory as NSString).appendingPathComponent(relative) as NSString).standardizingPath
            let directory = (file as NSString).deletingLastPathComponent
            let shown =
                relative.hasPrefix("/")
                ? relative : ((directory as NSString).appendingPathComponent(relative) as NSString).standardizingPath
            if let recorded {
                guard let text = recorded[absolute] else {
                    return .failure(SpecReadError(file: shown, reason: "is not part of the recorded version"))
                }
                return .success((shown, Array(text.utf8), (absolute as NSString).deletingLastPathComponent, absolute))
            }
            do {
                // Read by the path as written: `absolute` is standardized, which resolves the links `read` checks.
                let bytes = try read(relative.hasPrefix("/") ? relative : baseDirectory + "/" + relative)
                return .success((shown, bytes, (absolute as NSString).deletingLastPathComponent, absolute))
            } catch let error as SpecReadError {
                return .failure(error)
            } catch {
                return .failure(SpecReadError(file: shown, reason: "\(error)"))
            }
        }
    }

    /// The bytes of a DAG, template or configuration file: a regular file of at most `maxFileBytes`.
    public static func readFile(_ path: String) throws -> [UInt8] { try read(path) }

    package static func read(_ path: String) throws -> [UInt8] {
        if geteuid() == 0, let (link, owner, targetOwner) = FileSystem.foreignLink(in: path) {
            throw SpecReadError(
                file: path,
                reason:
                    "\(link) is a link made by \(StateDirectory.userName(owner)) to a file of \(StateDirectory.userName(targetOwner)); Sluice runs as root and does not follow it (copy the file, or let its owner make the link)"
            )
        }
        do {
            return try FileSystem.readBytes(path, limit: maxFileBytes)
        } catch is FileTooLarge {
            throw SpecReadError(
                file: path,
                reason: "is larger than \(maxFileBytes >> 20) MiB; a DAG file may be at most \(maxFileBytes >> 20) MiB")
        } catch let error as SystemError {
            throw SpecReadError(file: path, reason: readReason(error, path: path))
        }
    }

    private static func firstInvalidUTF8(_ bytes: [UInt8]) -> (Int, SourceMark) {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput, .error: break loop
            }
        }
        offset = min(offset, bytes.count - 1)
        return (offset, position(of: offset, in: bytes))
    }

    private static func position(of offset: Int, in bytes: [UInt8]) -> SourceMark {
        var line = 1
        var lineStart = 0
        for i in 0..<offset where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        let column = String(decoding: bytes[lineStart..<offset], as: UTF8.self).count + 1
        return SourceMark(line: line, column: column)
    }

    private static func readReason(_ error: SystemError, path: String) -> String {
        var st = stat()
        if lstat(path, &st) != 0 && errno == ENOENT { return "no such file" }
        if stat(path, &st) == 0 {
            let type = st.st_mode & S_IFMT
            if type == S_IFDIR { return "is a directory, not a DAG file" }
            if type != S_IFREG {
                return "is \(FileSystem.describeType(type)), not a regular file; Sluice reads only regular files"
            }
        }
        return error.description
    }
}

extension YAMLNode.Content {
    /// The text of a mapping's scalar value under `key`, if any.
    func mappingValue(_ key: String) -> String? {
        guard case .mapping(let pairs) = self else { return nil }
        for pair in pairs {
            if case .scalar(key, _) = pair.key.content, case .scalar(let value, _) = pair.value.content { return value }
        }
        return nil
    }
}
