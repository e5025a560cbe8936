import ArgumentParser
import CLibPQ
import CYAML
import Foundation
import SluiceBasics
import SluiceEngine
import SluiceExecutor
import SluiceHost
import SluiceModel
import SluiceSpec
import SluiceStore

/// `sluice doctor`: what this host offers and what Sluice will do with it.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Report cgroup support, the enforcement in effect, host capacity, the database and versions.",
        discussion: "Exit codes: 0 all good, 1 a problem that stops runs (the database, or an invalid configuration).")

    @Flag(help: "Print the report as JSON.") var json = false
    @OptionGroup var global: GlobalOptions
    @OptionGroup var config: ConfigOption

    struct Report: Encodable {
        struct Versions: Encodable {
            let sluice: String
            let kernel: String
            let libpq: String
            let libyaml: String
            let postgresServer: String?
        }
        struct Cgroups: Encodable {
            let v2Mount: String?
            let v2Controllers: [String]
            let v1Hierarchies: [String]
            let inUse: String
            let parentDirectories: [String]
            let fallbackReason: String?
        }
        struct Database: Encodable {
            let ok: Bool
            let target: String
            let schemaVersion: Int?
            let expectedSchemaVersion: Int
            let error: String?
        }
        struct StepUser: Encodable {
            let user: String?
            let warning: String?
        }
        let ok: Bool
        let versions: Versions
        let configFile: String?
        let configProblems: [String]
        let stepUser: StepUser
        let cgroups: Cgroups
        let enforcement: [EnforcementLine]
        let capacity: HostCapacity
        let defaultResources: [String: String]
        let database: Database
    }

    func run() throws {
        // A broken configuration is reported, not fatal: the rest of the report still helps.
        var hostConfig = HostConfig()
        var configProblems: [String] = []
        do {
            hostConfig = try config.load()
        } catch let error as SpecError {
            configProblems = error.diagnostics.map(\.description)
            hostConfig.file = error.diagnostics.first?.file
        } catch let error as SpecReadError {
            configProblems = [error.description]
            hostConfig.file = error.file
        }
        let control = ResourceControl.setUp(
            mode: CgroupMode(rawValue: hostConfig.cgroups) ?? .auto, parent: hostConfig.cgroupParent)
        let capacity = HostCapacity.resolve(hostConfig)
        var database = Report.Database(
            ok: false, target: "", schemaVersion: nil, expectedSchemaVersion: Migration.latestVersion, error: nil)
        var serverVersion: String?
        do {
            let store = try global.openStore(migrate: false)
            let status = try Migrator.status(store.connection)
            serverVersion = try store.connection.query("SHOW server_version").rows.first?["server_version"]
            database = Report.Database(
                ok: status.modified.isEmpty && status.currentVersion <= status.expectedVersion,
                target: store.connection.targetDescription, schemaVersion: status.currentVersion,
                expectedSchemaVersion: status.expectedVersion, error: nil)
        } catch {
            database = Report.Database(
                ok: false, target: "", schemaVersion: nil, expectedSchemaVersion: Migration.latestVersion,
                error: "\(error)")
        }
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let libpq = Int(PQlibVersion())
        let defaults = hostConfig.defaultResources
        let configuredUser =
            ProcessInfo.processInfo.environment["SLUICE_RUN_AS"].flatMap { $0.isEmpty ? nil : $0 } ?? hostConfig.runAs
        let stepUser: Report.StepUser
        do {
            let user = try SluiceEngine.StepUser.resolve(configuredUser) ?? UserIdentity.current
            stepUser = .init(
                user: user.name,
                warning: user.uid == 0
                    ? "steps run as root: a step can change anything on this host and leave its cgroup; set run_as to an unprivileged user"
                    : nil)
        } catch {
            stepUser = .init(user: nil, warning: "\(error)")
        }
        let report = Report(
            ok: database.ok && configProblems.isEmpty,
            versions: .init(
                sluice: SluiceVersion.current, kernel: kernel, libpq: "\(libpq / 10000).\(libpq % 10000)",
                libyaml: String(cString: yaml_get_version_string()), postgresServer: serverVersion),
            configFile: hostConfig.file, configProblems: configProblems, stepUser: stepUser,
            cgroups: .init(
                v2Mount: control.layout.unified?.mountPoint, v2Controllers: control.layout.unified?.controllers ?? [],
                v1Hierarchies: control.layout.legacy.map {
                    "\($0.controllers.joined(separator: ",")) at \($0.mountPoint)"
                },
                inUse: control.summary, parentDirectories: control.backend?.parentDirectories ?? [],
                fallbackReason: control.fallbackReason),
            enforcement: control.enforcement, capacity: capacity,
            defaultResources: [
                "cpus": defaults.cpus.map(Units.formatNumber) ?? "-",
                "memory": defaults.memoryBytes.map(Units.formatBytes) ?? "-", "gpus": String(defaults.gpus ?? 0),
                "max_processes": defaults.maxProcesses.map(String.init) ?? "none",
            ],
            database: database)
        if json {
            try JSONOutput.print(report)
        } else {
            print(Self.text(report))
        }
        if !report.ok { throw ExitWith(code: ExitCodes.failed) }
    }

    static func text(_ r: Report) -> String {
        var lines: [String] = []
        let v = r.versions
        lines.append(
            "versions:    sluice \(v.sluice), kernel \(v.kernel), libpq \(v.libpq), libyaml \(v.libyaml), PostgreSQL \(v.postgresServer ?? "unreachable")"
        )
        if r.configProblems.isEmpty {
            lines.append(
                "config:      \(r.configFile ?? "none (defaults; create \(HostConfig.fileName) at the project root)")")
        } else {
            lines.append(
                "config:      BROKEN: \(r.configFile ?? HostConfig.fileName) has \(r.configProblems.count) problem\(r.configProblems.count == 1 ? "" : "s") (the report below uses the defaults):"
            )
            for problem in r.configProblems { lines.append("             \(problem)") }
        }
        lines.append("run as:      \(r.stepUser.user ?? "-") (steps and handlers)")
        if let warning = r.stepUser.warning { lines.append("WARNING:     \(warning)") }
        let v2 =
            r.cgroups.v2Mount.map {
                "v2 at \($0) with \(r.cgroups.v2Controllers.isEmpty ? "no controllers" : r.cgroups.v2Controllers.joined(separator: ", "))"
            } ?? "no v2 mount"
        lines.append(
            "cgroups:     \(v2); v1: \(r.cgroups.v1Hierarchies.isEmpty ? "none" : r.cgroups.v1Hierarchies.joined(separator: "; "))"
        )
        if let reason = r.cgroups.fallbackReason {
            lines.append("in use:      rlimits only: \(reason)")
        } else {
            lines.append(
                "in use:      \(r.cgroups.inUse), attempt cgroups under \(r.cgroups.parentDirectories.joined(separator: ", "))"
            )
        }
        lines.append("enforcement:")
        for line in r.enforcement {
            lines.append("  \(line.resource.padding(toLength: 15, withPad: " ", startingAt: 0)) \(line.mechanism)")
        }
        let c = r.capacity
        lines.append(
            "capacity:    \(Units.formatNumber(c.cpus)) cpus (\(c.sources["cpus"] ?? "")), \(Units.formatBytes(c.memoryBytes)) (\(c.sources["memory"] ?? "")), \(c.gpus) GPUs (\(c.sources["gpus"] ?? ""))"
        )
        let d = r.defaultResources
        lines.append(
            "defaults:    a step without resources gets \(d["cpus"] ?? "") cpu, \(d["memory"] ?? ""), \(d["gpus"] ?? "0") GPUs, max_processes \(d["max_processes"] ?? "")"
        )
        if r.database.ok {
            lines.append(
                "database:    ok, \(r.database.target), schema version \(r.database.schemaVersion ?? 0) of \(r.database.expectedSchemaVersion)"
            )
        } else {
            lines.append(
                "database:    PROBLEM: \(r.database.error ?? "schema version \(r.database.schemaVersion ?? 0), expected \(r.database.expectedSchemaVersion)")"
            )
        }
        return lines.joined(separator: "\n")
    }
}
