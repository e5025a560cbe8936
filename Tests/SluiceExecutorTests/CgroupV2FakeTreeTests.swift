import Foundation
import SluiceBasics
import SluiceExecutor
import Testing

@Suite("cgroup v2 code paths, against a fake cgroup tree")
struct CgroupV2FakeTreeTests {
    private func layout(_ tree: FakeCgroupTree, own: String = "/service") throws -> CgroupLayout {
        try tree.write(tree.root + "/cgroup.subtree_control", "+cpu +memory +pids")
        try tree.makeDirectory(tree.root + own)
        return CgroupLayout.parse(mountinfo: tree.mountinfo, selfCgroup: "0::\(own)\n", files: tree)
    }

    @Test func theUnifiedHierarchyIsFoundWithItsDelegatedControllers() throws {
        let tree = try FakeCgroupTree()
        try tree.makeDirectory(tree.root + "/service")
        let bare = CgroupLayout.parse(mountinfo: tree.mountinfo, selfCgroup: "0::/service\n", files: tree)
        #expect(bare.unified?.ownDirectory == tree.root + "/service")
        #expect(bare.unified?.controllers == [])
        #expect(bare.preferredVersion == nil)  // a v2 mount without controllers, as on this machine
        let delegated = try layout(tree, own: "/other")
        #expect(delegated.unified?.controllers == ["cpu", "memory", "pids"])
        #expect(delegated.preferredVersion == .v2)
    }

