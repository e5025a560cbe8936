import Foundation
import SluiceBasics
import SluiceExecutor
import Testing

@Suite("The local executor (real processes)")
struct LocalExecutorTests {
    /// Where this suite's log files go; each test removes its own.
    private let base = "/tmp/sluice-exec-\(getpid())-\(UUID().uuidString)"

    /// A launch whose logs go to this suite's directory (created here: the driver owns log directories).
    private func launch(
        _ argv: [String], viaShell: Bool = false, workdir: String = "/tmp", env: [String] = ["PATH=/usr/bin:/bin"]
    ) throws -> AttemptLaunch {
        try FileSystem.makeDirectory(base)
        return AttemptLaunch(
            argv: argv, viaShell: viaShell, environment: env, workdir: workdir,
            logDirectory: try SecureDirectory.open(base), logName: "1", cgroupName: "test")
    }

    private func runToEnd(_ launch: AttemptLaunch) throws -> ProcessExit {
        try LocalExecutor().runToEnd(launch).status
    }

    private func exit(_ status: ProcessExit) -> AttemptExit {
        AttemptExit(status: status, usage: nil, wallSeconds: 0.1, droppedLogBytes: 0)
    }

    @Test func outputGoesToOneLogFilePerStream() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let l = try launch(["/bin/sh", "-c", "echo out; echo err >&2"], viaShell: true)
        let status = try runToEnd(l)
        #expect(status.succeeded)
        #expect(try String(contentsOfFile: l.stdoutPath, encoding: .utf8) == "out\n")
        #expect(try String(contentsOfFile: l.stderrPath, encoding: .utf8) == "err\n")
    }

    /// Every argument and variable reaches the step, however many: the watcher once kept 4,095 of each and
    /// dropped the rest without a word.
    @Test func aStepGetsAllOfItsArgumentsAndVariables() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let arguments = (1...5000).map { "a\($0)" }
        let variables = (1...5000).map { "V\($0)=v\($0)" }
        let script = "echo $# $5000 $V1 $V5000"
        let l = try launch(["/bin/sh", "-c", script, "sh"] + arguments, env: ["PATH=/usr/bin:/bin"] + variables)
        let status = try runToEnd(l)
        #expect(status.succeeded)
        #expect(try String(contentsOfFile: l.stdoutPath, encoding: .utf8) == "5000 a5000 v1 v5000\n")
    }

    /// A user in many groups keeps them all in the step: the watcher once kept 256 and dropped the rest.
    @Test func aStepRunAsAUserHasAllOfItsGroups() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        try #require(geteuid() == 0, "only root may give a process groups (the suite runs as root)")
        let groups = (0..<300).map { gid_t(60_000 + $0) }
        var l = try launch(["/bin/sh", "-c", "id -G | wc -w"])
        l.user = UserIdentity(name: "nobody", uid: 65_534, gid: 65_534, groups: groups, home: "/")
        try FileSystem.changeOwner(base, uid: 65_534, gid: 65_534)  // where its logs go
        let status = try runToEnd(l)
        #expect(status.succeeded)
        let count = try String(contentsOfFile: l.stdoutPath, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(count == "301", "the primary group and the 300 others")
    }

    @Test func argvCommandsAreFoundInTheStepsPath() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let status = try runToEnd(try launch(["true"]))
        #expect(status.succeeded)
        let failure = #expect(throws: LaunchFailure.self) {
            try LocalExecutor().start(try launch(["no-such-tool-xyz"]))
        }
        #expect(failure?.reason == "command not found: no-such-tool-xyz (not in the step's PATH)")
    }

    @Test func badWorkdirIsAStartFailure() {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let failure = #expect(throws: LaunchFailure.self) {
            try LocalExecutor().start(try launch(["true"], workdir: "/nonexistent/wd"))
        }
        #expect(failure?.reason.contains("cannot enter working directory /nonexistent/wd") == true)
    }

    @Test func aFileThatIsNotExecutableIsAStartFailure() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileSystem.makeDirectory(base)
        let script = base + "/script.sh"
        try "#!/bin/sh\necho hi\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o644)
        let failure = #expect(throws: LaunchFailure.self) { try LocalExecutor().start(try launch([script])) }
        #expect(failure?.reason == "permission denied: \(script) is not executable")
    }

    @Test func aMissingBinaryByPathIsAStartFailure() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let failure = #expect(throws: LaunchFailure.self) { try LocalExecutor().start(try launch(["/opt/none/train"])) }
        #expect(failure?.reason.contains("/opt/none/train") == true)
    }

    @Test func outputPastTheLogLimitIsCutWithAMarker() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        var l = try launch(
            ["/bin/sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; echo tail-of-output"], viaShell: true)
        l.logLimit = 1000
        let exit = try LocalExecutor().runToEnd(l)
        #expect(exit.status.succeeded)
        let text = try String(contentsOfFile: l.stdoutPath, encoding: .utf8)
        #expect(text.hasPrefix(String(repeating: "x", count: 1000) + "\n[sluice: output cut here: the log limit is"))
        #expect(!text.contains("tail-of-output"))
        #expect(exit.droppedLogBytes == 300_015 - 1000)
        #expect(text.hasSuffix("[sluice: \(300_015 - 1000) more bytes were dropped]\n"))
    }

    @Test func theOOMAdviceRoundsUp() {
        #expect(AttemptOutcome.suggestedMemory(above: 4 << 30) == "6Gi")
        #expect(AttemptOutcome.suggestedMemory(above: 64 << 20) == "128Mi")
        #expect(AttemptOutcome.suggestedMemory(above: 700 << 20) == "2Gi")
    }

    @Test func shellExit127IsCommandNotFound() {
        let status = ProcessExit(exitCode: 127, signal: nil, userCPU: 0, systemCPU: 0, maxRSSBytes: 0)
        let ending = AttemptOutcome.ending(step: "train", exit: exit(status), limits: AttemptLimits(), viaShell: true)
        #expect(ending.state == .exited)
        #expect(ending.message?.contains("command not found") == true)
        let argv = AttemptOutcome.ending(step: "train", exit: exit(status), limits: AttemptLimits(), viaShell: false)
        #expect(argv.message == "step train failed: exited with code 127")
    }

    @Test func signalEndingsNameTheSignal() {
        let status = ProcessExit(exitCode: nil, signal: SIGKILL, userCPU: 0, systemCPU: 0, maxRSSBytes: 0)
        let ending = AttemptOutcome.ending(step: "score", exit: exit(status), limits: AttemptLimits(), viaShell: false)
        #expect(ending.state == .killed)
        #expect(ending.signal == SIGKILL)
        #expect(ending.message == "step score was killed by SIGKILL")
    }
}
