import ArgumentParser
import Foundation
import SluiceBasics
import SluiceSpec
import SluiceStore

/// `sluice logs RUN STEP`: print an attempt's stdout or stderr.
struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print the output of a step's attempt (the last attempt by default).")

    @Argument(help: ArgumentHelp("The run id, or 'latest'.", valueName: "run")) var runReference: String
    @Argument(help: "The step id.") var step: String
    @Option(help: "Which attempt (default: the last).") var attempt: Int?
    @Flag(help: "Print stderr instead of stdout.") var stderr = false
    @Flag(
        name: [.customShort("f"), .customLong("follow")],
        help: "Keep printing as the step writes, through its retries, until it ends.")
    var follow = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        var detail = try RunReference.detail(runReference, global: global)
        let id = detail.run.id
        let names = (detail.steps + detail.handlers).map(\.step)
        guard names.contains(step) else {
            throw CLIFailure(
                "run \(id) has no step '\(step)'\(Suggestions.hint(for: step, in: names)); its steps: \(names.joined(separator: ", "))",
                exitCode: ExitCodes.notFound)
        }
        var attempts = detail.attempts.filter { $0.step == step }
        if attempts.isEmpty && follow && attempt == nil {
            // Like tail -F: wait for the step to start, as long as the run can still start it.
            let queries = RunQueries(store: try global.openStore(migrate: false))
            while attempts.isEmpty {
                let state = (detail.steps + detail.handlers).first { $0.step == step }?.state
                if detail.run.state.isTerminal || state?.isTerminal == true { break }
                _ = Poller.wait([], timeout: 0.2)
                guard let fresh = try queries.runDetail(id: id) else { break }
                detail = fresh
                attempts = detail.attempts.filter { $0.step == step }
            }
        }
        let chosen = attempt.map { n in attempts.first { $0.number == n } } ?? attempts.last
        guard let chosen else {
            if let attempt {
                throw CLIFailure(
                    "step \(step) of run \(id) has no attempt \(attempt) (it has \(attempts.count))",
                    exitCode: ExitCodes.notFound)
            }
            let state = (detail.steps + detail.handlers).first { $0.step == step }?.state
            if let state, !state.isTerminal, !detail.run.state.isTerminal {
                throw CLIFailure(
                    "step \(step) of run \(id) has not started yet (\(state.rawValue)); use -f to wait for it",
                    exitCode: ExitCodes.notFound)
            }
            throw CLIFailure(
                "step \(step) of run \(id) never started (\(state?.rawValue ?? "unknown")), so it has no logs",
                exitCode: ExitCodes.notFound)
        }
        let path = stderr ? chosen.stderrPath : chosen.stdoutPath
        let handle = FileHandle(forReadingAtPath: path)
        // A stream's log is made on its first byte: no file in the attempt's log directory is an empty log.
        guard handle != nil || FileSystem.isDirectory((path as NSString).deletingLastPathComponent) else {
            throw CLIFailure(
                "the log file \(path) is gone (it is kept on the host that ran the step, \(chosen.host))",
                exitCode: ExitCodes.notFound)
        }
        defer { try? handle?.close() }
        if let handle { copy(handle) }
        if follow && attempt == nil { try followStep(from: chosen, handle: handle, run: id) }
    }

    /// The attempt's log of the chosen stream, once it exists.
    private func open(_ attempt: AttemptDetail) -> FileHandle? {
        FileHandle(forReadingAtPath: stderr ? attempt.stderrPath : attempt.stdoutPath)
    }

    /// Prints what the file holds beyond what was printed; returns true when there was something.
    @discardableResult
    private func copy(_ handle: FileHandle) -> Bool {
        var any = false
        while let chunk = try? handle.read(upToCount: 65536), !chunk.isEmpty {
            Terminal.write(STDOUT_FILENO, Array(chunk))
            any = true
        }
        return any
    }

    /// Follows the step's attempts until the last has ended and its log is printed to the end.
    /// A log that does not exist yet is opened once the step writes to it.
    private func followStep(from first: AttemptDetail, handle opened: FileHandle?, run id: Int64) throws {
        let queries = RunQueries(store: try global.openStore(migrate: false))
        var current = first
        var handle = opened
        while true {
            if handle == nil { handle = open(current) }
            if let handle, copy(handle) { continue }
            guard let detail = try queries.runDetail(id: id) else { return }
            let attempts = detail.attempts.filter { $0.step == step }
            let state = (detail.steps + detail.handlers).first { $0.step == step }?.state
            if let next = attempts.first(where: { $0.number > current.number }) {
                if let handle = handle ?? open(current) { copy(handle) }
                Terminal.write(STDOUT_FILENO, "--- attempt \(next.number) ---\n")
                try? handle?.close()
                handle = open(next)
                current = next
                continue
            }
            let live = attempts.last.map { $0.state == .starting || $0.state == .running } ?? false
            if !live && state != .retrying {
                if let handle = handle ?? open(current) { copy(handle) }
                return
            }
            _ = Poller.wait([], timeout: 0.2)  // no inotify on every file system: poll the file and the record
        }
    }
}
