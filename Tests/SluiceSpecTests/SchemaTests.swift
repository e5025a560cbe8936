import Foundation
import SluiceSpec
import Testing

@Suite("JSON Schema: committed copy and agreement with the validator")
struct SchemaTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func committedSchemaIsWhatSluiceSchemaPrints() throws {
        let committed = try String(contentsOfFile: Self.repository + "/docs/sluice-dag.schema.json", encoding: .utf8)
        #expect(
            committed == DAGSchema.document.rendered() + "\n",
            "run: .build/debug/sluice schema > docs/sluice-dag.schema.json")
    }

    /// Every fixture says what the schema does with it (`# schema: rejects|accepts (…)|no instance (…)`);
    /// Python's jsonschema (a real draft 2020-12 validator) must agree on each one.
    @Test func schemaAgreesWithTheValidatorOnEveryFixture() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-schema-\(getpid())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var expectations: [String: String] = [:]
        var instances: [String] = []
        for path in Fixtures.files("valid") + Fixtures.files("invalid") {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            let name = path.replacingOccurrences(of: Fixtures.root + "/", with: "")
            let marker = String(decoding: bytes.prefix { $0 != 0x0A }, as: UTF8.self)
            let expected: String
            if name.hasPrefix("valid/") {
                expected = "accepts"
            } else if marker.hasPrefix("# schema: rejects") {
                expected = "rejects"
            } else if marker.hasPrefix("# schema: accepts (") {
                expected = "accepts"
            } else if marker.hasPrefix("# schema: no instance (") {
                expected = "no instance"
            } else {
                Issue.record(
                    "\(name): the first line must say what the schema does: # schema: rejects|accepts (why)|no instance (why)"
                )
                continue
            }
            guard let instance = try? DAGSchema.instance(bytes: bytes, file: name) else {
                #expect(expected == "no instance", "\(name): no JSON instance, but the marker says \(expected)")
                continue
            }
            #expect(expected != "no instance", "\(name) has a JSON instance")
            expectations[name] = expected
            let file = work + "/\(instances.count).json"
            try instance.rendered().write(toFile: file, atomically: true, encoding: .utf8)
            instances.append(name)
        }
        let schema = work + "/schema.json"
        try DAGSchema.document.rendered().write(toFile: schema, atomically: true, encoding: .utf8)
        let script = """
            import json, sys
            from jsonschema import Draft202012Validator
            schema = json.load(open(sys.argv[1]))
            Draft202012Validator.check_schema(schema)
            validator = Draft202012Validator(schema)
            for path in sys.argv[2:]:
                print("accepts" if validator.is_valid(json.load(open(path))) else "rejects")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, schema] + instances.indices.map { work + "/\($0).json" }
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python3 with jsonschema must be installed (scripts/setup.sh does it)")
        let verdicts = output.split(separator: "\n").map(String.init)
        #expect(verdicts.count == instances.count)
        for (name, verdict) in zip(instances, verdicts) {
            #expect(
                verdict == expectations[name],
                "\(name): the schema \(verdict) it, the fixture says \(expectations[name] ?? "")")
        }
        #expect(instances.count >= 90)
    }
}
