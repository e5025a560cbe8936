import Foundation
import SluiceBasics
import SluiceStore

/// The attempt cgroups a test's killed engine left behind. An engine that is not killed removes its own, and
/// the next engine on the same database removes a killed one's (`Executor.removeLeftoverCgroups`); a test's
/// database has no next engine, so the test removes them as it removes its files.
public enum LeftoverCgroups {
    /// Removes the empty attempt cgroups of the database at `databaseURL` (those named with its tag, the first
    /// 8 hex digits of its installation id), in every cgroup hierarchy; returns how many directories went.
    @discardableResult
    public static func remove(databaseURL: String) -> Int {
        guard let store = try? Store.open(.url(databaseURL), migrate: false),
            let tag = (try? LineageRecords(store: store).cgroupTag()) ?? nil
        else { return 0 }
        return remove(under: "/sys/fs/cgroup", tag: tag, depth: 0)
    }

    /// Walks a few levels of cgroup directories (the parent sits under the test process's own cgroup on some
    /// hosts); a directory of this database's is removed if empty (`rmdir` refuses otherwise), not entered.
    private static func remove(under path: String, tag: String, depth: Int) -> Int {
        guard depth < 6 else { return 0 }
        let children = FileSystem.subdirectories(path)
        var removed = 0
        for name in children {
            if name.hasPrefix("run") && name.contains("-\(tag)-") {
                if rmdir(path + "/" + name) == 0 { removed += 1 }
            } else {
                removed += remove(under: path + "/" + name, tag: tag, depth: depth + 1)
            }
        }
        return removed
    }
}
