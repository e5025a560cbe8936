import ArgumentParser
import Foundation
import SluiceBasics
import SluiceEngine
import SluiceHost
import SluiceSpec

/// `sluice validate [PATH...]`: check DAG and template files, or whole folders, without running anything.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check DAG files (or folders of them) and report every problem with file:line:column.",
        discussion: """
            Folders are searched recursively for *.yaml and *.yml files; files with a 'template:' key are
            checked as templates. DAG ids must be unique across everything checked.
            Exit codes: 0 all valid, 1 something is invalid, 3 a path could not be read.
            """)

    @Argument(help: "DAG files or folders (default: dags).") var paths: [String] = []
    @Flag(help: "Print diagnostics as JSON.") var json = false
    @OptionGroup var config: ConfigOption

    struct FileResult: Encodable {
        let file: String
        let valid: Bool
        let kind: String?
        let dag: String?
        let steps: Int?
        let error: String?
        var diagnostics: [Diagnostic]
    }

    struct Report: Encodable {
        let valid: Bool
        let files: [FileResult]
    }

    func run() throws {
        let inputs = paths.isEmpty ? ["dags"] : paths
        var results: [FileResult] = []
        var owners: [String: (file: String, mark: SourceMark)] = [:]
        // One configuration and one capacity detection per project, not per file. A broken configuration is
        // reported once, as such, and the DAGs are still checked (without the host's capacity).
        var hosts: [String: (config: HostConfig, capacity: HostCapacity)?] = [:]
        func host(for file: String) -> (config: HostConfig, capacity: HostCapacity)? {
            let root = ConfigOption.projectRoot(dagFile: file)
            if let known = hosts[root] { return known }
            do {
                let loaded = try config.load(dagFile: file)
                hosts[root] = (loaded, HostCapacity.resolve(loaded))
            } catch let error as SpecError {
                hosts[root] = .some(nil)
                results.append(
                    FileResult(
                        file: error.diagnostics.first?.file ?? HostConfig.fileName, valid: false, kind: "config",
                        dag: nil, steps: nil, error: nil, diagnostics: error.diagnostics))
            } catch {
                hosts[root] = .some(nil)
                results.append(
                    FileResult(
                        file: (error as? SpecReadError)?.file ?? HostConfig.fileName, valid: false, kind: "config",
                        dag: nil, steps: nil, error: (error as? SpecReadError)?.reason ?? "\(error)", diagnostics: []))
            }
            return hosts[root]!
        }
        for file in Self.expand(inputs, results: &results) {
            do {
                switch try SpecLoader.check(path: file) {
                case .dag(let spec):
                    if let host = host(for: file) {
                        try ConfigOption.checkHost(spec, config: host.config, capacity: host.capacity)
                    }
                    var result = FileResult(
                        file: file, valid: true, kind: "dag", dag: spec.name, steps: spec.steps.count, error: nil,
                        diagnostics: [])
                    if let owner = owners[spec.name] {
                        result = FileResult(
                            file: file, valid: false, kind: "dag", dag: spec.name, steps: spec.steps.count, error: nil,
                            diagnostics: [
                                Diagnostic(
                                    file: file, mark: spec.nameMark, path: "dag",
                                    message:
                                        "dag: '\(spec.name)' is already the id of \(owner.file):\(owner.mark.line); DAG ids must be unique",
                                    code: "duplicate-dag")
                            ])
                    } else {
                        owners[spec.name] = (file, spec.nameMark)
                    }
                    results.append(result)
                case .template(let name):
                    results.append(
                        FileResult(
                            file: file, valid: true, kind: "template", dag: name, steps: nil, error: nil,
                            diagnostics: []))
                }
            } catch let error as SpecError {
                results.append(
                    FileResult(
                        file: file, valid: false, kind: nil, dag: nil, steps: nil, error: nil,
                        diagnostics: error.diagnostics))
            } catch let error as SpecReadError {
                results.append(
                    FileResult(
                        file: file, valid: false, kind: nil, dag: nil, steps: nil, error: error.reason, diagnostics: [])
                )
            }
        }
        let valid = results.allSatisfy(\.valid)
        if json {
            try JSONOutput.print(Report(valid: valid, files: results))
        } else {
            for result in results {
                if let error = result.error {
                    Terminal.printError("sluice: \(result.file): \(error)")
                } else if result.kind == "config" {
                    for diagnostic in result.diagnostics { Terminal.printError(diagnostic.description) }
                } else if result.valid {
                    let what =
                        result.kind == "template"
                        ? "template \(result.dag ?? "")" : "dag \(result.dag ?? ""), \(result.steps ?? 0) steps"
                    print("\(result.file): ok (\(what))")
                } else {
                    for diagnostic in result.diagnostics { Terminal.printError(diagnostic.description) }
                }
            }
            let files = results.filter { $0.kind != "config" }
            let configs = results.filter { $0.kind == "config" }
            if files.count > 1 || !configs.isEmpty {
                let invalid = files.filter { !$0.valid }.count
                let problems = files.reduce(0) { $0 + $1.diagnostics.count }
                var summary =
                    "\(files.count) files: \(files.count - invalid) valid, \(invalid) invalid (\(problems) problems)"
                for config in configs {
                    let count = max(config.diagnostics.count, 1)
                    summary += "; configuration \(config.file): \(count) problem\(count == 1 ? "" : "s")"
                }
                print(summary)
            }
        }
        if results.contains(where: { $0.error != nil }) { throw ExitWith(code: ExitCodes.unreadable) }
        if !valid { throw ExitWith(code: ExitCodes.failed) }
    }

    /// Files named directly, and every *.yaml/*.yml below named folders (hidden entries skipped), in sorted order.
    static func expand(_ paths: [String], results: inout [FileResult]) -> [String] {
        var files: [String] = []
        func walk(_ directory: String) {
            for name in FileSystem.entries(directory) where !name.hasPrefix(".") {
                let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
                if FileSystem.isDirectory(path) {
                    walk(path)
                } else if name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                    files.append(path)
                }
            }
        }
        for path in paths {
            if FileSystem.isDirectory(path) {
                let before = files.count
                walk(path)
                if files.count == before {
                    results.append(
                        FileResult(
                            file: path, valid: false, kind: nil, dag: nil, steps: nil,
                            error: "no *.yaml or *.yml files in this folder", diagnostics: []))
                }
            } else {
                files.append(path)
            }
        }
        return files
    }
}
