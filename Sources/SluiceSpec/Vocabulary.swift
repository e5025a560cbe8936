/// One key of the DAG language: its name and a one-line meaning, shared by the validator, the schema and the docs test.
public struct KeyDoc: Sendable {
    /// The key.
    public let name: String
    /// What it means, in one line.
    public let summary: String
}

/// Every mapping of the language and the keys it accepts. The validator refuses anything else.
public enum Vocabulary {
    /// Top-level keys of a DAG file.
    public static let dag: [KeyDoc] = [
        KeyDoc(name: "dag", summary: "The DAG's id: [a-z][a-z0-9_-]*, unique across the DAG folder."),
        KeyDoc(name: "description", summary: "Free text."),
        KeyDoc(name: "owner", summary: "Who is told about failures (free text, usually an e-mail address)."),
        KeyDoc(name: "tags", summary: "Cost and ownership tags, inherited by every step."),
        KeyDoc(
            name: "schedule", summary: "When the service starts runs: 5-field cron or @hourly/@daily/@weekly/@monthly."),
        KeyDoc(name: "timezone", summary: "The tz database zone the schedule is read in (default UTC)."),
        KeyDoc(name: "catchup", summary: "After a pause, run every missed interval (true) or only the latest (false)."),
        KeyDoc(name: "cache", summary: "false: never skip a step whose code and inputs did not change."),
        KeyDoc(name: "max_active_runs", summary: "Most runs of this DAG at once."),
        KeyDoc(name: "params", summary: "Typed parameters, overridable with --param name=value."),
        KeyDoc(name: "defaults", summary: "Step keys applied to every step unless the step sets them."),
        KeyDoc(name: "include", summary: "Template files whose steps are added, with their parameters bound."),
        KeyDoc(name: "steps", summary: "An ordered map of step id to step."),
        KeyDoc(name: "on_failure", summary: "Commands run when a run fails."),
        KeyDoc(name: "on_success", summary: "Commands run when a run succeeds."),
        KeyDoc(
            name: "executor", summary: "The executor of every step that does not set its own: local (default) or slurm."
        ),
    ]

    /// Top-level keys of a template file.
    public static let template: [KeyDoc] = [
        KeyDoc(name: "template", summary: "The template's name: [a-z][a-z0-9_-]*."),
        KeyDoc(name: "description", summary: "Free text."),
        KeyDoc(name: "params", summary: "The parameters an include binds."),
        KeyDoc(name: "steps", summary: "The steps the template adds."),
    ]

    /// Keys of a step.
    public static let step: [KeyDoc] = [
        KeyDoc(name: "command", summary: "A string run by /bin/sh -c, or a list exec'd directly."),
        KeyDoc(name: "needs", summary: "Step ids that must finish first."),
        KeyDoc(name: "description", summary: "Free text."),
        KeyDoc(name: "kind", summary: "feature, training, scoring or other: groups steps in reports."),
        KeyDoc(name: "when", summary: "Run only if this condition holds; otherwise the step is skipped."),
        KeyDoc(name: "foreach", summary: "A list (or list parameter) to fan out over: one instance per item."),
        KeyDoc(name: "env", summary: "Extra environment variables."),
        KeyDoc(name: "workdir", summary: "Working directory, relative to the DAG file."),
        KeyDoc(name: "retries", summary: "How failed attempts are retried."),
        KeyDoc(name: "timeout", summary: "Wall-clock limit of one attempt."),
        KeyDoc(name: "cache", summary: "false: run it every time, even when its code and inputs did not change."),
        KeyDoc(name: "resources", summary: "CPU, memory, GPUs, processes and open files: requested and enforced."),
        KeyDoc(name: "inputs", summary: "Datasets the step reads."),
        KeyDoc(name: "outputs", summary: "Datasets the step writes."),
        KeyDoc(name: "tags", summary: "Tags added to (or overriding) the DAG's."),
        KeyDoc(name: "executor", summary: "local (default) or slurm."),
    ]

    /// Keys allowed under `defaults`.
    public static let defaults: [KeyDoc] = step.filter {
        ["env", "workdir", "retries", "timeout", "resources", "executor", "kind", "tags"].contains($0.name)
    }

    /// Keys of one parameter.
    public static let param: [KeyDoc] = [
        KeyDoc(name: "type", summary: "string, int, float, bool, date, path or list."),
        KeyDoc(name: "default", summary: "The value when none is given; without it the parameter must be given."),
        KeyDoc(name: "enum", summary: "The only values allowed."),
        KeyDoc(name: "min", summary: "The smallest value allowed (int, float, date)."),
        KeyDoc(name: "max", summary: "The largest value allowed (int, float, date)."),
        KeyDoc(name: "description", summary: "Free text, shown by sluice plan."),
    ]

    /// Keys of `resources`.
    public static let resources: [KeyDoc] = [
        KeyDoc(name: "cpus", summary: "CPU cores, fractional (0.5 is half a core)."),
        KeyDoc(name: "memory", summary: "Memory with a unit: Ki, Mi, Gi, Ti (binary) or K, M, G, T (decimal)."),
        KeyDoc(name: "gpus", summary: "Whole GPUs."),
        KeyDoc(name: "max_processes", summary: "Most processes and threads at once."),
        KeyDoc(name: "max_open_files", summary: "Most open files."),
    ]

    /// Keys of `retries`.
    public static let retries: [KeyDoc] = [
        KeyDoc(name: "attempts", summary: "Total attempts, the first included (1 = no retry)."),
        KeyDoc(name: "backoff", summary: "Wait before the first retry; doubled for each further one, with jitter."),
        KeyDoc(name: "max_backoff", summary: "The longest wait between attempts."),
        KeyDoc(
            name: "on",
            summary: "Outcomes that are retried: exit, exit:<code>, killed, oom_killed, timed_out, failed_to_start."),
    ]

    /// Keys of one `include` entry.
    public static let include: [KeyDoc] = [
        KeyDoc(name: "file", summary: "The template file, relative to the DAG file."),
        KeyDoc(name: "as", summary: "A prefix for the template's step ids: step x becomes <as>.x."),
        KeyDoc(name: "params", summary: "Values for the template's parameters."),
    ]

    /// Keys of one `inputs`/`outputs` entry written as a mapping.
    public static let data: [KeyDoc] = [
        KeyDoc(name: "path", summary: "A local path, relative to the step's workdir."),
        KeyDoc(name: "uri", summary: "A URI such as warehouse://marts/churn_scores."),
        KeyDoc(name: "dataset", summary: "A stable name for lineage queries."),
        KeyDoc(name: "version", summary: "content (paths), mtime (paths) or from_step."),
    ]

    /// Keys of a secret environment value (exactly one of them).
    public static let secret: [KeyDoc] = [
        KeyDoc(
            name: "from_env", summary: "The value of this variable in Sluice's own environment, read at each start."),
        KeyDoc(
            name: "from_file",
            summary:
                "The content of this file (relative to the DAG file), read at each start; one final newline is dropped."
        ),
    ]

    /// Keys of one `on_failure`/`on_success` handler.
    public static let handler: [KeyDoc] = [
        KeyDoc(name: "command", summary: "A string run by /bin/sh -c, or a list exec'd directly."),
        KeyDoc(name: "env", summary: "Extra environment variables."),
        KeyDoc(name: "workdir", summary: "Working directory, relative to the DAG file."),
        KeyDoc(name: "timeout", summary: "Wall-clock limit of the handler (default 5m)."),
    ]

    /// The names of some keys.
    static func names(_ keys: [KeyDoc]) -> [String] { keys.map(\.name) }
}
