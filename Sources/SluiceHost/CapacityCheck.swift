import SluiceModel
import SluiceSpec

/// Checks that every step of a DAG fits on the host at all; `validate` and `plan` report what does not.
public enum CapacityCheck {
    /// One diagnostic per resource a step asks for beyond the host's capacity.
    public static func check(_ spec: DAGSpec, capacity: HostCapacity, config: HostConfig) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        for step in spec.steps where step.executor == .local {
            let request = StepRequest(step.resources, defaults: config.defaultResources)
            func report(_ key: String, asked: String, has: String) {
                let mark = step.resources.marks[key] ?? step.mark
                let origin =
                    capacity.sources[key] == "detected"
                    ? "detected; set capacity.\(key) in \(HostConfig.fileName) if that is wrong"
                    : "from \(capacity.sources[key] ?? HostConfig.fileName)"
                diagnostics.append(
                    Diagnostic(
                        file: step.file, mark: mark, path: "steps.\(step.id).resources.\(key)",
                        message:
                            "step \(step.id) asks for \(asked), but this host has \(has) (\(origin)); it could never start",
                        code: "over-capacity"))
            }
            if request.millicores > Int((capacity.cpus * 1000).rounded(.down)) {
                report(
                    "cpus", asked: "\(Units.formatNumber(request.cpus)) cpus",
                    has: "\(Units.formatNumber(capacity.cpus))")
            }
            if request.memoryBytes > capacity.memoryBytes {
                report(
                    "memory", asked: Units.formatBytes(request.memoryBytes) + " of memory",
                    has: Units.formatBytes(capacity.memoryBytes))
            }
            if request.gpus > capacity.gpus {
                report("gpus", asked: request.gpus == 1 ? "1 GPU" : "\(request.gpus) GPUs", has: "\(capacity.gpus)")
            }
        }
        return diagnostics
    }
}
