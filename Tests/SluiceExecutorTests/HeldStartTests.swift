import CSpawn
import Foundation
import SluiceBasics
import SluiceExecutor
import Testing

/// A prepared attempt is set up and held at its exec while the engine commits its start: it runs only once
/// released, and never when dropped, or when its engine dies first.
@Suite("Held starts: prepared while the start is recorded, run only once released")
struct HeldStartTests {
    /// Where this suite's files go; each test removes its own.
    private let base = "/tmp/sluice-held-\(getpid())-\(UUID().uuidString)"

    /// A step that leaves a mark in this suite's directory when (and only if) it runs.
    private func marking(_ name: String = "ran") throws -> AttemptLaunch {
        try FileSystem.makeDirectory(base)
        return AttemptLaunch(
            argv: ["/bin/sh", "-c", "echo $$ >> \(name)"], viaShell: true, environment: ["PATH=/usr/bin:/bin"],
            workdir: base, logDirectory: try SecureDirectory.open(base), logName: "1", cgroupName: "test")
    }

    private func waitForEnd(_ executor: LocalExecutor, _ running: RunningAttempt) -> AttemptExit {
        while true {
            if let exit = executor.poll(running) { return exit }
            _ = Poller.wait(running.waitFD.map { [$0] } ?? [], timeout: running.waitFD == nil ? 0.05 : nil)
        }
    }

    @Test func aPreparedStepRunsOnceWhenStarted() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = LocalExecutor()
        let prepared = try executor.prepare(try marking())
        let running = try executor.start(prepared)
        let exit = waitForEnd(executor, running)
        #expect(exit.status.succeeded && exit.startFailure == nil)
        let marks = try String(contentsOfFile: base + "/ran", encoding: .utf8).split(separator: "\n")
        #expect(marks == [Substring(String(running.pid))], "it ran once, as the process the watcher held")
    }

    @Test func aDiscardedStepNeverRunsAndLeavesNoStatusFile() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = LocalExecutor()
        let launch = try marking()
        executor.discard(try executor.prepare(launch))
        // discard returns once the watcher has ended: a step that was going to run would have by now.
        #expect(!FileSystem.exists(base + "/ran"))
        #expect(!FileSystem.exists(base + "/" + launch.statusName))
    }

    @Test func aHeldStepWhoseExecFailsEndsAsAStartFailure() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileSystem.makeDirectory(base)
        let script = base + "/script.sh"
        try "#!/nonexistent/interpreter\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let launch = AttemptLaunch(
            argv: [script], viaShell: false, environment: ["PATH=/usr/bin:/bin"], workdir: base,
            logDirectory: try SecureDirectory.open(base), logName: "1", cgroupName: "test")
        let executor = LocalExecutor()
        let running = try executor.start(try executor.prepare(launch))  // held: the exec comes after the release
        let exit = waitForEnd(executor, running)
        let reason =
            "cannot execute \(script): its interpreter /nonexistent/interpreter (from its #! line) was not found"
        #expect(exit.startFailure == reason)
        let ending = AttemptOutcome.ending(step: "s", exit: exit, limits: AttemptLimits(), viaShell: false)
        #expect(ending.state == .failedToStart)
        #expect(ending.message == "step s failed to start: \(reason)")
    }

    /// The engine dies between preparing the attempt and releasing it (simulated here by talking to the watcher
    /// directly, and closing the release socket without its byte): the step never runs, its status file says
    /// so, and adoption calls it never started (started again, not counted against its retries).
    @Test func aStepHeldByAnEngineThatDiedNeverRunsAndIsAdoptedAsNeverStarted() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let launch = try marking()
        var spec: [UInt8] = []
        func add(_ key: String, _ value: String) { spec += Array("\(key)=\(value.utf8.count):\(value)\n".utf8) }
        add("path", "/bin/sh")
        for argument in launch.argv { add("argv", argument) }
        add("env", "PATH=/usr/bin:/bin")
        add("cwd", base)
        add("status", launch.statusName)
        add("stdout", "1.out")
        add("stderr", "1.err")
        add("cgroup_fds", "0")
        add("hold", "1")
        var specPipe: [Int32] = [0, 0]
        var reportPipe: [Int32] = [0, 0]
        var release: [Int32] = [0, 0]
        #expect(sluice_pipe_cloexec(&specPipe) == 0 && sluice_pipe_cloexec(&reportPipe) == 0)
        #expect(sluice_socketpair_cloexec(&release) == 0)
        var request = SpawnRequest(
            executable: Self.shim, arguments: ["sluice-shim"], environment: ["PATH=/usr/bin:/bin"], workdir: "/")
        request.stdin = specPipe[0]
        request.newSession = true
        request.inheritedDescriptors = [reportPipe[1], launch.logDirectory.fd, release[1]]
        let watcher = try ChildProcess.spawn(request)
        for fd in [specPipe[0], reportPipe[1], release[1]] { close(fd) }
        Terminal.write(specPipe[1], spec)
        close(specPipe[1])
        let held = Self.readAll(reportPipe[0], untilNewline: true)
        #expect(held.hasPrefix("held "), "the watcher reports the step forked and held: \(held)")
        close(release[0])  // the engine is gone: no byte will come
        let rest = Self.readAll(reportPipe[0], untilNewline: false)
        close(reportPipe[0])
        #expect(watcher.wait().exitCode == 0)
        #expect(rest == "ended\n")
        #expect(!FileSystem.exists(base + "/ran"), "the step never ran")
        let status = try String(contentsOfFile: base + "/" + launch.statusName, encoding: .utf8)
        #expect(status.contains("\"start_failed\":{\"stage\":11,"), "\(status)")
        guard let record = LocalExecutor.recordFromStatus(logDirectory: base, logName: "1") else {
            Issue.record("no record from the status file")
            return
        }
        guard case .neverStarted = LocalExecutor().adopt(record) else {
            Issue.record("adopted as something else than never started")
            return
        }
    }

    /// `sluice-shim`, built beside the test bundle.
    private static var shim: String {
        var directory = ((try? FileSystem.realPath("/proc/self/exe")) ?? "") as NSString
        directory = directory.deletingLastPathComponent as NSString
        if directory.hasSuffix(".xctest") { directory = directory.deletingLastPathComponent as NSString }
        return directory.appendingPathComponent("sluice-shim")
    }

    /// What a pipe holds: its first line, or everything up to its end.
    private static func readAll(_ fd: Int32, untilNewline: Bool) -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1 {
            bytes.append(byte)
            if untilNewline && byte == 10 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
