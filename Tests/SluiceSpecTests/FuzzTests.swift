import Foundation
import SluiceSpec
import Testing

/// A small deterministic generator, so a failure reproduces from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Fuzzing the parser: every input gets a DAG or diagnostics")
struct FuzzTests {
    /// Parses bytes and checks the only two allowed answers: a DAG, or diagnostics with real positions.
    static func outcome(_ bytes: [UInt8]) -> String {
        do {
            _ = try SpecLoader.parse(bytes: bytes, file: "fuzz.yaml", baseDirectory: Fixtures.root + "/valid")
            return "valid"
        } catch let error as SpecError {
            #expect(!error.diagnostics.isEmpty)
            for diagnostic in error.diagnostics { #expect(diagnostic.line >= 1 && diagnostic.column >= 1) }
            return "invalid"
        } catch {
            Issue.record("unexpected error type: \(error)")
            return "error"
        }
    }

    static let fragments = [
        "${{", "}}", "${{ params.x }}", "[", "]", "{", "}", ": ", "- ", "&a ", "*a", "<<: ", "\n  ", "\n", "\t", "'",
        "\"",
        "#", "---\n", "!!str ", "~", "foreach: ", "needs: [", "when: ", "0 3 * * MON", "4Gi", "30s", "\u{0}", "\u{FF}",
    ]

    @Test func mutatedFixturesNeverCrash() throws {
        var rng = SplitMix64(state: 0x5EED)
        let seeds = try (Fixtures.files("valid") + Fixtures.files("invalid")).map {
            Array(try Data(contentsOf: URL(fileURLWithPath: $0)))
        }
        var counts: [String: Int] = [:]
        for _ in 0..<4000 {
            var bytes = seeds.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: if !bytes.isEmpty { bytes.remove(at: at) }
                case 1: bytes.insert(contentsOf: Array(Self.fragments.randomElement(using: &rng)!.utf8), at: at)
                case 2: if !bytes.isEmpty { bytes[at] = UInt8.random(in: 0...255, using: &rng) }
                default:
                    let end = min(bytes.count, at + Int.random(in: 1...40, using: &rng))
                    bytes.insert(contentsOf: bytes[at..<end], at: at)
                }
            }
            counts[Self.outcome(bytes), default: 0] += 1
        }
        #expect(counts["error"] == nil)
        #expect((counts["invalid"] ?? 0) > 0 && (counts["valid"] ?? 0) > 0, "\(counts)")
    }

    @Test func randomBytesNeverCrash() {
        var rng = SplitMix64(state: 42)
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(Self.outcome(bytes) == "invalid")
        }
    }

    @Test func pathologicalInputsAreRefusedCleanly() {
        let deep = Array(("dag: d\nsteps: " + String(repeating: "[", count: 100_000)).utf8)
        #expect(Self.outcome(deep) == "invalid")
        let huge = Array(("dag: d\nsteps:\n  a: {command: \"" + String(repeating: "x", count: 2 << 20) + "\"}\n").utf8)
        #expect(Self.outcome(huge) == "invalid")
        var laughs = "dag: d\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 {
            laughs += "l\(i): &l\(i) [" + Array(repeating: "*l\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        #expect(Self.outcome(Array((laughs + "steps:\n  a: {command: x}\n").utf8)) == "invalid")
        #expect(Self.outcome([0xFF, 0xFE, 0x00, 0x01]) == "invalid")
        let deepMapping = Array(
            ("dag: d\n" + (0..<500).map { String(repeating: " ", count: $0) + "k\($0):\n" }.joined()).utf8)
        #expect(Self.outcome(deepMapping) == "invalid")
    }
}
