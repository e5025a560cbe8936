import Foundation
import SluiceBasics

/// What a finished `sluice` command printed and returned.
public struct CommandResult: Sendable {
    /// The exit code (128+signal when killed).
    public let code: Int32
    /// Everything on stdout.
    public let stdout: String
    /// Everything on stderr.
    public let stderr: String

    /// stdout decoded as a JSON object.
    public func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any] else {
            throw POSIXError(.EINVAL)
        }
        return object
    }

    /// stdout decoded as a JSON array of objects.
    public func jsonArray() throws -> [[String: Any]] {
        guard let array = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [[String: Any]] else {
            throw POSIXError(.EINVAL)
        }
        return array
    }
}

/// Runs the built `sluice` executable as a user would.
public enum SluiceBinary {
    /// The executable beside the test bundle (`.build/<triple>/debug/sluice`).
    public static var path: String {
        let exe = (try? FileSystem.realPath("/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = (exe as NSString).deletingLastPathComponent
        if directory.hasSuffix(".xctest") { directory = (directory as NSString).deletingLastPathComponent }
        return directory + "/sluice"
    }

    /// The environment commands run with: this process's, minus Sluice's own settings, plus `extra`.
    ///
    /// Steps run as the test's own user (`SLUICE_RUN_AS`), which as root must be said explicitly; an `extra`
    /// value of "" removes a variable.
    public static func environment(_ extra: [String: String] = [:]) -> [String] {
        var env = ProcessInfo.processInfo.environment
        for key in ["SLUICE_DATABASE_URL", "SLUICE_STATE_DIR", "SLUICE_CONFIG", "TERM"] { env.removeValue(forKey: key) }
        env["SLUICE_RUN_AS"] = UserIdentity.current.name
        env.merge(extra) { _, new in new }
        return env.filter { !$0.value.isEmpty }.map { "\($0.key)=\($0.value)" }
    }

    /// Runs `sluice ARGS...` to completion in `directory`.
    public static func run(_ arguments: [String], in directory: String, env: [String: String] = [:]) throws
        -> CommandResult
    {
        try runProgram([path] + arguments, in: directory, env: env, argv0: "sluice")
    }

    /// Runs any program (`argv[0]` is its path) to completion in `directory`, with the test environment.
    public static func runProgram(
        _ argv: [String], in directory: String, env: [String: String] = [:], argv0: String? = nil
    ) throws -> CommandResult {
        let base = "/tmp/sluice-cli-\(getpid())-\(UUID().uuidString)"
        let out = try FileSystem.createForWriting(base + ".out")
        let err = try FileSystem.createForWriting(base + ".err")
        defer {
            close(out)
            close(err)
            unlink(base + ".out")
            unlink(base + ".err")
        }
        var request = SpawnRequest(
            executable: argv[0], arguments: [argv0 ?? argv[0]] + argv.dropFirst(), environment: environment(env),
            workdir: directory)
        request.stdout = out
        request.stderr = err
        let status = try ChildProcess.spawn(request).wait()
        return CommandResult(
            code: status.exitCode ?? (128 + (status.signal ?? 0)),
            stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "")
    }

    /// Starts `sluice ARGS...` with stdout on a pipe, for tests that react to its output.
    public static func start(_ arguments: [String], in directory: String, env: [String: String] = [:]) throws
        -> LiveCommand
    {
        try startProgram([path] + arguments, in: directory, env: env, argv0: "sluice")
    }

    /// Starts any program (`argv[0]` is its path) with stdout and stderr on one pipe.
    public static func startProgram(
        _ argv: [String], in directory: String, env: [String: String] = [:], argv0: String? = nil
    ) throws -> LiveCommand {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SystemError("pipe", errno: errno) }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var request = SpawnRequest(
            executable: argv[0], arguments: [argv0 ?? argv[0]] + argv.dropFirst(), environment: environment(env),
            workdir: directory)
        request.stdout = fds[1]
        request.stderr = fds[1]
        let child = try ChildProcess.spawn(request)
        close(fds[1])
        return LiveCommand(process: child, output: FileHandle(fileDescriptor: fds[0], closeOnDealloc: true))
    }
}

/// A running `sluice` whose output can be read line by line.
public final class LiveCommand: @unchecked Sendable {
    /// The process.
    public let process: ChildProcess
    private let output: FileHandle
    private var buffer = ""
    /// Everything read so far.
    public private(set) var transcript = ""

    init(process: ChildProcess, output: FileHandle) {
        self.process = process
        self.output = output
    }

    /// Reads until a line satisfies `match` and returns it; nil if the output ends first.
    public func waitForLine(_ match: (String) -> Bool) -> String? {
        while true {
            while let newline = buffer.firstIndex(of: "\n") {
                let line = String(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if match(line) { return line }
            }
            let data = output.availableData
            if data.isEmpty { return nil }
            let text = String(decoding: data, as: UTF8.self)
            buffer += text
            transcript += text
        }
    }

    /// Reads the rest of the output and waits for the exit code.
    public func finish() -> Int32 {
        while true {
            let data = output.availableData
            if data.isEmpty { break }
            transcript += String(decoding: data, as: UTF8.self)
        }
        let status = process.wait()
        return status.exitCode ?? (128 + (status.signal ?? 0))
    }
}
