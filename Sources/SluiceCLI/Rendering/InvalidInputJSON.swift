import SluiceEngine
import SluiceSpec

/// The `--json` form of a DAG, parameters or configuration that were refused before anything ran, in the
/// shape `validate --json` uses, so scripts read the same diagnostics whichever command found them.
enum InvalidInputJSON {
    struct Report: Encodable {
        struct File: Encodable {
            let file: String
            let valid: Bool
            let error: String?
            let diagnostics: [Diagnostic]
        }
        let valid: Bool
        let files: [File]
        let errors: [String]
    }

    /// Runs `body`; when it refuses its input and `json` is set, prints that refusal as JSON on stdout first.
    static func reporting<T>(json: Bool, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SpecError where json {
            var files: [Report.File] = []
            for diagnostic in error.diagnostics {
                if let index = files.firstIndex(where: { $0.file == diagnostic.file }) {
                    files[index] = Report.File(
                        file: diagnostic.file, valid: false, error: nil,
                        diagnostics: files[index].diagnostics + [diagnostic])
                } else {
                    files.append(
                        Report.File(file: diagnostic.file, valid: false, error: nil, diagnostics: [diagnostic]))
                }
            }
            try JSONOutput.print(Report(valid: false, files: files, errors: []))
            throw error
        } catch let error as SpecReadError where json {
            try JSONOutput.print(
                Report(
                    valid: false,
                    files: [Report.File(file: error.file, valid: false, error: error.reason, diagnostics: [])],
                    errors: []))
            throw error
        } catch let error as PlanError where json {
            try JSONOutput.print(Report(valid: false, files: [], errors: error.messages))
            throw error
        } catch let error as StepUserError where json {
            try JSONOutput.print(Report(valid: false, files: [], errors: [error.description]))
            throw error
        }
    }
}
