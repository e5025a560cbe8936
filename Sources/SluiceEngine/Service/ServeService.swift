import Foundation
import Logging
import ServiceLifecycle

/// The scheduler service as a swift-service-lifecycle `Service`: its loop runs on a thread of its own (it
/// waits in poll(2) on its processes and the database), and a graceful shutdown (SIGTERM, SIGINT) stops
/// it from admitting anything new. Running steps are never killed by a shutdown.
public struct ServeService: Service {
    private let service: SchedulerService

    /// Wraps `service`.
    public init(_ service: SchedulerService) { self.service = service }

    /// Runs until the loop ends (`--once`) or a graceful shutdown stops it.
    public func run() async throws {
        let service = self.service
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread {
                    do {
                        try service.run()
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "sluice-serve"
                thread.start()
            }
        } onGracefulShutdown: {
            service.shutdown()
        }
    }
}
