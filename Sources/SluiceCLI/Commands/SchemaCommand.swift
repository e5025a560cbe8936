import ArgumentParser
import SluiceSpec

/// `sluice schema`: the JSON Schema of the DAG language, for editors and CI.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (draft 2020-12) of DAG files.",
        discussion: "A copy is committed as docs/sluice-dag.schema.json for yaml-language-server.")

    @Option(
        name: .customLong("instance"),
        help: ArgumentHelp(
            "Instead, print FILE as the JSON instance the schema is checked against (YAML 1.2 core typing).",
            valueName: "file"))
    var instanceFile: String?

    func run() throws {
        if let instanceFile {
            let bytes = try SpecLoader.readFile(instanceFile)
            print(try DAGSchema.instance(bytes: bytes, file: instanceFile).rendered())
            return
        }
        print(DAGSchema.document.rendered())
    }
}
