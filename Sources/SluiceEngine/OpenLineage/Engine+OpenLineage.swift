import Foundation
import SluiceBasics
import SluiceModel
import SluiceStore

extension Engine {
    /// The OpenLineage id of a run of this database.
    func openLineageRunID(_ runID: Int64) -> String { OpenLineageEvent.uuid("\(installation)/run/\(runID)") }

    /// Emits a DAG run's event (`START`, or its end: `COMPLETE`, `FAIL`, `ABORT`) when a sink is configured.
    func emitRunEvent(_ type: String, handle: RunHandle, message: String? = nil) {
        guard let emitter = openLineage else { return }
        let namespace = emitter.config.namespace
        var facets = OpenLineageEvent.RunFacets()
        if let message { facets.errorMessage = OpenLineageEvent.ErrorFacet(message: message) }
        emitter.emit(
            OpenLineageEvent(
                eventType: type, eventTime: RFC3339.string(Date()),
                run: OpenLineageEvent.Run(
                    runId: openLineageRunID(handle.runID), facets: facets.errorMessage == nil ? nil : facets),
                job: OpenLineageEvent.Job(
                    namespace: namespace, name: handle.plan.spec.name,
                    facets: OpenLineageEvent.JobFacets(jobType: OpenLineageEvent.JobTypeFacet(jobType: "DAG"))),
                inputs: [], outputs: []))
    }

    /// Emits an attempt's event, a child of its DAG run (the parent run facet), with its data and versions.
    func emitAttemptEvent(
        _ type: String, handle: RunHandle, index: Int, attemptID: Int64, inputs: [DataVersion], outputs: [DataVersion],
        message: String? = nil
    ) {
        guard let emitter = openLineage else { return }
        let namespace = emitter.config.namespace
        var facets = OpenLineageEvent.RunFacets()
        facets.parent = OpenLineageEvent.ParentFacet(
            run: .init(runId: openLineageRunID(handle.runID)),
            job: .init(namespace: namespace, name: handle.plan.spec.name))
        if let message { facets.errorMessage = OpenLineageEvent.ErrorFacet(message: message) }
        emitter.emit(
            OpenLineageEvent(
                eventType: type, eventTime: RFC3339.string(Date()),
                run: OpenLineageEvent.Run(
                    runId: OpenLineageEvent.uuid("\(installation)/attempt/\(attemptID)"), facets: facets),
                job: OpenLineageEvent.Job(
                    namespace: namespace, name: "\(handle.plan.spec.name).\(handle.keys[index])",
                    facets: OpenLineageEvent.JobFacets(jobType: OpenLineageEvent.JobTypeFacet(jobType: "TASK"))),
                inputs: inputs.map { OpenLineageEvent.dataset($0, namespace: namespace) },
                outputs: outputs.map { OpenLineageEvent.dataset($0, namespace: namespace) }))
    }

    /// The OpenLineage event type for how a run or an attempt ended.
    static func openLineageEnd(succeeded: Bool, cancelled: Bool) -> String {
        succeeded ? "COMPLETE" : (cancelled ? "ABORT" : "FAIL")
    }
}
