import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceLineage
import SluiceModel
import SluiceSpec
import SluiceStore

/// What a step pins when an attempt of it starts.
struct StartPins {
    /// The fingerprint of the resolved step, its code version and its input versions.
    let fingerprint: String
    /// The versions of its inputs now.
    let inputs: [DataVersion]
}

extension Engine {
    /// The lineage of a run this engine launches steps of: its code version (the DAG version's hash, and the
    /// git commit of the repository holding the DAG file).
    func makeLineage(versionID: Int64, plan: RunPlan) throws -> RunLineage {
        let records = LineageRecords(store: store)
        let hash = try records.specHash(versionID: versionID) ?? ""
        let directory = (plan.spec.file as NSString).deletingLastPathComponent
        let code = CodeVersion.of(directory: directory.isEmpty ? "." : directory, dagHash: hash, hasher: FileHasher())
        return RunLineage(code: code, records: records, host: options.host, hasher: FileHasher())
    }

    /// The fingerprint and input versions of a step about to start; throws a message for the step's failure
    /// when an input cannot be versioned (it does not exist, say).
    func startPins(_ index: Int, of handle: RunHandle, launch: AttemptLaunch, lineage: RunLineage) throws -> StartPins {
        let step = handle.plan.steps[index]
        var inputs: [DataVersion] = []
        if !step.inputs.isEmpty {
            let resolved = try step.inputs.map {
                try RunLineage.resolve($0, workdir: launch.workdir, runtime: handle.runtime)
            }
            try lineage.cache.preload(resolved.compactMap(\.path))
            for data in resolved {
                let reported =
                    data.method == VersionSource.fromStep.rawValue
                    ? try lineage.records.latestVersion(kind: data.kind.rawValue, name: data.name) : nil
                do {
                    inputs.append(try lineage.versioner.version(of: data, reported: reported))
                } catch let error as DataVersionError {
                    throw LineageFailure(message: "step \(step.key) could not start: its input \(error.description)")
                }
            }
            try lineage.cache.save()
        }
        let request = handle.requests[index]
        let env = (try? step.resolve(handle.runtime).env) ?? []
        let fingerprint = StepFingerprint(
            command: launch.argv,
            env: env.map { variable in
                variable.secret.map { "\(variable.name)=secret:\($0)" } ?? "\(variable.name)=\(variable.value)"
            },
            workdir: launch.workdir,
            resources: [
                "cpus=\(request.cpus)", "memory=\(request.memoryBytes)", "gpus=\(request.gpus)",
                "max_processes=\(request.maxProcesses.map(String.init) ?? "-")", "executor=\(step.step.executor)",
            ],
            params: handle.plan.recordedParams.map { "\($0.key)=\($0.value)" }
                + (step.item.map { ["item=\($0)"] } ?? []),
            code: lineage.code, inputs: inputs)
        return StartPins(fingerprint: fingerprint.hash, inputs: inputs)
    }

    /// An earlier attempt this step can reuse instead of running: same fingerprint, its step succeeded, and
    /// every declared output is still there with the version it recorded (checked by stat alone).
    func reusableAttempt(
        _ index: Int, of handle: RunHandle, pins: StartPins, launch: AttemptLaunch, lineage: RunLineage
    )
        throws -> ReusableAttempt?
    {
        let step = handle.plan.steps[index]
        guard !step.outputs.isEmpty, step.step.cache, handle.plan.spec.cache, !options.force,
            !options.forceSteps.contains(step.step.id), !options.forceSteps.contains(step.key),
            let found = try lineage.records.reusable(fingerprint: pins.fingerprint)
        else { return nil }
        let declared = try step.outputs.map {
            try RunLineage.resolve($0, workdir: launch.workdir, runtime: handle.runtime)
        }
        try lineage.cache.preload(declared.compactMap(\.path))
        for data in declared {
            guard let recorded = found.outputVersions.first(where: { $0.kind == data.kind && $0.name == data.name })
            else { return nil }
            if recorded.method != VersionSource.fromStep.rawValue && !lineage.versioner.stillIs(recorded) { return nil }
        }
        return found
    }

