import CSpawn
import Foundation
import SluiceBasics
import Synchronization

/// One `sluice-shim --spawner` per executor: it forks a watcher for each attempt it is handed, so a step costs
/// one `fork` of a small C process instead of an `exec` (which, with the dynamic loader's start-up, is most
/// of what a watcher would otherwise cost a short step). Watchers it forks are the same `sluice-shim` code,
/// in sessions of their own; they outlive the spawner and the engine alike.
///
/// When no spawner can be started or reached, the executor starts a watcher directly, as before.
final class ShimSpawner: Sendable {
    private struct State {
        var socket: Int32 = -1
        var process: ChildProcess?
    }

    private let state = Mutex(State())

    init() {}

    deinit {
        state.withLock { Self.stop(&$0) }
    }

    /// Hands one attempt (its specification, and its descriptors: report pipe first) to the spawner; false
    /// when no spawner could take it, and then nothing was started.
    func hand(shim: String, specification: [UInt8], descriptors: [Int32]) -> Bool {
        state.withLock { state in
            for _ in 0..<2 {
                if state.socket < 0 && !Self.start(shim, &state) { return false }
                if Self.deliver(state.socket, specification, descriptors) { return true }
                Self.stop(&state)  // it is gone: one fresh spawner, one more try
            }
            return false
        }
    }

    private static func start(_ shim: String, _ state: inout State) -> Bool {
        var pair: [Int32] = [0, 0]
        guard sluice_socketpair_cloexec(&pair) == 0 else { return false }
        var request = SpawnRequest(
            executable: shim, arguments: ["sluice-shim", "--spawner"], environment: ["PATH=/usr/bin:/bin", "LC_ALL=C"],
            workdir: "/")
        request.stdin = pair[1]
        request.newSession = true
        do {
            state.process = try ChildProcess.spawn(request)
        } catch {
            close(pair[0])
            close(pair[1])
            return false
        }
        close(pair[1])
        state.socket = pair[0]
        return true
    }

    /// The header (specification length, descriptor count) and the specification, in one send that carries
    /// the descriptors with its first bytes.
    private static func deliver(_ socket: Int32, _ specification: [UInt8], _ descriptors: [Int32]) -> Bool {
        var message: [UInt8] = []
        for value in [UInt32(specification.count), UInt32(descriptors.count)] {
            withUnsafeBytes(of: value) { message += $0 }
        }
        message += specification
        return message.withUnsafeBytes { bytes in
            descriptors.withUnsafeBufferPointer { fds in
                sluice_send_with_fds(socket, bytes.baseAddress, bytes.count, fds.baseAddress, Int32(fds.count)) == 0
            }
        }
    }

    private static func stop(_ state: inout State) {
        if state.socket >= 0 { close(state.socket) }
        state.socket = -1
        if let process = state.process { _ = process.wait() }  // it exits at the end of its socket
        state.process = nil
    }
}
