import Foundation
import SluiceBasics

/// An attempt made ready by `Executor.prepare`: its cgroup made, its watcher forked and its step set up to the
/// exec, where it waits. `Executor.start(_:)` releases it, `Executor.discard(_:)` drops it; should this process
/// end first, the release socket's end stops it unexec'd (nothing runs that was not released).
public final class PreparedAttempt: @unchecked Sendable {
    let launch: AttemptLaunch
    let shim: String
    let cgroup: AttemptCgroup?
    let outputFile: OutputFile?
    /// The watcher, when this process started it directly (no spawner).
    let child: ChildProcess?
    /// The report pipe's read end (-1 once taken or closed).
    private(set) var reports: Int32
    /// The release socket's end (-1 once used, or when not held).
    private var releaseFD: Int32

    init(
        launch: AttemptLaunch, shim: String, handed: HandedWatcher, cgroup: AttemptCgroup?, outputFile: OutputFile?
    ) {
        self.launch = launch
        self.shim = shim
        self.cgroup = cgroup
        self.outputFile = outputFile
        child = handed.child
        reports = handed.reports
        releaseFD = handed.release
    }

    deinit {
        release(go: false)
        closeReports()
    }

    /// Lets the held step exec (`go`), or ends it unexec'd; once. Nothing when it was not held.
    func release(go: Bool) {
        guard releaseFD >= 0 else { return }
        if go {
            var byte: UInt8 = 1
            _ = send(releaseFD, &byte, 1, Int32(MSG_NOSIGNAL))  // a step that failed its setup is gone: no SIGPIPE
        }
        close(releaseFD)
        releaseFD = -1
    }

    /// Hands the report pipe over to whoever keeps reading it.
    func takeReports() -> Int32 {
        defer { reports = -1 }
        return reports
    }

    /// Closes the report pipe unless it was taken.
    func closeReports() {
        if reports >= 0 { close(reports) }
        reports = -1
    }
}

/// A watcher handed an attempt: the report pipe's read end, the release socket's end (-1 when not held), and
/// the watcher itself when this process started it directly.
struct HandedWatcher {
    let reports: Int32
    let release: Int32
    let child: ChildProcess?
}
