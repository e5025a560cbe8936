import Foundation
import SluiceTestSupport
import Testing

@Suite("End to end: OpenLineage events, valid against the 2-0-2 JSON Schema", .serialized)
struct OpenLineageTests {
    /// The OpenLineage spec files (not copied into the project): `$SLUICE_OPENLINEAGE_SPEC`, else
    /// `../shared/openlineage-spec` beside the repository, else this machine's `/work/shared/openlineage-spec`.
    static var specDirectory: String? {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let candidates = [
            ProcessInfo.processInfo.environment["SLUICE_OPENLINEAGE_SPEC"],
            repository + "/../shared/openlineage-spec", "/work/shared/openlineage-spec",
        ]
        return candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0 + "/OpenLineage.json") }
    }

    static var validator: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
            + "/Fixtures/openlineage/validate_events.py"
    }

    private func events(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    private func validate(_ file: String) throws {
        let spec = try #require(
            Self.specDirectory, "the OpenLineage spec files were not found; set SLUICE_OPENLINEAGE_SPEC")
        let result = try SluiceBinary.runProgram(["/usr/bin/env", "python3", Self.validator, spec, file], in: "/")
        #expect(result.code == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("events valid"))
    }

    private func dag(_ project: Project) throws {
        try project.directory.write("data/raw.csv", "a\n")
        try project.dag(
            "ol",
            """
            dag: ol
            steps:
              features:
                command: "cp ../data/raw.csv ../data/features.csv"
                inputs: [../data/raw.csv]
                outputs: [{path: ../data/features.csv, dataset: features}]
              publish:
                needs: [features]
                command: "echo version.warehouse://marts/scores=v3 >> $SLUICE_OUTPUT"
                inputs: [{path: ../data/features.csv, dataset: features}]
                outputs: [{uri: "warehouse://marts/scores"}]
              broken:
                command: "echo no; exit 3"
            """)
    }

    @Test func everyEventOfARealRunIsValidAndCarriesDatasetsVersionsAndItsParent() throws {
        let project = try Project()
        defer { project.remove() }
        try dag(project)
        try project.directory.write("sluice.yaml", "openlineage:\n  file: lineage/events.jsonl\n  namespace: churn\n")
        try FileManager.default.createDirectory(atPath: project.path + "/lineage", withIntermediateDirectories: true)
        let run = try project.sluice("run", "dags/ol.yaml")
        #expect(run.code == 1, "\(run.stdout)\(run.stderr)")  // `broken` fails the run
        let file = project.path + "/lineage/events.jsonl"
        try validate(file)
        let all = try events(file)
        let summary = all.map { event -> String in
            let job = (event["job"] as? [String: Any])?["name"] as? String ?? "?"
            return "\(event["eventType"] as? String ?? "?") \(job)"
        }
        #expect(summary.first == "START ol" && summary.last == "FAIL ol", "\(summary)")
        for step in ["ol.features", "ol.publish"] {
            #expect(summary.contains("START \(step)") && summary.contains("COMPLETE \(step)"), "\(summary)")
        }
        #expect(summary.contains("FAIL ol.broken"))
        let dagRun = ((all.first?["run"] as? [String: Any])?["runId"] as? String) ?? ""
        for event in all where ((event["job"] as? [String: Any])?["name"] as? String)?.hasPrefix("ol.") == true {
            let parent = ((event["run"] as? [String: Any])?["facets"] as? [String: Any])?["parent"] as? [String: Any]
            #expect((parent?["run"] as? [String: Any])?["runId"] as? String == dagRun)
            #expect((event["job"] as? [String: Any])?["namespace"] as? String == "churn")
        }
        let publish = try #require(
            all.last { ($0["job"] as? [String: Any])?["name"] as? String == "ol.publish" })
        let output = try #require((publish["outputs"] as? [[String: Any]])?.first)
        #expect(output["namespace"] as? String == "warehouse://marts" && output["name"] as? String == "/scores")
        let version = ((output["facets"] as? [String: Any])?["version"] as? [String: Any])?["datasetVersion"]
        #expect(version as? String == "v3")
        let input = try #require((publish["inputs"] as? [[String: Any]])?.first)
        #expect(input["namespace"] as? String == "churn" && input["name"] as? String == "features")
        let broken = try #require(all.last { ($0["job"] as? [String: Any])?["name"] as? String == "ol.broken" })
        let error =
            (((broken["run"] as? [String: Any])?["facets"] as? [String: Any])?["errorMessage"] as? [String: Any])
        #expect((error?["message"] as? String)?.contains("exited with code 3") == true, "\(error ?? [:])")
    }

    @Test func eventsArePostedToAnHTTPCollectorAndADeadOneNeverFailsTheRun() throws {
        let project = try Project()
        defer { project.remove() }
        try dag(project)
        // A collector: answers 200 and appends each body as a line.
        let received = project.path + "/received.jsonl"
        let collector = Process()
        collector.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        collector.arguments = [
            "python3", "-c",
            """
            import http.server, sys
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers['Content-Length']))
                    with open(sys.argv[1], 'ab') as f: f.write(body + b'\\n')
                    self.send_response(201); self.end_headers()
                def log_message(self, *a): pass
            s = http.server.HTTPServer(('127.0.0.1', 0), H)
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """, received,
        ]
        let portPipe = Pipe()
        collector.standardOutput = portPipe
        try collector.run()
        // SIGKILL: SIGTERM may be ignored here, and an ignored signal stays ignored across exec.
        defer { kill(collector.processIdentifier, SIGKILL) }
        let portLine = String(decoding: portPipe.fileHandleForReading.availableData, as: UTF8.self)
        let port = try #require(Int(portLine.trimmingCharacters(in: .whitespacesAndNewlines)))
        try project.directory.write("sluice.yaml", "openlineage:\n  url: http://127.0.0.1:\(port)/api/v1/lineage\n")
        let run = try project.sluice("run", "dags/ol.yaml")
        #expect(run.code == 1 && !run.stderr.contains("OpenLineage"), "\(run.stderr)")
        try validate(received)
        #expect(try events(received).count == 8)

        // A collector that is gone: the run is not held up beyond the 5 s it waits at its end, and does not fail.
        kill(collector.processIdentifier, SIGKILL)
        collector.waitUntilExit()
        try project.directory.write("sluice.yaml", "openlineage:\n  url: http://127.0.0.1:\(port)/api/v1/lineage\n")
        try project.directory.write("dags/ok.yaml", "dag: ok\nsteps:\n  a: {command: \"true\"}\n")
        let lonely = try project.sluice("run", "dags/ok.yaml")
        #expect(lonely.code == 0, "\(lonely.stderr)")
        #expect(lonely.stderr.contains("OpenLineage delivery failed") && lonely.stderr.contains("not delivered"))
    }

    @Test func aBadSinkIsRefusedAtItsLine() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag("ok", "dag: ok\nsteps:\n  a: {command: \"true\"}\n")
        try project.directory.write(
            "sluice.yaml", "run_as: root\nopenlineage:\n  url: https://marquez.example.com/api\n")
        let https = try project.sluice("validate", "dags/ok.yaml")
        #expect(https.code != 0 && https.stderr.contains("sluice.yaml:3:8"), "\(https.stderr)")
        #expect(https.stderr.contains("https is not supported here"))
        try project.directory.write("sluice.yaml", "openlineage:\n  namespace: x\n")
        let empty = try project.sluice("run", "dags/ok.yaml")
        #expect(empty.code != 0 && empty.stderr.contains("openlineage: give a file, a url, or both"), "\(empty.stderr)")
    }
}
