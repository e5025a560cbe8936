import Foundation
import SluiceEngine
import SluiceExecutor
import SluiceHost
import SluiceSpec
import SluiceStore
import SluiceTestSupport
import Testing

/// Timeouts, retries, admission and GPUs, through the engine with a real PostgreSQL and real processes.
@Suite("The engine with the local executor: timeouts, retries, capacity")
struct ExecutorRunTests {
    private struct Attempt {
        let step: String
        let number: Int
        let state: String
        let message: String?
        let cpus: Double
        let memory: Int64
        let gpuIDs: [Int]
        let created: Double
        let started: Double
        let ended: Double
        let wall: Double
        let stdout: String
    }

    private func run(
        _ yaml: String, in directory: TempDirectory, capacity: HostCapacity? = nil, grace: Double = 10,
        control: ResourceControl = .rlimitsOnly
    ) throws -> (RunResult, [Attempt], RunDetail) {
        let file = try directory.write("dags/test.yaml", yaml)
        let plan = try Planner.plan(try SpecLoader.load(path: file), logicalDate: "2026-11-20")
        let store = try TestDatabase.freshStore()
        var options = RunOptions(logRoot: directory.path + "/logs")
        options.parallelism = 8
        options.gracePeriod = grace
        if let capacity { options.capacity = capacity }
        let result = try RunDriver(
            store: store, executor: LocalExecutor(control: control), observer: RecordingObserver(), options: options
        ).run(plan)
        let rows = try store.connection.query(
            """
            SELECT s.step_key, a.number, a.state, a.message, a.requested_cpus, a.requested_memory_bytes,
                   coalesce(a.gpu_ids, '') AS gpu_ids, a.stdout_path,
                   extract(epoch FROM a.created_at)::float8 AS created,
                   extract(epoch FROM coalesce(a.started_at, a.created_at))::float8 AS started,
                   extract(epoch FROM a.ended_at)::float8 AS ended, a.wall_seconds
            FROM attempt a JOIN step_instance s ON s.id = a.step_instance_id
            WHERE s.run_id = \(result.runID) ORDER BY s.position, a.number
            """
        ).rows
        let attempts = rows.map { row in
            Attempt(
                step: row["step_key"]!, number: Int(row.int("number")!), state: row["state"]!, message: row["message"],
                cpus: Double(row["requested_cpus"] ?? "0") ?? 0, memory: row.int("requested_memory_bytes") ?? 0,
                gpuIDs: row["gpu_ids"]!.split(separator: ",").compactMap { Int($0) },
                created: Double(row["created"]!)!, started: Double(row["started"]!)!, ended: Double(row["ended"]!)!,
                wall: row.double("wall_seconds") ?? 0,
                stdout: (try? String(contentsOfFile: row["stdout_path"]!, encoding: .utf8)) ?? "")
        }
        return (result, attempts, try #require(try RunQueries(store: store).runDetail(id: result.runID)))
    }

    @Test func retriesAreSeparateAttemptsWithBackoffBetweenThem() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (result, attempts, detail) = try run(
            """
            dag: retry
            steps:
              flaky:
                command: |
                  n=$(cat ../count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ../count
                  echo "attempt $SLUICE_ATTEMPT"; [ $n -ge 3 ]
                retries: {attempts: 4, backoff: 1s, max_backoff: 1s}
              picky:
                command: exit 3
                retries: {attempts: 3, backoff: 1s, on: ["exit:75"]}
            """, in: dir)
        #expect(result.state == .failed)
        let flaky = attempts.filter { $0.step == "flaky" }
        #expect(flaky.map(\.state) == ["exited", "exited", "exited"])
        #expect(flaky.map(\.stdout) == ["attempt 1\n", "attempt 2\n", "attempt 3\n"])
        #expect(detail.steps.first { $0.step == "flaky" }?.state == .succeeded)
        for (earlier, later) in zip(flaky, flaky.dropFirst()) {
            // max_backoff 1s with equal jitter: every wait is between 0.5 s and 1 s.
            #expect(later.created - earlier.ended >= 0.5)
        }
        // exit 3 is not in `on`, so picky is not retried.
        #expect(attempts.filter { $0.step == "picky" }.count == 1)
    }

