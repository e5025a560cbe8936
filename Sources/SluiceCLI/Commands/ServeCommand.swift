import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SluiceBasics
import SluiceEngine
import SluiceHost
import SluiceStore
import Synchronization

/// `sluice serve [FOLDER]`: the scheduler service.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a folder of DAGs: run schedules, triggered runs and retries; adopt what others left.",
        discussion: """
            Loads every DAG in FOLDER (default: dags) and reloads a file within 2 s of a change. Queues a run at
            each fire time of a schedule, starts queued runs (sluice trigger, backfill, retry) as their DAG's
            max_active_runs allow, and takes over the runs of engines that are gone. SIGTERM or SIGINT stops it
            gracefully: nothing new starts, and running steps go on under their watchers until a service adopts
            them. See docs/service.md.
            """)

    @Argument(help: "The DAG folder (default: dags).") var folder: String = "dags"
    @Flag(help: "One pass: queue what is due, run what may start, wait for it to end, and exit.") var once = false
    @Option(
        name: .customLong("log-format"), help: "plain (default) or json, one object per line, on stderr.")
    var logFormat: String = "plain"
    @Option(name: .customLong("log-level"), help: "debug, info (default), warning or error.") var logLevel: String =
        "info"
    @OptionGroup var runAs: RunAsOption
    @OptionGroup var global: GlobalOptions
    @OptionGroup var config: ConfigOption

    func validate() throws {
        guard LogFormat(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format is plain or json, not '\(logFormat)'")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level is debug, info, warning or error, not '\(logLevel)'")
        }
    }

    func run() throws {
        guard FileSystem.isDirectory(folder) else {
            throw CLIFailure("\(folder) is not a folder of DAG files", exitCode: ExitCodes.unreadable)
        }
        let marker = (FileSystem.absolute(folder) as NSString).appendingPathComponent("x.yaml")
        let hostConfig = try config.load(dagFile: marker)
        let stepUser = try runAs.resolve(config: hostConfig)
        let stateDirectory = global.resolveStateDirectory(dagFile: marker)
        let state = try StateDirectory.open(stateDirectory, create: true)
        let format = LogFormat(rawValue: logFormat) ?? .plain
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let logger = Logger(label: "sluice") { _ in ServiceLogHandler(format: format, level: level) }
        let store = try Self.openStore(global.databaseTarget(stateDirectory: stateDirectory), logger: logger)
        try PriceSync.load(hostConfig, into: store)
        let logs = try state.subdirectories(
            "logs", mode: RunOptions.directoryMode(forFiles: hostConfig.logFileMode))
        let setup = EngineSetup.compose(config: hostConfig, logRoot: logs.path, runAs: stepUser)
        if let reason = setup.fallbackReason {
            logger.warning("limits are enforced with rlimits only: \(reason) (see: sluice doctor)")
        }
        signal(SIGHUP, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let service = try SchedulerService(
            store: store, setup: setup,
            settings: SchedulerService.Settings(folder: folder, once: once, logsRoot: logs.path), logger: logger)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    ServiceGroupConfiguration.ServiceConfiguration(
                        service: ServeService(service), successTerminationBehavior: .gracefullyShutdownGroup)
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let outcome = Mutex<(any Error)??>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await group.run()
                outcome.withLock { $0 = .some(nil) }
            } catch {
                outcome.withLock { $0 = .some(error) }
            }
            done.signal()
        }
        done.wait()
        if let failure = outcome.withLock({ $0 }), let failure { throw failure }
    }

    /// A connection refusal that waiting does not cure: a wrong password, an unknown role or database.
    static func isPermanent(_ error: DatabaseError) -> Bool {
        ["authentication", "does not exist", "no pg_hba.conf entry", "permission denied"].contains {
            error.message.contains($0)
        }
    }

    /// Opens the store, waiting with backoff (up to 30 s between tries) while the database is unreachable:
    /// a service started before its database (a boot, a restart of both) waits for it.
    static func openStore(_ target: DatabaseTarget, logger: Logger) throws -> Store {
        var delay = 0.5
        var told = false
        while true {
            do {
                let store = try Store.open(target)
                if told { logger.notice("the database is reachable; starting") }
                return store
            } catch let error as DatabaseError where error.isTransient && !Self.isPermanent(error) {
                if !told {
                    logger.error(
                        "the database is unreachable: \(error.message); retrying with backoff (up to 30 s)")
                    told = true
                }
                _ = Poller.wait([], timeout: delay)
                delay = min(delay * 2, 30)
            }
        }
    }
}
