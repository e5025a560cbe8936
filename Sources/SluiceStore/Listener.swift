import Foundation

/// A connection of its own that LISTENs for the engines' wake-ups: new runs, cancels, freed capacity.
///
/// Notifications sent while it was disconnected are lost, so a reconnection is reported: the caller then
/// looks at the database itself once (a full pass) instead of trusting that nothing happened.
public final class Listener: @unchecked Sendable {
    private let store: Store
    private let channels: [String]
    private var connection: PGConnection?
    private var lastResets = 0

    /// A listener on `channels`; it connects on first use.
    public init(store: Store, channels: [String]) {
        self.store = store
        self.channels = channels
    }

    /// The socket to wait on; nil while disconnected.
    public var descriptor: Int32? { connection?.socketDescriptor }

    /// What arrived; `resynced` is true when the listener had to (re)connect, so something may have been missed.
    public func drain() -> (notifications: [(channel: String, payload: String)], resynced: Bool) {
        if connection == nil || connection!.resets != lastResets {
            guard connect() else { return ([], false) }
            return ((try? connection?.notifications()) ?? [], true)
        }
        do {
            return (try connection!.notifications(), false)
        } catch {
            connection = nil
            guard connect() else { return ([], false) }
            return ([], true)
        }
    }

    /// Closes the connection.
    public func close() { connection = nil }

    private func connect() -> Bool {
        do {
            let fresh = try store.openConnection()
            for channel in channels {
                try fresh.withSession { session in try session.script("LISTEN \(channel)") }
            }
            connection = fresh
            lastResets = fresh.resets
            return true
        } catch {
            connection = nil
            return false
        }
    }
}
