import ArgumentParser
import Foundation
import SluiceExecutor
import SluiceModel
import SluiceSpec
import SluiceStore

/// `sluice runs`: list runs, or show one.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List runs, newest first, or show one run's steps.",
        subcommands: [RunsListCommand.self, RunsShowCommand.self], defaultSubcommand: RunsListCommand.self)
}

/// `sluice runs [list] [--dag NAME] [--limit N]`.
struct RunsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List runs, newest first.")

    @Option(help: "Only runs of this DAG.") var dag: String?
    @Option(help: "Most runs to list.") var limit: Int = 20
    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let store = try global.openStore()
        RecoverySweep.run(store: store)
        let runs = try RunQueries(store: store).runs(dag: dag, limit: limit)
        if json {
            try JSONOutput.print(["runs": runs])
            return
        }
        if runs.isEmpty {
            print(dag.map { "no runs of \($0) recorded" } ?? "no runs recorded")
            return
        }
        var table = TextTable("RUN", "DAG", "STATE", "TRIGGER", "STARTED", "DURATION", "STEPS")
        for run in runs {
            table.add([
                String(run.id), run.dag, run.state.rawValue, run.trigger, Formatting.time(run.startedAt),
                Formatting.duration(run.durationSeconds),
                StepCounts.text(run),
            ])
        }
        print(table.render())
    }
}

