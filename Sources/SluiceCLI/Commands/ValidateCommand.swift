import ArgumentParser
import Foundation
import SluiceSpec

/// `sluice validate FILE...`: check DAG files without running anything.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Check DAG files and report every problem with file:line:column.")

    @Argument(help: "DAG files to check.") var files: [String]
    @Flag(help: "Print diagnostics as JSON.") var json = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one DAG file") }
    }

    struct FileResult: Encodable {
        let file: String
        let valid: Bool
        let dag: String?
        let steps: Int?
        let error: String?
        let diagnostics: [Diagnostic]
    }

    func run() throws {
        var results: [FileResult] = []
        for file in files {
            do {
                let spec = try SpecLoader.load(path: file)
                results.append(
                    FileResult(
                        file: file, valid: true, dag: spec.name, steps: spec.steps.count, error: nil, diagnostics: []))
            } catch let error as SpecError {
                results.append(
                    FileResult(
                        file: file, valid: false, dag: nil, steps: nil, error: nil, diagnostics: error.diagnostics))
            } catch let error as SpecReadError {
                results.append(
                    FileResult(file: file, valid: false, dag: nil, steps: nil, error: error.reason, diagnostics: []))
            }
        }
        if json {
            try JSONOutput.print(["files": results])
        } else {
            for result in results {
                if let error = result.error {
                    FileHandle.standardError.write(Data("sluice: \(result.file): \(error)\n".utf8))
                } else if result.valid {
                    print("\(result.file): ok (dag \(result.dag ?? ""), \(result.steps ?? 0) steps)")
                } else {
                    for diagnostic in result.diagnostics {
                        FileHandle.standardError.write(Data("\(diagnostic)\n".utf8))
                    }
                }
            }
        }
        if results.contains(where: { $0.error != nil }) { throw ExitWith(code: ExitCodes.unreadable) }
        if results.contains(where: { !$0.valid }) { throw ExitWith(code: ExitCodes.failed) }
    }
}
