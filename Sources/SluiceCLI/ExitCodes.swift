/// The exit codes of every `sluice` command, as documented in the README.
public enum ExitCodes {
    /// Success.
    public static let success: Int32 = 0
    /// The subject failed: a run with failed steps; for `validate`, an invalid DAG.
    public static let failed: Int32 = 1
    /// The DAG or `--param` values given to `run` or `plan` are invalid; nothing ran.
    public static let invalidDAG: Int32 = 2
    /// An input file could not be read (missing, a directory, unreadable).
    public static let unreadable: Int32 = 3
    /// The database could not be reached or used.
    public static let database: Int32 = 4
    /// The run, step or attempt asked for does not exist.
    public static let notFound: Int32 = 5
    /// Bad command-line usage.
    public static let usage: Int32 = 64
    /// The run was interrupted (SIGINT/SIGTERM) and recorded as cancelled.
    public static let interrupted: Int32 = 130
}

/// An error the CLI reports as one readable line with a specific exit code.
public struct CLIFailure: Error, CustomStringConvertible {
    /// The message, printed after `sluice: `.
    public let description: String
    /// The exit code.
    public let exitCode: Int32

    /// Creates a failure.
    public init(_ message: String, exitCode: Int32) {
        description = message
        self.exitCode = exitCode
    }
}

/// A command that already printed what it had to say and only needs to exit with a code.
struct ExitWith: Error {
    let code: Int32
}
