import Foundation
import SluiceModel

/// What makes two attempts of a step equivalent for caching: the resolved step (command, environment,
/// working directory, resources, params, executor), the code version, and the exact input versions.
/// Its SHA-256 over a canonical JSON encoding (sorted keys) is the fingerprint.
public struct StepFingerprint: Sendable, Codable, Equatable {
    /// The command as run (argv, or the shell text as one element).
    public let command: [String]
    /// The environment the step set (`NAME=value`, sorted), secrets included: only their hash is kept.
    public let env: [String]
    /// The working directory.
    public let workdir: String
    /// Resources and the executor, as text (`cpus=2`, `executor=local`, …), sorted.
    public let resources: [String]
    /// The run's params (`name=value`), sorted.
    public let params: [String]
    /// The code version: the DAG version's hash, the git commit and the hash of uncommitted changes.
    public let code: CodeVersion
    /// The inputs, as `name@version`, sorted.
    public let inputs: [String]

    /// Creates the fingerprint's content; lists are sorted here.
    public init(
        command: [String], env: [String], workdir: String, resources: [String], params: [String], code: CodeVersion,
        inputs: [DataVersion]
    ) {
        self.command = command
        self.env = env.sorted()
        self.workdir = workdir
        self.resources = resources.sorted()
        self.params = params.sorted()
        self.code = code
        self.inputs = inputs.map(\.label).sorted()
    }

    /// The hex SHA-256 of the canonical encoding.
    public var hash: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data()
        return FileHasher.sha256(Array(data))
    }
}
