/// The parameters a group of steps sees: the DAG's own, or an included template's with their bound values.
public struct ParamScope: Sendable {
    /// The declared parameters.
    public let params: [ParamSpec]
    /// Values bound by an `include` (templates over the DAG's parameters); empty for the DAG's own scope.
    public let bindings: [String: Template]
    /// The file that declares the parameters.
    public let file: String
    /// The include's `as` prefix, if any.
    public let prefix: String?
    /// Parameters declared here whose declaration is wrong (already reported), so references to them are not.
    public let invalidNames: Set<String>

    /// Creates a scope.
    public init(
        params: [ParamSpec], bindings: [String: Template], file: String, prefix: String?, invalidNames: Set<String> = []
    ) {
        self.params = params
        self.bindings = bindings
        self.file = file
        self.prefix = prefix
        self.invalidNames = invalidNames
    }
}

/// A validated DAG file: the typed model that `plan` resolves and the engine runs.
public struct DAGSpec: Sendable {
    /// The DAG's identifier (`dag:`).
    public let name: String
    /// Free text (`description:`).
    public let description: String?
    /// Who is told about failures.
    public let owner: String?
    /// The DAG's own tags (already merged into every step's).
    public let tags: [Tag]
    /// When the service starts runs; nil for on demand only.
    public let schedule: Schedule?
    /// The time zone `schedule` is read in.
    public let timezone: String?
    /// Whether the service runs missed intervals after a pause.
    public let catchup: Bool
    /// False when no step of it is ever cached (`cache: false`).
    public var cache = true
    /// Most runs of this DAG at once.
    public let maxActiveRuns: Int
    /// Parameter scopes: index 0 is the DAG's `params`, then one per include.
    public let scopes: [ParamScope]
    /// Steps in file order, included steps first.
    public let steps: [StepSpec]
    /// Commands run when a run fails.
    public let onFailure: [HandlerSpec]
    /// Commands run when a run succeeds.
    public let onSuccess: [HandlerSpec]
    /// The file it came from, as the user named it.
    public let file: String
    /// The directory that relative paths resolve against (the file's directory, absolute).
    public let baseDirectory: String
    /// The file's exact bytes, kept so a run records what it ran.
    public let source: String
    /// Included template files, by absolute path, with their exact bytes.
    public let includedSources: [(file: String, source: String)]
    /// Where the `dag:` value is written.
    public let nameMark: SourceMark

    /// Creates a DAG model.
    public init(
        name: String, description: String? = nil, owner: String? = nil, tags: [Tag] = [], schedule: Schedule? = nil,
        timezone: String? = nil, catchup: Bool = false, maxActiveRuns: Int = 1, scopes: [ParamScope] = [],
        steps: [StepSpec], onFailure: [HandlerSpec] = [], onSuccess: [HandlerSpec] = [], file: String,
        baseDirectory: String, source: String, includedSources: [(file: String, source: String)] = [],
        nameMark: SourceMark = SourceMark(line: 1, column: 1)
    ) {
        self.nameMark = nameMark
        self.name = name
        self.description = description
        self.owner = owner
        self.tags = tags
        self.schedule = schedule
        self.timezone = timezone
        self.catchup = catchup
        self.maxActiveRuns = maxActiveRuns
        self.scopes = scopes.isEmpty ? [ParamScope(params: [], bindings: [:], file: file, prefix: nil)] : scopes
        self.steps = steps
        self.onFailure = onFailure
        self.onSuccess = onSuccess
        self.file = file
        self.baseDirectory = baseDirectory
        self.source = source
        self.includedSources = includedSources
    }

    /// The DAG's own parameters.
    public var params: [ParamSpec] { scopes[0].params }
}
