import Foundation
import SluiceBasics
import SluiceExecutor
import SluiceModel
import SluiceTestSupport
import Testing

/// Real cgroups on this host (v1 here; v2 where it is delegated). These need root and a writable hierarchy.
@Suite("Limits enforced with the host's real cgroups", .serialized)
struct HostCgroupTests {
    private let base = "/tmp/sluice-cgroup-test-\(getpid())-\(UUID().uuidString)"
    private let marker = UUID().uuidString

    private func control() throws -> ResourceControl {
        let control = ResourceControl.setUp(mode: .auto, parent: "sluice-test")
        try #require(control.backend != nil, "no writable cgroup on this host: \(control.fallbackReason ?? "")")
        return control
    }

    private func launch(_ script: String, limits: AttemptLimits, name: String = "1") throws -> AttemptLaunch {
        try FileSystem.makeDirectory(base)
        var launch = AttemptLaunch(
            argv: ["/bin/sh", "-c", script], viaShell: true,
            environment: ["PATH=/usr/bin:/bin", "SLUICE_TEST_MARK=\(marker)"], workdir: "/tmp",
            logDirectory: try SecureDirectory.open(base), logName: name, cgroupName: "test")
        launch.limits = limits
        return launch
    }

    private func marked() -> [pid_t] { ProcessScan.withEnvironment("SLUICE_TEST_MARK=\(marker)") }

