import Foundation
import SluiceBasics
import SluiceEngine
import SluiceExecutor
import SluiceSpec
import SluiceStore
import SluiceTestSupport
import Testing

/// An engine killed before it removed its attempts' cgroups (their removal waits until the next step has
/// started) leaves them behind, empty; the next engine on the same database removes those of ended runs.
@Suite("Cgroups that killed engines left behind", .serialized)
struct LeftoverCgroupTests {
    @Test func theNextEngineRemovesTheEmptyCgroupsOfEndedRunsAndNothingElse() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let control = ResourceControl.setUp(mode: .auto, parent: "sluice-leftover-\(getpid())")
        let backend = try #require(control.backend, "no writable cgroup: \(control.fallbackReason ?? "")")
        defer { for directory in backend.parentDirectories.reversed() { rmdir(directory) } }
        let store = try TestDatabase.freshStore()
        let options = RunOptions(logRoot: dir.path + "/logs")
        let file = try dir.write("dags/one.yaml", "dag: one\nsteps:\n  s: {command: [\"true\"]}\n")
        let plan = try Planner.plan(try SpecLoader.load(path: file), logicalDate: "2026-11-24")
        func driver() throws -> RunDriver {
            try RunDriver(
                store: store, executor: LocalExecutor(control: control), observer: RecordingObserver(),
                options: options)
        }
        let first = try driver().run(plan)
        #expect(first.state == .succeeded)
        let tag = try #require(try LineageRecords(store: store).cgroupTag())
        // What a killed engine of that run would have left; one of a run this database does not have; and one of
        // another database's run of the same id.
        let gone = try ChildProcess.spawn(
            SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: [], workdir: "/"))
        _ = gone.wait()
        let left = try backend.create(name: "run\(first.runID)-s.1-\(tag)-\(gone.pid)-1", limits: CgroupLimits())
        let unknown = try backend.create(
            name: "run\(first.runID + 1000)-s.1-\(tag)-\(gone.pid)-2", limits: CgroupLimits())
        let foreign = try backend.create(
            name: "run\(first.runID)-s.1-\(tag == "00000000" ? "11111111" : "00000000")-\(gone.pid)-3",
            limits: CgroupLimits())
        defer {
            for cgroup in [left, unknown, foreign] { try? backend.remove(cgroup) }
        }
        var second: RunDriver? = try driver()
        #expect(left.directories.allSatisfy { !FileSystem.exists($0) }, "the ended run's cgroup stayed")
        #expect(unknown.directories.allSatisfy(FileSystem.exists), "the cgroup of a run not in the database went")
        #expect(foreign.directories.allSatisfy(FileSystem.exists), "another database's cgroup was removed")
        // One left while an engine runs (a run of it ended meanwhile) goes when that engine ends.
        let later = try backend.create(name: "run\(first.runID)-s.1-\(tag)-\(gone.pid)-4", limits: CgroupLimits())
        defer { try? backend.remove(later) }
        #expect(later.directories.allSatisfy(FileSystem.exists))
        second = nil
        #expect(second == nil && later.directories.allSatisfy { !FileSystem.exists($0) }, "stayed past the end")
        // The run's own attempt left nothing either.
        for parent in backend.parentDirectories {
            #expect(Set(HostCgroupFiles().subdirectories(parent)) == [unknown.name, foreign.name])
        }
    }
}