    /// Settles a step as cached: points it at the attempt it reuses, then records it `cached`.
    func settleCached(_ index: Int, of handle: RunHandle, reused: ReusableAttempt) throws {
        let step = handle.plan.steps[index]
        try durably("the cache hit of step \(step.key)") {
            try LineageRecords(store: store).pointAt(
                reused: reused.attemptID, runID: handle.runID,
                stepID: handle.stepIDs[index])
        }
        let message =
            "cached: its code, parameters and inputs are those of attempt \(reused.attemptID) (run \(reused.runID), step \(reused.stepKey)), whose outputs are still there"
        try perform(handle.machine.settle(index, .cached(message)), on: handle)
        handle.remember(index, .cached, outputs: reused.outputs)
    }

    /// When an attempt ended: the versions of its outputs (a declared output that is missing fails a
    /// successful attempt), its inputs checked again, and its metrics; pinned once.
    @discardableResult
    func concludeLineage(_ index: Int, of handle: RunHandle, attemptID: Int64, ending: inout AttemptEnding) throws
        -> (inputs: [DataVersion], outputs: [DataVersion])
    {
        guard let lineage = handle.lineage else { return ([], []) }
        let step = handle.plan.steps[index]
        let reported = ending.outputs ?? [:]
        var metrics: [String: Double] = [:]
        for (key, value) in reported where key.hasPrefix("metric.") {
            if let number = Double(value.trimmingCharacters(in: .whitespaces)) {
                metrics[String(key.dropFirst(7))] = number
            }
        }
        let pinnedInputs = lineage.inputs.removeValue(forKey: index) ?? []
        // Most steps declare no data: they cost nothing here, not even resolving their templates again.
        guard !step.outputs.isEmpty || !pinnedInputs.isEmpty || !metrics.isEmpty,
            let workdir = try? step.resolve(handle.runtime).workdir
        else { return ([], []) }
        var outputs: [DataVersion] = []
        if ending.succeeded {
            var missing: [String] = []
            do {
                let declared = try step.outputs.map {
                    try RunLineage.resolve($0, workdir: workdir, runtime: handle.runtime)
                }
                try lineage.cache.preload(declared.compactMap(\.path))
                for data in declared {
                    let version = reported["version.\(data.dataset ?? data.name)"]
                    do {
                        outputs.append(try lineage.versioner.version(of: data, reported: version))
                    } catch let error as DataVersionError {
                        missing.append(error.description)
                    }
                }
            } catch let error as PlanError {
                missing.append(error.description)
            }
            if !missing.isEmpty {
                ending.incomplete = true
                ending.message =
                    "step \(step.key) exited 0, but a declared output is missing: \(missing.joined(separator: "; ")); it failed"
                outputs = []
            }
        }
        var changed: [DataVersion] = []
        for input in pinnedInputs where !lineage.versioner.stillIs(input) {
            let data = ResolvedData(
                path: input.path, uri: nil, dataset: input.kind == .dataset ? input.name : nil, method: input.method)
            let now = input.path == nil ? input : try? lineage.versioner.version(of: data)
            if now?.version != input.version { changed.append(input) }
        }
        try lineage.cache.save()
        try durably("the lineage of step \(step.key)") {
            try lineage.records.pinEnd(attemptID: attemptID, outputs: outputs, changedInputs: changed, metrics: metrics)
        }
        if !changed.isEmpty {
            ending.warnings.append(
                "its input changed while it ran: \(changed.map { $0.path ?? $0.name }.joined(separator: ", ")); its lineage is marked input_changed"
            )
        }
        return (pinnedInputs, outputs)
    }
}

/// Why a step cannot start, from its lineage (an input that cannot be versioned).
struct LineageFailure: Error {
    let message: String
}