    @Test func aMemoryHogIsOOMKilledWithItsPeakRecorded() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = LocalExecutor(control: try control())
        let limits = AttemptLimits(memoryBytes: 64 << 20, memoryRequested: true)
        let l = try launch("python3 -c 'x = []\nwhile True: x.append(bytearray(8 << 20))'", limits: limits)
        let exit = try executor.runToEnd(l)
        let ending = AttemptOutcome.ending(step: "hog", exit: exit, limits: limits, viaShell: true)
        #expect(ending.state == .oomKilled)
        #expect(exit.usage?.oomKills ?? 0 > 0)
        #expect((exit.usage?.peakMemoryBytes ?? 0) >= 60 << 20)
        #expect((exit.usage?.peakMemoryBytes ?? .max) <= 64 << 20)
        #expect(
            ending.message
                == "step hog was killed: out of memory (limit 64.0 MiB, peak \(Units.formatBytes(exit.usage!.peakMemoryBytes!))). Raise resources.memory (e.g. 128Mi) or use less memory."
        )
        #expect(ending.usageSource == "cgroup")
    }

    @Test func halfACPUIsHalfACore() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = LocalExecutor(control: try control())
        let limits = AttemptLimits(cpus: 0.5)
        let l = try launch("python3 -c 'import time\nt = time.time()\nwhile time.time() - t < 2: pass'", limits: limits)
        let exit = try executor.runToEnd(l)
        #expect(exit.status.succeeded)
        let cpu = (exit.usage?.userCPU ?? 0) + (exit.usage?.systemCPU ?? 0)
        let share = cpu / exit.wallSeconds
        #expect(share > 0.35 && share < 0.65, "used \(cpu) s of CPU in \(exit.wallSeconds) s")
    }

    @Test func aForkBombIsContainedByMaxProcesses() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = LocalExecutor(control: try control())
        let limits = AttemptLimits(maxProcesses: 20)
        // The shell stays (exec needs no fork), so the bomb is not cleaned up with it before reaching its limit.
        let l = try launch("bomb() { bomb | bomb & }; bomb; exec sleep 60", limits: limits)
        let running = try executor.start(l)
        let backend = try #require(executor.control.backend)
        let deadline = MonotonicClock.now() + 30
        var exit: AttemptExit?
        while backend.usage(running.cgroup!).pidsLimitHits == 0 && MonotonicClock.now() < deadline && exit == nil {
            // The bomb has not reached its limit yet.
            _ = Poller.wait(running.exitFD.map { [$0] } ?? [], timeout: 0.01)
            exit = executor.poll(running)
        }
        if exit == nil {
            // While the bomb is live, the machine still starts processes of its own.
            #expect(try LocalExecutor().runToEnd(launch("true", limits: AttemptLimits(), name: "2")).status.succeeded)
            executor.stop(running, now: true)
        }
        while exit == nil {
            _ = Poller.wait(running.exitFD.map { [$0] } ?? [], timeout: 0.05)
            exit = executor.poll(running)
        }
        let stderr = (try? String(contentsOfFile: l.stderrPath, encoding: .utf8)) ?? ""
        #expect((exit?.usage?.pidsLimitHits ?? 0) > 0, "\(String(describing: exit)), stderr: \(stderr)")
        #expect(marked().isEmpty)
        #expect(FileSystem.exists(running.cgroup!.directories[0]))  // removed by the next tidy, not the poll
        executor.tidy()
        #expect(!FileSystem.exists(running.cgroup!.directories[0]))
    }

    @Test func nothingAStepStartedSurvivesIt() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = LocalExecutor(control: try control())
        let l = try launch("sleep 1000 & setsid sleep 1000 & echo started", limits: AttemptLimits())
        let exit = try executor.runToEnd(l)
        #expect(exit.status.succeeded)
        #expect(try String(contentsOfFile: l.stdoutPath, encoding: .utf8) == "started\n")
        #expect(marked().isEmpty)
    }

    /// On v1 an ended attempt's clean cgroup is kept for the next attempt (making and removing one costs more
    /// than the step here): the next attempt gets it with its own limits, and reports only what it used itself.
    /// A cgroup with an OOM kill on record is not reused.
    @Test func aReusedCgroupHasItsNewLimitsAndCountsOnlyItsOwnAttempt() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = LocalExecutor(control: try control())
        let backend = try #require(executor.control.backend)
        /// Runs an attempt to its end and tidies; its cgroup, and the inode of its first directory (which stays
        /// the same through a rename: a reused cgroup is renamed for the attempt it holds).
        func run(_ script: String, _ limits: AttemptLimits, _ name: String) throws -> (
            AttemptExit, AttemptCgroup, UInt64
        ) {
            let running = try executor.start(try launch(script, limits: limits, name: name))
            while true {
                if let exit = executor.poll(running) {
                    let cgroup = try #require(running.cgroup)
                    var info = stat()
                    #expect(stat(cgroup.directories[0], &info) == 0)
                    executor.tidy()
                    return (exit, cgroup, UInt64(info.st_ino))
                }
                _ = Poller.wait(running.waitFD.map { [$0] } ?? [], timeout: running.waitFD == nil ? 0.05 : nil)
            }
        }
        // About 40 MiB held and a fraction of a second of CPU burnt, by shell builtins alone: no file is read
        // that could stay charged to the cgroup as page cache, so it is reused.
        let hog = "x=$(printf '%40000000s' ''); i=0; while [ $i -lt 100000 ]; do i=$((i + 1)); done"
        let (first, firstCgroup, firstInode) = try run(hog, AttemptLimits(cpus: 2, memoryBytes: 256 << 20), "1")
        #expect(first.status.succeeded)
        #expect((first.usage?.peakMemoryBytes ?? 0) > 30 << 20 && (first.usage?.userCPU ?? 0) > 0.05)
        let memoryLimit = { (cgroup: AttemptCgroup) -> Int64? in
            cgroup.directories.first { $0.contains("/memory/") }.flatMap {
                Int64((HostCgroupFiles().read($0 + "/memory.limit_in_bytes") ?? "").filter(\.isNumber))
            }
        }
        // Short steps after it: a cgroup is reused when the attempt before it left at most 1 MiB charged (page
        // cache), which a short step does; each reused one reports only its own attempt, under its own limits.
        var seen = [firstInode]
        var names = [firstCgroup.name]
        var reused = 0
        for i in 2...6 {
            let (exit, cgroup, inode) = try run("true", AttemptLimits(), String(i))
            #expect(exit.status.succeeded)
            #expect(!names.contains(cgroup.name), "a reused cgroup keeps an earlier attempt's name")
            names.append(cgroup.name)
            if seen.contains(inode) {
                reused += 1
                #expect(
                    (exit.usage?.peakMemoryBytes ?? .max) <= 2 << 20,
                    "an earlier peak: \(String(describing: exit.usage))")
                #expect((exit.usage?.userCPU ?? 1) + (exit.usage?.systemCPU ?? 1) < 0.1, "an earlier attempt's CPU")
                if backend.version == .v1 { #expect((memoryLimit(cgroup) ?? 0) > 1 << 40, "still limited") }
            }
            seen.append(inode)
        }
        if backend.version == .v1 {
            #expect(seen[1] == firstInode, "the first attempt's clean cgroup was not reused")
            #expect(reused > 0, "no cgroup was reused in five short steps")
        } else {
            #expect(reused == 0, "a v2 cgroup is never reused")
        }
        // An attempt OOM-killed (under the lower limit, in a reused cgroup or a fresh one): its cgroup is removed.
        let (killed, killedCgroup, _) = try run(
            "python3 -c 'x = []\nwhile True: x.append(bytearray(8 << 20))'", AttemptLimits(memoryBytes: 64 << 20), "7")
        #expect((killed.usage?.oomKills ?? 0) > 0)
        #expect(!killedCgroup.directories.contains(where: FileSystem.exists), "an OOM-killed attempt's cgroup stayed")
        // One that leaves more than 1 MiB charged (the page cache of a file it wrote) is removed too.
        let (_, cached, _) = try run("head -c 4194304 /dev/zero > \(base)/cache.dat", AttemptLimits(), "8")
        #expect(!cached.directories.contains(where: FileSystem.exists), "a cgroup holding page cache stayed")
        let (_, last, _) = try run("true", AttemptLimits(), "9")
        executor.drain()
        #expect(!last.directories.contains(where: FileSystem.exists), "drain leaves what it kept")
    }

    /// An engine killed before it removed its attempts' cgroups leaves them behind, empty; the next engine
    /// removes those of its database whose creator is gone and whose run has ended, and nothing else: not one
    /// whose creator still runs, nor one of a run still going, nor one with a process in it, nor one of another
    /// database (run ids repeat across databases), nor a cgroup of another name.
    @Test func emptyCgroupsOfGoneEnginesAreRemovedForEndedRunsOnly() throws {
        let control = ResourceControl.setUp(mode: .auto, parent: "sluice-sweep-\(getpid())")
        let backend = try #require(control.backend, "no writable cgroup: \(control.fallbackReason ?? "")")
        defer { for directory in backend.parentDirectories.reversed() { rmdir(directory) } }
        let gone = try ChildProcess.spawn(
            SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: [], workdir: "/"))
        _ = gone.wait()  // its pid no longer runs
        let sleeper = try ChildProcess.spawn(
            SpawnRequest(executable: "/bin/sleep", arguments: ["sleep", "60"], environment: [], workdir: "/"))
        let removable = "run7-a-b.1-0123abcd-\(gone.pid)-1"  // a step key may hold dashes
        let kept = [
            "run7-b.1-0123abcd-\(sleeper.pid)-2",  // its creator runs
            "run8-c.1-0123abcd-\(gone.pid)-3",  // its run has not ended
            "run7-d.1-0123abcd-\(gone.pid)-4",  // a process is in it
            "run7-e.1-99999999-\(gone.pid)-5",  // another database's run 7
            "someone-else",
        ]
        var made: [String: AttemptCgroup] = [:]
        for name in [removable] + kept { made[name] = try backend.create(name: name, limits: CgroupLimits()) }
        defer {
            kill(sleeper.pid, SIGKILL)
            _ = sleeper.wait()
            for cgroup in made.values { try? backend.remove(cgroup) }
        }
        for file in backend.procsFiles(made["run7-d.1-0123abcd-\(gone.pid)-4"]!) {
            try HostCgroupFiles().write(file, String(sleeper.pid))
        }
        var asked: [Int64] = []
        let removed = LocalExecutor(control: control).removeLeftoverCgroups(tag: "0123abcd") { ids in
            asked = ids
            return [7]
        }
        #expect(asked == [7, 8], "the runs of the orphans, each once")
        #expect(removed == 1)
        #expect(made[removable]!.directories.allSatisfy { !FileSystem.exists($0) })
        for name in kept { #expect(made[name]!.directories.allSatisfy(FileSystem.exists), "\(name) was removed") }
    }
}
