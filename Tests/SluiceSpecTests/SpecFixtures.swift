import SluiceSpec

/// Parses DAG text as if it were the file `dag.yaml` in `/project/dags`.
func load(_ text: String) throws -> DAGSpec {
    try SpecLoader.parse(bytes: Array(text.utf8), file: "dag.yaml", baseDirectory: "/project/dags")
}

/// The diagnostics for DAG text that should not validate, as `line:column: message` strings.
func diagnostics(_ text: String) -> [String] {
    do {
        _ = try load(text)
        return []
    } catch let error as SpecError {
        return error.diagnostics.map { "\($0.line):\($0.column): \($0.message)" }
    } catch {
        return ["unexpected error: \(error)"]
    }
}
