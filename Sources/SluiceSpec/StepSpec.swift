/// What a step is for; used to group reports (cost of training, of scoring…).
public enum StepKind: String, Sendable, CaseIterable, Codable {
    case feature, training, scoring, other
}

/// Where a step runs.
public enum ExecutorKind: String, Sendable, CaseIterable, Codable {
    case local, slurm
}

/// A step's command before templating: a shell string or an argv list.
public enum CommandSpec: Sendable, Hashable {
    /// Run by `/bin/sh -c`; substituted values are shell-quoted.
    case shell(Template)
    /// Exec'd directly; each item is one argument, substituted as is.
    case argv([Template])

    /// Every template in the command.
    public var templates: [Template] {
        switch self {
        case .shell(let template): return [template]
        case .argv(let items): return items
        }
    }

    func mapTemplates(_ transform: (Template) -> Template) -> CommandSpec {
        switch self {
        case .shell(let template): return .shell(transform(template))
        case .argv(let items): return .argv(items.map(transform))
        }
    }
}

/// A step's command once every reference is resolved.
public enum Command: Sendable, Hashable {
    /// Run by `/bin/sh -c`.
    case shell(String)
    /// Exec'd directly, with no shell.
    case argv([String])

    /// The argv that starts it.
    public var arguments: [String] {
        switch self {
        case .shell(let script): return ["/bin/sh", "-c", script]
        case .argv(let argv): return argv
        }
    }
}

/// Where a secret environment value comes from; the value itself is never in the DAG, a plan or a record.
public enum SecretSource: Sendable, Hashable, CustomStringConvertible {
    /// A variable of Sluice's own environment.
    case environment(String)
    /// A file's content (one trailing newline removed); an absolute path once planned.
    case file(String)

    /// How it is shown instead of the value: `<secret from_env TOKEN>`.
    public var description: String {
        switch self {
        case .environment(let name): return "<secret from_env \(name)>"
        case .file(let path): return "<secret from_file \(path)>"
        }
    }
}

/// A name and a templated value: an environment variable.
public struct TemplatedVar: Sendable, Hashable {
    /// The variable's name.
    public let name: String
    /// Its value (empty for a secret).
    public let value: Template
    /// Where a secret value comes from, instead of `value`.
    public let secret: SecretSource?

    /// Creates a variable.
    public init(name: String, value: Template, secret: SecretSource? = nil) {
        self.name = name
        self.value = value
        self.secret = secret
    }

    /// The same variable with its template rewritten (a secret has none).
    func mapValue(_ transform: (Template) -> Template) -> TemplatedVar {
        TemplatedVar(name: name, value: secret == nil ? transform(value) : value, secret: secret)
    }

    /// The value as shown by `plan`: the template, or where the secret comes from.
    public var shown: String { secret?.description ?? value.description }
}

/// One environment variable of a resolved step.
public struct EnvVar: Sendable, Hashable {
    /// The variable's name.
    public let name: String
    /// Its value; empty for a secret until the launcher reads it.
    public let value: String
    /// Where a secret value comes from.
    public let secret: SecretSource?

    /// Creates a variable.
    public init(name: String, value: String, secret: SecretSource? = nil) {
        self.name = name
        self.value = value
        self.secret = secret
    }
}

/// A cost or ownership tag; its value may use `${{ params.x }}`, `${{ item }}`, `${{ dag.name }}` and
/// `${{ run.logical_date }}`, resolved when the run is planned.
public struct Tag: Sendable, Hashable {
    /// The key, such as `team`.
    public let key: String
    /// The value as written (resolved, once planned), such as `churn`.
    public let value: String
    /// The value, parsed for references.
    public let template: Template
    /// Where the value is written, when it comes from a file.
    public let file: String?, mark: SourceMark?

    /// Creates a tag from its text.
    public init(key: String, value: String, file: String? = nil, mark: SourceMark? = nil) {
        self.key = key
        self.value = value
        self.template = Template(literal: value)
        self.file = file
        self.mark = mark
    }

    /// Creates a tag whose value is a template.
    public init(key: String, template: Template, file: String? = nil, mark: SourceMark? = nil) {
        self.key = key
        self.value = template.description
        self.template = template
        self.file = file
        self.mark = mark
    }

    /// This tag with its value resolved (keeping where it is written).
    public func resolved(_ value: String) -> Tag { Tag(key: key, value: value, file: file, mark: mark) }

    /// `base` overridden and extended by `overrides`, keeping first-seen order.
    static func merge(_ base: [Tag], _ overrides: [Tag]) -> [Tag] {
        var result = base
        for tag in overrides {
            if let index = result.firstIndex(where: { $0.key == tag.key }) {
                result[index] = tag
            } else {
                result.append(tag)
            }
        }
        return result
    }
}

/// What a step asks for; every field is optional until defaults are applied.
public struct Resources: Sendable, Hashable {
    /// CPU cores, fractional.
    public var cpus: Double?
    /// Memory in bytes.
    public var memoryBytes: Int64?
    /// GPUs.
    public var gpus: Int?
    /// Most processes (and threads) at once.
    public var maxProcesses: Int?
    /// Most open files.
    public var maxOpenFiles: Int?
    /// Where each field is written (`cpus`, `memory`, …), for diagnostics; not part of equality.
    public var marks: [String: SourceMark] = [:]

