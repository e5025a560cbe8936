import Foundation

/// One mounted cgroup hierarchy and where this process sits in it.
public struct CgroupHierarchy: Sendable, Equatable {
    /// Controllers it carries (`memory`, `cpu`, …); for v2, those enabled for this process's cgroup.
    public let controllers: [String]
    /// Where it is mounted.
    public let mountPoint: String
    /// This process's cgroup directory inside the mount.
    public let ownDirectory: String
}

/// The cgroup hierarchies this host has, read from `/proc/self/mountinfo` and `/proc/self/cgroup`.
public struct CgroupLayout: Sendable, Equatable {
    /// The unified (v2) hierarchy, if mounted.
    public let unified: CgroupHierarchy?
    /// The v1 hierarchies, one per mount.
    public let legacy: [CgroupHierarchy]

    /// The controllers Sluice uses to enforce and measure a step.
    static let wanted = ["memory", "cpu", "pids"]

    /// Reads the layout of this host.
    public static func detect(files: CgroupFiles = HostCgroupFiles()) -> CgroupLayout {
        parse(
            mountinfo: files.read("/proc/self/mountinfo") ?? "", selfCgroup: files.read("/proc/self/cgroup") ?? "",
            files: files)
    }

    /// Parses mountinfo and /proc/self/cgroup text; v2 controllers are read from the own cgroup's `cgroup.controllers`.
    public static func parse(mountinfo: String, selfCgroup: String, files: CgroupFiles) -> CgroupLayout {
        var ownPaths: [String: String] = [:]  // "" for v2, else the comma-joined controller list
        for line in selfCgroup.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            ownPaths[String(parts[1])] = String(parts[2])
        }
        var unified: CgroupHierarchy?
        var legacy: [CgroupHierarchy] = []
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard let dash = fields.firstIndex(of: "-"), dash >= 5, fields.count > dash + 3 else { continue }
            let mountRoot = unescape(fields[3])
            let mountPoint = unescape(fields[4])
            let type = fields[dash + 1]
            let options = fields[dash + 3].split(separator: ",").map(String.init)
            if type == "cgroup2", let own = ownPaths[""] {
                guard let relative = relativePath(own, under: mountRoot) else { continue }
                let directory = join(mountPoint, relative)
                let available = (files.read(directory + "/cgroup.controllers") ?? "").split(
                    whereSeparator: \.isWhitespace
                ).map(String.init)
                unified = CgroupHierarchy(controllers: available, mountPoint: mountPoint, ownDirectory: directory)
            } else if type == "cgroup" {
                let controllers = options.filter { !["rw", "ro"].contains($0) && !$0.contains("=") }
                guard !controllers.isEmpty else { continue }
                let key = ownPaths.keys.first { Set($0.split(separator: ",").map(String.init)) == Set(controllers) }
                guard let key, let own = ownPaths[key], let relative = relativePath(own, under: mountRoot) else {
                    continue
                }
                legacy.append(
                    CgroupHierarchy(
                        controllers: controllers, mountPoint: mountPoint, ownDirectory: join(mountPoint, relative)))
            }
        }
        return CgroupLayout(unified: unified, legacy: legacy)
    }

    /// The v1 hierarchy that carries `controller`.
    func legacyHierarchy(for controller: String) -> CgroupHierarchy? {
        legacy.first { $0.controllers.contains(controller) }
    }

    /// The version to use: the one offering more of memory/cpu/pids, v2 on a tie; nil when neither offers any.
    public var preferredVersion: CgroupVersion? {
        let v2 = Self.wanted.filter { unified?.controllers.contains($0) == true }.count
        let v1 = Self.wanted.filter { legacyHierarchy(for: $0) != nil }.count
        if v2 == 0 && v1 == 0 { return nil }
        return v2 >= v1 ? .v2 : .v1
    }

    /// Joins a mount point and a path inside it.
    static func join(_ base: String, _ path: String) -> String {
        let trimmed = path.hasPrefix("/") ? String(path.dropFirst()) : path
        if trimmed.isEmpty { return base }
        return base.hasSuffix("/") ? base + trimmed : base + "/" + trimmed
    }

    /// `path` relative to a bind-mounted hierarchy root, or nil when it lies outside it.
    private static func relativePath(_ path: String, under root: String) -> String? {
        if root == "/" { return path }
        if path == root { return "/" }
        return path.hasPrefix(root + "/") ? String(path.dropFirst(root.count)) : nil
    }

    /// Undoes mountinfo's octal escapes (`\040` for a space).
    private static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Which cgroup interface enforces limits.
public enum CgroupVersion: String, Sendable, Codable {
    /// The legacy per-controller hierarchies.
    case v1
    /// The unified hierarchy.
    case v2
}
