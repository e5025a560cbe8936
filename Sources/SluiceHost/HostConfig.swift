import Foundation
import SluiceBasics
import SluiceSpec

/// The host's configuration file (`sluice.yaml` at the project root): capacity, default resources, enforcement.
public struct HostConfig: Sendable, Equatable {
    /// Capacity overrides; a field left nil is detected from the host.
    public var capacity = CapacityOverride()
    /// What a step gets for each resource it does not ask for.
    public var defaultResources = HostConfig.standardDefaults
    /// `auto` (cgroups when possible) or `off` (rlimits only).
    public var cgroups = "auto"
    /// Where attempt cgroups are made: absolute from the hierarchy's root, or relative to Sluice's own cgroup.
    public var cgroupParent = "sluice"
    /// Seconds between SIGTERM and SIGKILL when a step is stopped.
    public var gracePeriod: Double = 10
    /// Most bytes kept per log stream of an attempt; nil for no cap.
    public var logLimit: Int64? = 100 << 20
    /// The mode of attempt log files: 0600 (`log_permissions: private`) or 0640 (`group`).
    public var logFileMode: mode_t = 0o600
    /// The user steps run as (`run_as`), as written: a name or a uid; nil for Sluice's own user.
    public var runAs: String?
    /// Where OpenLineage events go (`openlineage:`); nil for nowhere.
    public var openLineage: OpenLineageConfig?
    /// Tags every step must carry (`required_tags`).
    public var requiredTags: [RequiredTag] = []
    /// The price book's entries (`prices`), loaded into the database by `run`, `serve` and `prices sync`.
    public var prices: [ConfiguredPrice] = []
    /// The currency of every price (`currency`, default USD).
    public var currency = "USD"
    /// This host's class (`host_class`), a tag on its attempts that prices can select.
    public var hostClass: String?
    /// The file it was read from, if any.
    public var file: String?

    /// The documented defaults for a step without `resources`: 1 CPU, 2 GiB, no GPU, 4096 processes.
    public static let standardDefaults = Resources(cpus: 1, memoryBytes: 2 << 30, gpus: 0, maxProcesses: 4096)

    /// The configuration with every default.
    public init() {}

    /// The keys of the file.
    public static let keys = [
        "capacity", "default_resources", "cgroups", "cgroup_parent", "grace_period", "log_limit", "log_permissions",
        "run_as", "openlineage", "required_tags", "prices", "currency", "host_class",
    ]

    /// The file's name at a project root.
    public static let fileName = "sluice.yaml"

    /// Reads a configuration file; throws `SpecReadError` or `SpecError` (with file:line:column).
    public static func load(path: String) throws -> HostConfig {
        let bytes = try SpecLoader.read(path)
        let root: YAMLNode
        switch SpecLoader.parseTree(bytes: bytes, file: path) {
        case .success(let tree): root = tree
        case .failure(let error): throw error
        }
        var reader = NodeReader(file: path)
        var config = HostConfig()
        config.file = path
        if !root.isNull, let fields = reader.mapping(root, path: "", allowed: keys, what: "a mapping of settings") {
            for (key, _, value) in fields {
                switch key {
                case "capacity": config.capacity = reader.capacity(value) ?? config.capacity
                case "default_resources":
                    if let given = reader.resources(value, path: key) {
                        config.defaultResources = given.over(standardDefaults)
                    }
                case "cgroups": config.cgroups = reader.choice(value, path: key, ["auto", "off"]) ?? config.cgroups
                case "cgroup_parent":
                    if let parent = reader.nonEmptyString(value, path: key) {
                        if parent.split(separator: "/").contains("..") || parent.contains("\n") {
                            reader.error(value.mark, key, "cgroup_parent: '..' and newlines are not allowed")
                        } else {
                            config.cgroupParent = parent
                        }
                    }
                case "grace_period":
                    // Seconds as a plain number (as on the command line) or a duration: 10, 10s, 1m.
                    if case .scalar(let text, .plain) = value.content, let seconds = Double(text), seconds >= 0 {
                        config.gracePeriod = seconds
                    } else {
                        config.gracePeriod = reader.duration(value, path: key) ?? config.gracePeriod
                    }
                case "log_limit":
                    if case .scalar("none", _) = value.content {
                        config.logLimit = nil
                    } else {
                        config.logLimit = reader.memory(value, path: key) ?? config.logLimit
                    }
                case "log_permissions":
                    if let choice = reader.choice(value, path: key, ["private", "group"]) {
                        config.logFileMode = choice == "group" ? 0o640 : 0o600
                    }
                case "run_as":
                    if let user = reader.nonEmptyString(value, path: key) {
                        if UserIdentity.lookup(user) == nil {
                            reader.error(value.mark, key, "run_as: this system has no user '\(user)'")
                        } else {
                            config.runAs = user
                        }
                    }
                case "openlineage":
                    config.openLineage = reader.openLineage(value, base: (path as NSString).deletingLastPathComponent)
                case "required_tags": config.requiredTags = reader.requiredTags(value)
                case "prices": config.prices = reader.prices(value)
                case "currency":
                    if let code = reader.nonEmptyString(value, path: key) {
                        if code.count == 3 && code.allSatisfy({ $0.isASCII && $0.isUppercase }) {
                            config.currency = code
                        } else {
                            reader.error(value.mark, key, "currency: expected a three-letter code such as USD or EUR")
                        }
                    }
                case "host_class":
                    if let hostClass = reader.nonEmptyString(value, path: key) {
                        if Identifiers.isTagKey(hostClass) {
                            config.hostClass = hostClass
                        } else {
                            reader.error(
                                value.mark, key,
                                "host_class: use lowercase letters, digits, '_', '-', '.' and '/', starting with a letter"
                            )
                        }
                    }
                default: break
                }
            }
        }
        if !reader.diagnostics.isEmpty { throw SpecError(reader.diagnostics) }
        return config
    }

    /// The file to use: `explicit`, `$SLUICE_CONFIG`, else `sluice.yaml` in `projectRoot` if it exists.
    public static func locate(explicit: String?, projectRoot: String) -> String? {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = ProcessInfo.processInfo.environment["SLUICE_CONFIG"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        let candidate = (projectRoot as NSString).appendingPathComponent(fileName)
        return FileSystem.exists(candidate) ? candidate : nil
    }
}

/// Capacity figures that replace what is detected.
public struct CapacityOverride: Sendable, Equatable {
    /// CPU cores.
    public var cpus: Double?
    /// Memory in bytes.
    public var memoryBytes: Int64?
    /// GPUs.
    public var gpus: Int?
    /// Where each field is written.
    public var marks: [String: SourceMark] = [:]

    /// No overrides.
    public init(cpus: Double? = nil, memoryBytes: Int64? = nil, gpus: Int? = nil) {
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.gpus = gpus
    }
}

extension NodeReader {
    mutating func capacity(_ node: YAMLNode) -> CapacityOverride? {
        guard
            let fields = mapping(
                node, path: "capacity", allowed: ["cpus", "memory", "gpus"], what: "a mapping with cpus, memory, gpus")
        else { return nil }
        var result = CapacityOverride()
        for (key, _, value) in fields {
            result.marks[key] = value.mark
            switch key {
            case "cpus": result.cpus = number(value, path: "capacity.cpus", positive: true)
            case "memory": result.memoryBytes = memory(value, path: "capacity.memory")
            case "gpus": result.gpus = int(value, path: "capacity.gpus", range: 0...1024)
            default: break
            }
        }
        return result
    }
}