    /// Creates a request.
    public init(
        cpus: Double? = nil, memoryBytes: Int64? = nil, gpus: Int? = nil, maxProcesses: Int? = nil,
        maxOpenFiles: Int? = nil
    ) {
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.gpus = gpus
        self.maxProcesses = maxProcesses
        self.maxOpenFiles = maxOpenFiles
    }

    /// True when nothing is requested.
    public var isEmpty: Bool { self == Resources() }

    /// These fields, with `base` filling the ones not set.
    public func over(_ base: Resources) -> Resources {
        var merged = Resources(
            cpus: cpus ?? base.cpus, memoryBytes: memoryBytes ?? base.memoryBytes, gpus: gpus ?? base.gpus,
            maxProcesses: maxProcesses ?? base.maxProcesses, maxOpenFiles: maxOpenFiles ?? base.maxOpenFiles)
        merged.marks = base.marks.merging(marks) { _, own in own }
        return merged
    }

    /// Equal when the requests are, wherever they are written.
    public static func == (a: Resources, b: Resources) -> Bool {
        a.cpus == b.cpus && a.memoryBytes == b.memoryBytes && a.gpus == b.gpus && a.maxProcesses == b.maxProcesses
            && a.maxOpenFiles == b.maxOpenFiles
    }

    /// Hashes the requests only.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(cpus)
        hasher.combine(memoryBytes)
        hasher.combine(gpus)
        hasher.combine(maxProcesses)
        hasher.combine(maxOpenFiles)
    }
}

/// An attempt outcome that `retries.on` can name.
public enum RetryOn: Sendable, Hashable, CustomStringConvertible {
    /// A non-zero exit; a specific code, or any when nil.
    case exit(Int32?)
    /// Killed by a signal.
    case killed
    /// Killed for exceeding its memory.
    case oomKilled
    /// Stopped at its timeout.
    case timedOut
    /// The command could not be started.
    case failedToStart

    /// As written: `exit`, `exit:75`, `killed`, `oom_killed`, `timed_out`, `failed_to_start`.
    public var description: String {
        switch self {
        case .exit(nil): return "exit"
        case .exit(let code?): return "exit:\(code)"
        case .killed: return "killed"
        case .oomKilled: return "oom_killed"
        case .timedOut: return "timed_out"
        case .failedToStart: return "failed_to_start"
        }
    }

    /// The spellings, for messages and the schema.
    public static let names = ["exit", "exit:<code>", "killed", "oom_killed", "timed_out", "failed_to_start"]

    /// Parses one entry of `on:`.
    static func parse(_ text: String) -> RetryOn? {
        switch text {
        case "exit": return .exit(nil)
        case "killed": return .killed
        case "oom_killed": return .oomKilled
        case "timed_out": return .timedOut
        case "failed_to_start": return .failedToStart
        default:
            guard text.hasPrefix("exit:"), let code = Int32(text.dropFirst(5)), (1...255).contains(code) else {
                return nil
            }
            return .exit(code)
        }
    }
}

/// How a step is retried; fields are optional until defaults are applied.
public struct RetryPolicy: Sendable, Hashable {
    /// Total attempts, the first included (1 = no retry).
    public var attempts: Int?
    /// Wait before the first retry, in seconds; doubled for each further retry.
    public var backoff: Double?
    /// The longest wait between attempts, in seconds.
    public var maxBackoff: Double?
    /// Which outcomes are retried.
    public var on: [RetryOn]?

    /// Creates a policy.
    public init(attempts: Int? = nil, backoff: Double? = nil, maxBackoff: Double? = nil, on: [RetryOn]? = nil) {
        self.attempts = attempts
        self.backoff = backoff
        self.maxBackoff = maxBackoff
        self.on = on
    }

    /// The documented defaults: one attempt, 10s backoff doubling up to 10m, retry on any failure but a timeout.
    public static let standard = RetryPolicy(
        attempts: 1, backoff: 10, maxBackoff: 600, on: [.exit(nil), .killed, .oomKilled, .failedToStart])

    func over(_ base: RetryPolicy) -> RetryPolicy {
        RetryPolicy(
            attempts: attempts ?? base.attempts, backoff: backoff ?? base.backoff,
            maxBackoff: maxBackoff ?? base.maxBackoff, on: on ?? base.on)
    }
}

/// How a dataset's version is found.
public enum VersionSource: String, Sendable, CaseIterable, Codable {
    /// A hash of the local file's content (paths only).
    case content
    /// The local file's modification time (paths only).
    case mtime
    /// Reported by the step in `$SLUICE_OUTPUT` as `version.<dataset>=…`.
    case fromStep = "from_step"
}

/// One entry of `inputs` or `outputs`.
public struct DataRef: Sendable, Hashable {
    /// A local path or a URI.
    public enum Location: Sendable, Hashable {
        /// A path, relative to the step's workdir.
        case path(Template)
        /// A URI such as `warehouse://marts/churn_scores`.
        case uri(Template)
    }

