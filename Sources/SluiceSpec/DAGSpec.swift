/// A validated DAG file: the typed model the engine runs.
public struct DAGSpec: Sendable {
    /// The DAG's identifier (`dag:`).
    public let name: String
    /// Free text (`description:`).
    public let description: String?
    /// Steps in file order.
    public let steps: [StepSpec]
    /// The file it came from, as the user named it.
    public let file: String
    /// The directory that relative `workdir`s resolve against (the file's directory, absolute).
    public let baseDirectory: String
    /// The file's exact bytes, kept so a run records what it ran.
    public let source: String

    /// Creates a DAG model.
    public init(
        name: String, description: String?, steps: [StepSpec], file: String, baseDirectory: String,
        source: String
    ) {
        self.name = name
        self.description = description
        self.steps = steps
        self.file = file
        self.baseDirectory = baseDirectory
        self.source = source
    }

}

/// One step of a DAG.
public struct StepSpec: Sendable {
    /// The step id (its key under `steps:`).
    public let id: String
    /// What to run.
    public let command: Command
    /// Ids of the steps this one waits for.
    public let needs: [String]
    /// Where each entry of `needs` is written, for diagnostics.
    public let needMarks: [SourceMark]
    /// Extra environment variables, in file order.
    public let env: [EnvVar]
    /// Working directory as written (relative to the DAG file), if any.
    public let workdir: String?
    /// Where the step's key is in the file.
    public let mark: SourceMark

    /// Creates a step.
    public init(
        id: String, command: Command, needs: [String], needMarks: [SourceMark]? = nil, env: [EnvVar], workdir: String?,
        mark: SourceMark
    ) {
        self.id = id
        self.command = command
        self.needs = needs
        self.needMarks = needMarks ?? Array(repeating: mark, count: needs.count)
        self.env = env
        self.workdir = workdir
        self.mark = mark
    }
}

/// One environment variable of a step.
public struct EnvVar: Sendable, Hashable, Codable {
    /// The variable's name.
    public let name: String
    /// Its value.
    public let value: String

    /// Creates a variable.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A step's command: a shell string or an argv list.
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
