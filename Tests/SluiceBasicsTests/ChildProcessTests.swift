import Foundation
import SluiceBasics
import Testing

/// Runs argv to completion with stdout captured to a temporary file.
private func capture(
    _ argv: [String], environment: [String] = ["PATH=/usr/bin:/bin"], workdir: String? = nil,
    configure: (inout SpawnRequest) -> Void = { _ in }
) throws -> (ProcessExit, String) {
    let path = "/tmp/sluice-capture-\(getpid())-\(UUID().uuidString)"
    let fd = try FileSystem.createForWriting(path)
    defer {
        close(fd)
        unlink(path)
    }
    var request = SpawnRequest(executable: argv[0], arguments: argv, environment: environment, workdir: workdir)
    request.stdout = fd
    configure(&request)
    let status = try ChildProcess.spawn(request).wait()
    return (status, try String(contentsOfFile: path, encoding: .utf8))
}

@Suite("Spawning child processes (real processes)")
struct ChildProcessTests {
    @Test func exitCodeAndSignalAreReported() throws {
        let (exited, _) = try capture(["/bin/sh", "-c", "exit 7"])
        #expect(exited.exitCode == 7 && exited.signal == nil)
        let (killed, _) = try capture(["/bin/sh", "-c", "kill -KILL $$"])
        #expect(killed.signal == SIGKILL && killed.exitCode == nil)
    }

    @Test func startFailuresNameTheirCause() throws {
        let missing = #expect(throws: SpawnError.self) { try capture(["/nonexistent/tool"]) }
        #expect(missing?.stage == .exec && missing?.code == ENOENT)
        #expect(missing?.description == "command not found: /nonexistent/tool")

        let dir = "/tmp/sluice-noexec-\(getpid())"
        _ = FileManager.default.createFile(
            atPath: dir, contents: Data("echo hi\n".utf8), attributes: [.posixPermissions: 0o644])
        defer { unlink(dir) }
        let denied = #expect(throws: SpawnError.self) { try capture([dir]) }
        #expect(denied?.stage == .exec && denied?.code == EACCES)

        let badDir = #expect(throws: SpawnError.self) { try capture(["/bin/true"], workdir: "/nonexistent/dir") }
        #expect(badDir?.stage == .chdir)
        #expect(badDir?.description.contains("/nonexistent/dir") == true)
    }

    @Test func environmentIsExactlyWhatWasGiven() throws {
        let (_, output) = try capture(["/usr/bin/env"], environment: ["ONLY=this", "PATH=/bin"])
        #expect(output.split(separator: "\n").sorted() == ["ONLY=this", "PATH=/bin"])
    }

    @Test func stdinIsDevNullAndOtherDescriptorsAreClosed() throws {
        // A descriptor the parent leaves inheritable must still not reach the child.
        let leaked = open("/dev/null", O_RDONLY)
        defer { close(leaked) }
        let (status, output) = try capture(["/bin/sh", "-c", "cat; ls /proc/self/fd"])
        #expect(status.succeeded)
        // The shell's own fds are 0, 1, 2; ls adds the one it reads the directory through.
        let fds = output.split(separator: "\n").compactMap { Int($0) }.filter { $0 != 3 }
        #expect(fds == [0, 1, 2])
    }

    @Test func ignoredAndBlockedSignalsAreNotInherited() throws {
        let previous = signal(SIGTERM, SIG_IGN)
        var block = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGUSR1)
        var saved = sigset_t()
        pthread_sigmask(SIG_BLOCK, &block, &saved)
        defer {
            pthread_sigmask(SIG_SETMASK, &saved, nil)
            signal(SIGTERM, previous)
        }
        let (_, output) = try capture(["/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"])
        #expect(output.contains("SigBlk:\t0000000000000000"))
        #expect(output.contains("SigIgn:\t0000000000000000"))
    }

    @Test func childLeadsItsOwnProcessGroup() throws {
        let (_, output) = try capture(["/bin/sh", "-c", "cut -d' ' -f5 /proc/$$/stat; echo $$"])
        let lines = output.split(separator: "\n")
        #expect(lines.count == 2 && lines[0] == lines[1])
    }

    @Test func leftoverProcessesInTheGroupAreKilledWhenTheMainOneExits() throws {
        let pidFile = "/tmp/sluice-leftover-\(getpid())"
        defer { unlink(pidFile) }
        // The background sleep writes its pid, then the main process waits for it to be written and exits.
        let script = "sleep 1000 & echo $! > \(pidFile).tmp && mv \(pidFile).tmp \(pidFile); exit 0"
        let child = try ChildProcess.spawn(
            SpawnRequest(
                executable: "/bin/sh", arguments: ["/bin/sh", "-c", script], environment: ["PATH=/usr/bin:/bin"]))
        let exitFD = try #require(child.exitDescriptor())
        defer { close(exitFD) }
        _ = Poller.wait([exitFD], timeout: 30)
        let leftover = try #require(
            pid_t(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let leftoverFD = try #require(ChildProcess(pid: leftover).exitDescriptor())
        defer { close(leftoverFD) }
        let status = try #require(child.pollKillingGroup())
        #expect(status.exitCode == 0)
        // The pidfd of the background sleep becomes readable once it has died.
        #expect(Poller.wait([leftoverFD], timeout: 30).contains(leftoverFD))
    }

    @Test func runningChildIsNotReapedByPolling() throws {
        let child = try ChildProcess.spawn(
            SpawnRequest(
                executable: "/bin/sleep", arguments: ["sleep", "1000"], environment: []))
        #expect(child.pollKillingGroup() == nil)
        child.signalGroup(SIGKILL)
        #expect(child.wait().signal == SIGKILL)
    }
}