    /// Where the data is.
    public let location: Location
    /// A stable name for lineage queries, if given.
    public let dataset: String?
    /// How its version is found.
    public let version: VersionSource
    /// Where it is declared.
    public let mark: SourceMark

    /// Creates a reference.
    public init(location: Location, dataset: String?, version: VersionSource, mark: SourceMark) {
        self.location = location
        self.dataset = dataset
        self.version = version
        self.mark = mark
    }

    /// The path or URI template.
    public var template: Template {
        switch location {
        case .path(let template), .uri(let template): return template
        }
    }

    func mapTemplate(_ transform: (Template) -> Template) -> DataRef {
        switch location {
        case .path(let t): return DataRef(location: .path(transform(t)), dataset: dataset, version: version, mark: mark)
        case .uri(let t): return DataRef(location: .uri(transform(t)), dataset: dataset, version: version, mark: mark)
        }
    }
}

/// A `foreach`: a literal list, or a list parameter.
public enum Foreach: Sendable, Hashable {
    /// The items as written.
    case items([String])
    /// `${{ params.<name> }}`.
    case param(String)
}

/// A command run when a run ends (`on_failure`, `on_success`).
public struct HandlerSpec: Sendable {
    /// What to run.
    public let command: CommandSpec
    /// Extra environment.
    public let env: [TemplatedVar]
    /// Working directory as written, relative to the DAG file.
    public let workdir: Template?
    /// Wall-clock limit in seconds (default 5 minutes): a hanging handler is stopped like a step.
    public let timeout: Double
    /// Where it is declared.
    public let mark: SourceMark

    /// The timeout of a handler that sets none.
    public static let defaultTimeout: Double = 300

    /// Creates a handler.
    public init(
        command: CommandSpec, env: [TemplatedVar], workdir: Template?, timeout: Double = defaultTimeout,
        mark: SourceMark
    ) {
        self.command = command
        self.env = env
        self.workdir = workdir
        self.timeout = timeout
        self.mark = mark
    }
}

/// One step of a DAG, with the DAG's defaults applied.
public struct StepSpec: Sendable {
    /// The step id (its key under `steps:`; `<as>.<id>` for included steps).
    public let id: String
    /// Free text.
    public let description: String?
    /// What it is for.
    public let kind: StepKind
    /// What to run.
    public let command: CommandSpec
    /// Ids of the steps this one waits for.
    public let needs: [String]
    /// Where each entry of `needs` is written, for diagnostics.
    public let needMarks: [SourceMark]
    /// Extra environment variables, in file order.
    public let env: [TemplatedVar]
    /// Working directory as written, if any.
    public let workdir: Template?
    /// The directory a relative `workdir` is relative to.
    public let workdirBase: String
    /// Run only when this holds; otherwise the step is `skipped`.
    public let when: Condition?
    /// Where `when` is written, and whether its offsets map onto columns.
    public let whenMark: SourceMark?
    /// Fan-out.
    public let foreach: Foreach?
    /// Retry policy, defaults applied.
    public let retries: RetryPolicy
    /// Wall-clock limit in seconds.
    public let timeout: Double?
    /// Requested resources.
    public let resources: Resources
    /// Data read.
    public let inputs: [DataRef]
    /// Data written.
    public let outputs: [DataRef]
    /// DAG, defaults and step tags merged.
    public let tags: [Tag]
    /// Where it runs.
    public let executor: ExecutorKind
    /// Which parameter scope its templates use: 0 for the DAG, n for the n-th include.
    public let scope: Int
    /// The file it is written in.
    public let file: String
    /// Where the step's key is in the file.
    public let mark: SourceMark
    /// Keys written with a wrong value (already reported); only the whole-DAG checks ever see such a step.
    public var invalidKeys: Set<String> = []
    /// False when the step must run every time, even if an earlier attempt did the same work (`cache: false`).
    public var cache = true

    /// Creates a step.
    public init(
        id: String, description: String? = nil, kind: StepKind = .other, command: CommandSpec, needs: [String] = [],
        needMarks: [SourceMark]? = nil, env: [TemplatedVar] = [], workdir: Template? = nil, workdirBase: String,
        when: Condition? = nil, whenMark: SourceMark? = nil, foreach: Foreach? = nil,
        retries: RetryPolicy = .standard, timeout: Double? = nil, resources: Resources = Resources(),
        inputs: [DataRef] = [], outputs: [DataRef] = [], tags: [Tag] = [], executor: ExecutorKind = .local,
        scope: Int = 0, file: String, mark: SourceMark
    ) {
        self.id = id
        self.description = description
        self.kind = kind
        self.command = command
        self.needs = needs
        self.needMarks = needMarks ?? Array(repeating: mark, count: needs.count)
        self.env = env
        self.workdir = workdir
        self.workdirBase = workdirBase
        self.when = when
        self.whenMark = whenMark
        self.foreach = foreach
        self.retries = retries
        self.timeout = timeout
        self.resources = resources
        self.inputs = inputs
        self.outputs = outputs
        self.tags = tags
        self.executor = executor
        self.scope = scope
        self.file = file
        self.mark = mark
    }
}