    @Test func aTimeoutStopsTheWholeTreeAndSaysSo() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let marker = UUID().uuidString
        let (result, attempts, _) = try run(
            """
            dag: slow
            steps:
              stubborn:
                command: "trap '' TERM; setsid sleep 1000 & sleep 1000"
                env: {MARK: "\(marker)"}
                timeout: 1s
            """, in: dir, grace: 0.5, control: ResourceControl.setUp(mode: .auto, parent: "sluice-test"))
        #expect(result.state == .failed)
        #expect(attempts.map(\.state) == ["timed_out"])
        #expect(
            attempts[0].message
                == "step stubborn timed out after 1s and was stopped with SIGTERM, then SIGKILL after the grace period. Raise timeout or make the step faster."
        )
        #expect(attempts[0].wall >= 1.5)  // the timeout, then the grace period before SIGKILL
        #expect(ProcessScan.withEnvironment("MARK=\(marker)").isEmpty)
    }

    @Test func parallelStepsNeverExceedCapacity() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        var steps = ""
        for i in 0..<6 {
            steps +=
                "  s\(i):\n    command: sleep 0.3\n    resources: {cpus: \(i % 2 == 0 ? "1" : "0.5"), memory: 300Mi}\n"
        }
        let capacity = HostCapacity(cpus: 2, memoryBytes: 700 << 20, gpus: 0)
        let (result, attempts, _) = try run("dag: cap\nsteps:\n" + steps, in: dir, capacity: capacity)
        #expect(result.state == .succeeded)
        #expect(attempts.count == 6)
        var overlapped = false
        for a in attempts {
            // Everything running at the moment `a` started, itself included.
            let live = attempts.filter { $0.created <= a.created && $0.ended > a.created }
            #expect(live.reduce(0) { $0 + $1.cpus } <= 2)
            #expect(live.reduce(0) { $0 + $1.memory } <= 700 << 20)
            if live.count > 1 { overlapped = true }
        }
        #expect(overlapped)
    }

    @Test func gpusAreGivenByIndexAndNeverShared() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        var steps = ""
        for i in 0..<4 {
            steps += "  g\(i):\n    command: echo \"$CUDA_VISIBLE_DEVICES\"; sleep 0.2\n    resources: {gpus: 1}\n"
        }
        steps += "  cpu_only:\n    command: echo \"[$CUDA_VISIBLE_DEVICES]\"\n"
        let capacity = HostCapacity(cpus: 8, memoryBytes: 64 << 30, gpus: 2)
        let (result, attempts, _) = try run("dag: gpu\nsteps:\n" + steps, in: dir, capacity: capacity)
        #expect(result.state == .succeeded)
        for a in attempts where a.step != "cpu_only" {
            #expect(a.gpuIDs.count == 1)
            #expect(a.stdout == "\(a.gpuIDs[0])\n")
            let sharing = attempts.filter {
                $0.step != a.step && $0.gpuIDs == a.gpuIDs && $0.created < a.ended && a.created < $0.ended
            }
            #expect(sharing.isEmpty)
        }
        #expect(attempts.first { $0.step == "cpu_only" }?.stdout == "[]\n")
    }

    @Test func stepsThatCanNeverFitAreRejectedWithTheirPlace() throws {
        let spec = try SpecLoader.parse(
            bytes: Array(
                """
                dag: big
                steps:
                  train:
                    command: python train.py
                    resources: {cpus: 64, memory: 1Ti, gpus: 1}
                """.utf8), file: "dags/big.yaml", baseDirectory: "/tmp")
        var config = HostConfig()
        config.capacity = CapacityOverride(cpus: 8, memoryBytes: 30 << 30, gpus: nil)
        config.file = "sluice.yaml"
        let capacity = HostCapacity(
            cpus: 8, memoryBytes: 30 << 30, gpus: 0,
            sources: ["cpus": "sluice.yaml", "memory": "sluice.yaml", "gpus": "detected"])
        let diagnostics = CapacityCheck.check(spec, capacity: capacity, config: config)
        #expect(
            diagnostics.map(\.description) == [
                "dags/big.yaml:5:23: step train asks for 64 cpus, but this host has 8 (from sluice.yaml); it could never start",
                "dags/big.yaml:5:35: step train asks for 1.0 TiB of memory, but this host has 30.0 GiB (from sluice.yaml); it could never start",
                "dags/big.yaml:5:46: step train asks for 1 GPU, but this host has 0 (detected; set capacity.gpus in sluice.yaml if that is wrong); it could never start",
            ])
    }
}