/// `sluice runs show RUN`.
struct RunsShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a run's steps (state, times, exit code) and each attempt's outcome, usage, request and host.")

    @Argument(help: ArgumentHelp("The run id, or 'latest'.", valueName: "run")) var runReference: String
    @Flag(help: "Print as JSON.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let detail = try RunReference.detail(runReference, global: global)
        if json {
            try JSONOutput.print(detail)
            return
        }
        let summary = detail.run
        print("run \(summary.id) of \(summary.dag): \(summary.state.rawValue)")
        print("  file:      \(detail.sourcePath)")
        print("  trigger:   \(summary.trigger)\(detail.triggeredBy.map { " by \($0)" } ?? "")")
        if let scheduled = detail.scheduledFor { print("  scheduled: \(Formatting.time(scheduled))") }
        if let start = detail.dataIntervalStart {
            print("  interval:  \(Formatting.time(start)) to \(Formatting.time(detail.dataIntervalEnd))")
        }
        if let date = detail.logicalDate { print("  logical:   \(date)") }
        if !detail.params.isEmpty {
            print(
                "  params:    \(detail.params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
            )
        }
        print("  started:   \(Formatting.time(summary.startedAt))")
        print("  ended:     \(Formatting.time(summary.endedAt))")
        print("  duration:  \(Formatting.duration(summary.durationSeconds))")
        print("  logs:      \(detail.logDirectory)")
        if let message = detail.message { print("  message:   \(message)") }
        print("")
        var table = TextTable("STEP", "STATE", "STARTED", "ENDED", "DURATION", "EXIT", "ATTEMPTS")
        for step in detail.steps {
            table.add([
                step.step, step.state.rawValue, Formatting.time(step.startedAt), Formatting.time(step.endedAt),
                Formatting.duration(step.durationSeconds), step.exitCode.map(String.init) ?? "-", String(step.attempts),
            ])
        }
        print(table.render())
        if !detail.attempts.isEmpty {
            print("")
            var usage = TextTable(
                "STEP", "ATTEMPT", "OUTCOME", "WALL", "USER CPU", "SYS CPU", "PEAK MEM", "ASKED", "HOST", "LIMITS")
            for attempt in detail.attempts {
                let outcome =
                    attempt.state == .exited
                    ? "exited(\(attempt.exitCode.map(String.init) ?? "?"))"
                    : attempt.state == .killed
                        ? "killed(\(attempt.signal.map(AttemptOutcome.signalName) ?? "?"))" : attempt.state.rawValue
                var asked: [String] = []
                if let cpus = attempt.requestedCPUs { asked.append("\(Units.formatNumber(cpus)) cpu") }
                if let memory = attempt.requestedMemoryBytes { asked.append(Formatting.bytes(memory)) }
                if let gpus = attempt.requestedGPUs, gpus > 0 { asked.append("gpu \(attempt.gpuIDs ?? "?")") }
                usage.add([
                    attempt.step, String(attempt.number), outcome, Formatting.duration(attempt.wallSeconds),
                    attempt.userCPUSeconds.map { String(format: "%.2fs", $0) } ?? "-",
                    attempt.systemCPUSeconds.map { String(format: "%.2fs", $0) } ?? "-",
                    Formatting.bytes(attempt.maxRSSBytes), asked.isEmpty ? "-" : asked.joined(separator: ", "),
                    attempt.host, attempt.enforcement ?? "-",
                ])
            }
            print(usage.render())
        }
        let commands = (detail.steps + detail.handlers).filter { $0.attempts > 0 && !$0.command.isEmpty }
        if !commands.isEmpty {
            print("\ncommands (as run):")
            let width = min(24, commands.map(\.step.count).max() ?? 0)
            for step in commands {
                print(
                    "  \(step.step.padding(toLength: max(width, step.step.count), withPad: " ", startingAt: 0))  \(Self.commandLine(step.command))"
                )
            }
        }
        if !detail.handlers.isEmpty {
            print("\nhandlers:")
            var handlers = TextTable("HANDLER", "STATE", "EXIT", "DURATION", "MESSAGE")
            for handler in detail.handlers {
                handlers.add([
                    handler.step, handler.state.rawValue, handler.exitCode.map(String.init) ?? "-",
                    Formatting.duration(handler.durationSeconds), handler.message ?? "",
                ])
            }
            print(handlers.render())
        }
        let outputs = detail.steps.compactMap { step in step.outputs.map { (step.step, $0) } }
        if !outputs.isEmpty {
            print("\noutputs:")
            for (step, values) in outputs {
                for (name, value) in values.sorted(by: { $0.key < $1.key }) { print("  \(step).\(name) = \(value)") }
            }
        }
        printData(detail)
        let skipped = detail.steps.filter { $0.state == .skipped }
        if !skipped.isEmpty {
            print("\nskipped:")
            for step in skipped { print("  \(step.step): \(step.message ?? "skipped")") }
        }
        let warnings = detail.attempts.flatMap { attempt in
            attempt.warnings.map { "  \(attempt.step) (attempt \(attempt.number)): \($0)" }
        }
        if !warnings.isEmpty {
            print("\nwarnings:")
            for warning in warnings { print(warning) }
        }
        let problems = detail.steps.filter { ![.succeeded, .skipped, .cached].contains($0.state) }.compactMap { step in
            step.message.map { "  \(step.step): \($0)" }
        }
        if !problems.isEmpty {
            print("\nproblems:")
            for problem in problems { print(problem) }
        }
    }

    /// The data each step read and wrote (its last attempt), with versions; cached steps and what they reuse.
    private func printData(_ detail: RunDetail) {
        var lines: [String] = []
        for step in detail.steps {
            if step.state == .cached, let reused = step.reusedAttempt {
                lines.append("  \(step.step): cached, reuses attempt \(reused)")
                continue
            }
            guard let last = detail.attempts.last(where: { $0.step == step.step }) else { continue }
            for edge in last.inputs {
                lines.append(
                    "  \(step.step) read  \(Self.shown(edge))\(edge.changed ? "  (changed while it ran)" : "")")
            }
            for edge in last.outputData { lines.append("  \(step.step) wrote \(Self.shown(edge))") }
            if let metrics = last.metrics, !metrics.isEmpty {
                let text = metrics.sorted { $0.key < $1.key }.map { "\($0.key)=\(Units.formatNumber($0.value))" }
                lines.append("  \(step.step) metrics \(text.joined(separator: " "))")
            }
        }
        guard !lines.isEmpty else { return }
        print("\ndata:")
        for line in lines { print(line) }
        if let code = detail.attempts.compactMap(\.code).first {
            let commit = code.commit.map { String($0.prefix(12)) + (code.dirty ? " (uncommitted changes)" : "") }
            print("  code: DAG version \(code.dagHash.prefix(12)), git \(commit ?? "none")")
        }
    }

    /// `name@version` with its path when the name is a dataset's, versions shortened.
    static func shown(_ edge: DataEdge) -> String {
        let version = edge.version.hasPrefix("sha256:") ? String(edge.version.prefix(19)) : edge.version
        let path = edge.kind == "dataset" ? edge.path.map { " (\($0))" } ?? "" : ""
        return "\(edge.name)@\(version)\(path)"
    }

    /// An argv as a shell would read it back: each argument quoted only where it must be.
    static func commandLine(_ argv: [String]) -> String {
        argv.map(ShellQuote.quote).joined(separator: " ")
    }
}

/// Turns `42` or `latest` into a run id.
enum RunReference {
    /// The recorded run named by `text`, or a not-found failure.
    static func detail(_ text: String, global: GlobalOptions) throws -> RunDetail {
        let store = try global.openStore()
        RecoverySweep.run(store: store)
        let queries = RunQueries(store: store)
        let id = try resolve(text, queries: queries)
        guard let detail = try queries.runDetail(id: id) else {
            throw CLIFailure("no run \(id)", exitCode: ExitCodes.notFound)
        }
        return detail
    }

    static func resolve(_ text: String, queries: RunQueries) throws -> Int64 {
        if text == "latest" {
            guard let id = try queries.latestRunID(dag: nil) else {
                throw CLIFailure("no runs recorded yet", exitCode: ExitCodes.notFound)
            }
            return id
        }
        guard let id = Int64(text), id > 0 else {
            throw CLIFailure("'\(text)' is not a run id (a number, or 'latest')", exitCode: ExitCodes.usage)
        }
        return id
    }
}
