import Foundation
import SluiceBasics
import SluiceTestSupport
import Testing

@Suite("doctor, logs -f, runs show usage, capacity in validate and plan, the configuration file")
struct ExecutorCommandTests {
    @Test func doctorReportsCgroupsEnforcementCapacityAndTheDatabase() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write(
            "sluice.yaml", "capacity: {cpus: 8, memory: 30Gi, gpus: 2}\ncgroup_parent: sluice-test\n")
        let text = try project.sluice("doctor")
        #expect(text.code == 0, "\(text.stderr)")
        #expect(text.stdout.contains("capacity:    8 cpus (\(project.path)/sluice.yaml), 30.0 GiB"))
        #expect(text.stdout.contains("in use:      cgroup v1"))
        #expect(text.stdout.contains("memory          cgroup v1 (memory.limit_in_bytes and memsw, no swap)"))
        let json = try project.sluice("doctor", "--json").json()
        #expect((json["capacity"] as? [String: Any])?["gpus"] as? Int == 2)
        #expect((json["database"] as? [String: Any])?["ok"] as? Bool == true)
        #expect((json["cgroups"] as? [String: Any])?["in_use"] as? String == "cgroup v1")

        let broken = try SluiceBinary.run(
            ["doctor"], in: project.path, env: ["SLUICE_DATABASE_URL": "postgresql://u:hunter2@/nodb?host=/nonexistent"]
        )
        #expect(broken.code == 1)
        #expect(broken.stdout.contains("database:    PROBLEM"))
        #expect(!broken.stdout.contains("hunter2"))
    }

    @Test func overCapacityStepsAndBadConfigurationAreRefusedBeforeAnythingRuns() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("sluice.yaml", "capacity: {cpus: 2}\n")
        try project.dag("big", "dag: big\nsteps:\n  train:\n    command: touch ran\n    resources: {cpus: 4}\n")
        for command in ["validate", "plan", "run"] {
            let result = try project.sluice(command, "dags/big.yaml")
            #expect(result.code == (command == "validate" ? 1 : 2))
            #expect(
                result.stderr.contains(
                    "dags/big.yaml:5:23: step train asks for 4 cpus, but this host has 2 (from \(project.path)/sluice.yaml); it could never start"
                ), "\(command): \(result.stderr)")
        }
        #expect(!FileSystem.exists(project.path + "/dags/ran"))
        try project.directory.write("sluice.yaml", "capacity: {cpus: lots}\nlog_limit: 10\n")
        let bad = try project.sluice("plan", "dags/big.yaml")
        #expect(bad.code == 2)
        #expect(bad.stderr.contains("sluice.yaml:1:18: capacity.cpus: expected"))
        #expect(bad.stderr.contains("sluice.yaml:2:12: log_limit"))
    }

    @Test func runsShowListsEachAttemptsOutcomeUsageAndRequest() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("sluice.yaml", "cgroup_parent: sluice-test\n")
        try project.dag(
            "usage",
            """
            dag: usage
            steps:
              work:
                command: "python3 -c 'x = bytearray(50 << 20); print(len(x))'"
                resources: {cpus: 0.5, memory: 256Mi}
            """)
        #expect(try project.sluice("run", "dags/usage.yaml").code == 0)
        let shown = try project.sluice("runs", "show", "latest")
        let row = try #require(
            shown.stdout.split(separator: "\n").first { $0.hasPrefix("work ") && $0.contains("exited(0)") })
        #expect(row.contains("0.5 cpu, 256.0 MiB"))
        #expect(row.contains("cgroup v1"))
        let json = try project.sluice("runs", "show", "latest", "--json").json()
        let attempt = try #require((json["attempts"] as? [[String: Any]])?.first)
        #expect((attempt["max_rss_bytes"] as? Int ?? 0) >= 50 << 20)
        #expect(attempt["usage_source"] as? String == "cgroup")
        #expect(attempt["requested_memory_bytes"] as? Int == 256 << 20)
        #expect((attempt["host"] as? String)?.isEmpty == false)
    }

    @Test func logsFollowPrintsAStepAsItWritesAndStopsWhenItEnds() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "follow",
            """
            dag: follow
            steps:
              talker:
                command: "echo one; while [ ! -e ../go ]; do sleep 0.05; done; echo two"
            """)
        let run = try SluiceBinary.start(
            ["run", "dags/follow.yaml"], in: project.path, env: ["SLUICE_DATABASE_URL": project.databaseURL])
        #expect(run.waitForLine { $0.contains("talker") && $0.contains("started") } != nil)
        let words = run.transcript.split(whereSeparator: { $0 == " " || $0 == "\n" })
        let runID = words[try #require(words.firstIndex(of: "run")) + 1]
        let follow = try SluiceBinary.start(
            ["logs", "-f", String(runID), "talker"], in: project.path,
            env: ["SLUICE_DATABASE_URL": project.databaseURL])
        #expect(follow.waitForLine { $0 == "one" } != nil)
        try "".write(toFile: project.path + "/go", atomically: true, encoding: .utf8)
        #expect(follow.waitForLine { $0 == "two" } != nil)
        #expect(follow.process.wait().exitCode == 0)
        #expect(run.process.wait().exitCode == 0)
    }
}
