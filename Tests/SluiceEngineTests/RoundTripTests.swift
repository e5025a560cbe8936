import Foundation
import SluiceEngine
import SluiceSpec
import SluiceStore
import SluiceTestSupport
import Testing

@Suite("What a step costs the database, counted exactly")
struct RoundTripTests {
    /// Round trips by statement on the engine's connection for a chain of `steps` trivial steps, heartbeats
    /// left out (they come with time, not with steps).
    private func roundTrips(chain steps: Int) throws -> (trips: [String: Int], scans: Int) {
        let dir = try TempDirectory()
        defer { dir.remove() }
        var yaml = "dag: chain\nsteps:\n  s1: {command: [\"true\"]}\n"
        for i in 2...steps { yaml += "  s\(i): {command: [\"true\"], needs: [s\(i - 1)]}\n" }
        let spec = try SpecLoader.load(path: try dir.write("dags/chain.yaml", yaml))
        let store = try TestDatabase.freshStore()
        let before = store.connection.roundTrips
        let result = try RunDriver(
            store: store, observer: RecordingObserver(), options: RunOptions(logRoot: dir.path + "/logs")
        ).run(spec)
        #expect(result.state == .succeeded)
        var counts: [String: Int] = [:]
        for (text, count) in store.connection.roundTrips where !text.contains("SET heartbeat_at") {
            let added = count - (before[text] ?? 0)
            if added > 0 { counts[text] = added }
        }
        _ = try store.connection.query("SELECT pg_stat_force_next_flush()")
        let scans = try store.connection.query(
            """
            SELECT coalesce(sum(seq_scan), 0) AS n FROM pg_stat_user_tables
            WHERE relname IN ('run', 'step_instance', 'attempt', 'event', 'cost_line', 'attempt_cost')
            """
        ).rows[0].int("n")
        return (counts, Int(scans ?? -1))
    }

    /// Each further step of a chain costs exactly three statements (its attempt begun, running, ended: the
    /// end also makes the next step ready, and the trigger that costs the attempt runs inside it) and no
    /// new kind of statement; a change that adds a round trip per step fails here.
    @Test func eachStepOfAChainCostsExactlyThreeStatements() throws {
        let (short, shortScans) = try roundTrips(chain: 10)
        let (long, longScans) = try roundTrips(chain: 30)
        // On a fresh database every table starts empty, and the per-step statements are planned once then:
        // none may scan a table whose rows grow with the run (a sequential scan there makes each step O(steps)).
        #expect(longScans == shortScans, "sequential scans: \(shortScans) for 10 steps, \(longScans) for 30")
        #expect(Set(long.keys) == Set(short.keys), "the same statements, whatever the length")
        var perStep: [String: Int] = [:]
        for (text, count) in long where count != short[text] {
            let extra = count - (short[text] ?? 0)
            #expect(extra % 20 == 0, "\(extra) more of: \(text.prefix(120))")
            perStep[String(text.prefix(80))] = extra / 20
        }
        #expect(perStep.values.reduce(0, +) == 3, "round trips per step: \(perStep)")
    }
}
