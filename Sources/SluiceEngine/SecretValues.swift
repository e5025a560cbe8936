import Foundation
import SluiceBasics
import SluiceSpec

/// Reads the secret values of a step's or handler's environment when it starts, and nowhere else.
enum SecretValues {
    /// The most bytes a `from_file` secret may hold.
    static let fileLimit = 64 << 10

    /// The environment's values with secrets read, and the secret values (to mask in logs).
    static func resolve(_ env: [EnvVar], environment: [String: String], owner: String) throws(PlanError) -> (
        values: [(String, String)], secrets: [String]
    ) {
        var values: [(String, String)] = []
        var secrets: [String] = []
        var problems: [String] = []
        for variable in env {
            switch variable.secret {
            case nil: values.append((variable.name, variable.value))
            case .environment(let name)?:
                guard let value = environment[name] else {
                    problems.append(
                        "\(owner).env.\(variable.name) takes its value from_env \(name), but sluice's environment has no \(name)"
                    )
                    continue
                }
                values.append((variable.name, value))
                secrets.append(value)
            case .file(let path)?:
                do {
                    var text = String(decoding: try FileSystem.readBytes(path, limit: fileLimit), as: UTF8.self)
                    if text.hasSuffix("\n") { text.removeLast() }
                    values.append((variable.name, text))
                    secrets.append(text)
                } catch is FileTooLarge {
                    problems.append(
                        "\(owner).env.\(variable.name): its secret file \(path) is larger than \(fileLimit >> 10) KiB")
                } catch {
                    problems.append("\(owner).env.\(variable.name): cannot read its secret file: \(error)")
                }
            }
        }
        if !problems.isEmpty { throw PlanError(problems) }
        return (values, secrets)
    }
}
