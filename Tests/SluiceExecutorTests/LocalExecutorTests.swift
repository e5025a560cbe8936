import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceStore
import Testing

@Suite("The local executor (real processes)")
struct LocalExecutorTests {
    /// Where this suite's log files go; each test removes its own.
    private let base = "/tmp/sluice-exec-\(getpid())-\(UUID().uuidString)"

    /// A launch whose logs go to this suite's directory (created here: the driver owns log directories).
    private func launch(
        _ argv: [String], viaShell: Bool = false, workdir: String = "/tmp", env: [String] = ["PATH=/usr/bin:/bin"]
    ) -> AttemptLaunch {
        try? FileSystem.makeDirectory(base)
        return AttemptLaunch(
            argv: argv, viaShell: viaShell, environment: env, workdir: workdir, stdoutPath: base + "/1.out",
            stderrPath: base + "/1.err")
    }

    private func runToEnd(_ launch: AttemptLaunch) throws -> ProcessExit {
        let executor = LocalExecutor()
        let running = try executor.start(launch)
        while true {
            if let status = executor.poll(running) { return status }
            _ = Poller.wait(running.exitFD.map { [$0] } ?? [], timeout: 1)
        }
    }

    @Test func outputGoesToOneLogFilePerStream() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let l = launch(["/bin/sh", "-c", "echo out; echo err >&2"], viaShell: true)
        let status = try runToEnd(l)
        #expect(status.succeeded)
        #expect(try String(contentsOfFile: l.stdoutPath, encoding: .utf8) == "out\n")
        #expect(try String(contentsOfFile: l.stderrPath, encoding: .utf8) == "err\n")
    }

    @Test func argvCommandsAreFoundInTheStepsPath() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let status = try runToEnd(launch(["true"]))
        #expect(status.succeeded)
        let failure = #expect(throws: LaunchFailure.self) { try LocalExecutor().start(launch(["no-such-tool-xyz"])) }
        #expect(failure?.reason == "command not found: no-such-tool-xyz (not in the step's PATH)")
    }

    @Test func badWorkdirIsAStartFailure() {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let failure = #expect(throws: LaunchFailure.self) {
            try LocalExecutor().start(launch(["true"], workdir: "/nonexistent/wd"))
        }
        #expect(failure?.reason.contains("cannot enter working directory /nonexistent/wd") == true)
    }

    @Test func shellExit127IsCommandNotFound() {
        let status = ProcessExit(exitCode: 127, signal: nil, userCPU: 0, systemCPU: 0, maxRSSBytes: 0)
        let ending = AttemptOutcome.ending(step: "train", status: status, viaShell: true, wall: 0.1)
        #expect(ending.state == .exited)
        #expect(ending.message?.contains("command not found") == true)
        let argv = AttemptOutcome.ending(step: "train", status: status, viaShell: false, wall: 0.1)
        #expect(argv.message == "step train failed: exited with code 127")
    }

    @Test func signalEndingsNameTheSignal() {
        let status = ProcessExit(exitCode: nil, signal: SIGKILL, userCPU: 0, systemCPU: 0, maxRSSBytes: 0)
        let ending = AttemptOutcome.ending(step: "score", status: status, viaShell: false, wall: 1)
        #expect(ending.state == .killed)
        #expect(ending.signal == SIGKILL)
        #expect(ending.message == "step score was killed by SIGKILL")
    }
}