    @Test func anAttemptCgroupGetsItsLimitsAndIsJoinedBeforeExec() throws {
        let tree = try FakeCgroupTree()
        let layout = try layout(tree)
        let backend = CgroupV2(hierarchy: layout.unified!, parent: "sluice", files: tree)
        try backend.prepare()
        #expect(tree.contents(tree.root + "/service/cgroup.subtree_control") == "memory cpu pids")
        #expect(tree.contents(tree.root + "/service/sluice/cgroup.subtree_control") == "memory cpu pids")
        let cgroup = try backend.create(
            name: "run1-train.1", limits: CgroupLimits(memoryBytes: 64 << 20, cpus: 0.5, maxProcesses: 20))
        let directory = tree.root + "/service/sluice/run1-train.1"
        #expect(cgroup.directories == [directory])
        #expect(tree.contents(directory + "/memory.max") == "67108864")
        #expect(tree.contents(directory + "/memory.swap.max") == "0")
        #expect(tree.contents(directory + "/memory.oom.group") == "1")
        #expect(tree.contents(directory + "/cpu.max") == "50000 100000")
        #expect(tree.contents(directory + "/pids.max") == "20")

        // A real child writes itself into the (fake) cgroup.procs before exec.
        try FileSystem.makeDirectory(tree.root + "/logs")
        var launch = AttemptLaunch(
            argv: ["true"], viaShell: false, environment: ["PATH=/usr/bin:/bin"], workdir: "/tmp",
            logDirectory: try SecureDirectory.open(tree.root + "/logs"), logName: "1", cgroupName: "x")
        launch.limits = AttemptLimits(memoryBytes: 1 << 30)
        let fd = try tree.openForWriting(backend.procsFiles(cgroup)[0])
        var request = SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: launch.environment)
        request.cgroupProcs = [fd]
        let child = try ChildProcess.spawn(request)
        close(fd)
        #expect(child.wait().succeeded)
        #expect(tree.contents(directory + "/cgroup.procs") == "0")
    }

    @Test func usageAndOOMKillsAreReadFromTheV2Files() throws {
        let tree = try FakeCgroupTree()
        let backend = CgroupV2(hierarchy: try layout(tree).unified!, parent: "sluice", files: tree)
        try backend.prepare()
        let cgroup = try backend.create(name: "a", limits: CgroupLimits(memoryBytes: 1 << 30))
        let directory = cgroup.directories[0]
        try tree.set(directory + "/cpu.stat", "usage_usec 1750000\nuser_usec 1500000\nsystem_usec 250000\n")
        try tree.set(directory + "/memory.peak", "1073741824\n")
        try tree.set(directory + "/memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n")
        try tree.set(directory + "/pids.events", "max 3\n")
        let usage = backend.usage(cgroup)
        #expect(usage.userCPU == 1.5)
        #expect(usage.systemCPU == 0.25)
        #expect(usage.peakMemoryBytes == 1 << 30)
        #expect(usage.oomKills == 1)
        #expect(usage.pidsLimitHits == 3)
    }

    @Test func killUsesCgroupKillAndRemoveDeletesTheCgroup() throws {
        let tree = try FakeCgroupTree()
        let backend = CgroupV2(hierarchy: try layout(tree).unified!, parent: "/sluice.slice", files: tree)
        try backend.prepare()
        #expect(backend.parentDirectories == [tree.root + "/sluice.slice"])
        let cgroup = try backend.create(name: "b", limits: CgroupLimits())
        #expect(tree.contents(cgroup.directories[0] + "/memory.max") == "max")
        #expect(tree.contents(cgroup.directories[0] + "/cpu.max") == "max 100000")
        backend.killAll(cgroup)
        #expect(tree.contents(cgroup.directories[0] + "/cgroup.kill") == "1")
        try backend.remove(cgroup)
        #expect(!FileSystem.exists(cgroup.directories[0]))
    }

    @Test func aParentInsideACgroupWithProcessesFallsBackToRlimitsAndSaysWhy() throws {
        let tree = try FakeCgroupTree()
        let layout = try layout(tree)
        try tree.set(tree.root + "/service/cgroup.procs", "4242\n")  // Sluice itself lives in its own cgroup
        let backend = CgroupV2(hierarchy: layout.unified!, parent: "sluice", files: tree)
        let error = #expect(throws: SystemError.self) { try backend.prepare() }
        #expect(error?.description.contains("set cgroup_parent to a delegated cgroup") == true)
    }

    @Test func theV1LayoutOfThisKindOfHostIsRead() throws {
        let tree = try FakeCgroupTree()
        let mountinfo = """
            30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
            31 30 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
            32 30 0:28 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct
            33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
            34 30 0:30 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
            35 30 0:31 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
            36 30 0:32 / \(tree.root)/unmounted rw - cgroup2 cgroup2 rw
            """
        let own = "9:name=systemd:/\n8:pids:/\n4:memory:/jobs/x\n2:cpuacct:/\n1:cpu:/\n0::/\n"
        let layout = CgroupLayout.parse(mountinfo: mountinfo, selfCgroup: own, files: tree)
        #expect(layout.preferredVersion == .v1)
        #expect(layout.legacy.map(\.controllers) == [["cpu"], ["cpuacct"], ["memory"], ["pids"]])
        #expect(layout.legacy[2].ownDirectory == "/sys/fs/cgroup/memory/jobs/x")
        let backend = CgroupV1(layout: layout, parent: "sluice", files: tree)
        #expect(
            backend.parentDirectories == [
                "/sys/fs/cgroup/cpu/sluice", "/sys/fs/cgroup/cpuacct/sluice", "/sys/fs/cgroup/memory/jobs/x/sluice",
                "/sys/fs/cgroup/pids/sluice",
            ])
    }
}

/// Found trying the product: a 1 ms step of `true` showed 3.5 cores used of the 1 it asked for, on a 2-core host.
@Suite("CPU seconds from cgroup v1's cpuacct")
struct CgroupV1CPUTests {
    @Test func theExactTotalIsSplitInTheTickedProportion() {
        // 0.8 ms of CPU in all, which tick-based accounting put down as one 4 ms tick of system time.
        let tick = CgroupV1.cpuSeconds(total: 800_000, user: 0, system: 4_000_000)
        #expect(tick.user == 0 && tick.system == 0.0008)
        let split = CgroupV1.cpuSeconds(total: 3_000_000_000, user: 2_000_000_000, system: 1_000_000_000)
        #expect(abs((split.user ?? 0) - 2) < 1e-9 && abs((split.system ?? 0) - 1) < 1e-9)
        let untold = CgroupV1.cpuSeconds(total: 500_000, user: 0, system: 0)
        #expect(untold.user == 0.0005 && untold.system == 0)
        let noTotal = CgroupV1.cpuSeconds(total: nil, user: 2_000_000, system: nil)
        #expect(noTotal.user == 0.002 && noTotal.system == nil)
    }
}
