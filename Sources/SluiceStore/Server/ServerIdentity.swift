import Foundation

/// The unprivileged user the embedded server runs as.
public struct ServerIdentity: Sendable, Equatable {
    /// User name.
    public let name: String
    /// User id.
    public let uid: uid_t
    /// Primary group id.
    public let gid: gid_t
    /// True when this differs from the calling user, so the server must be started with dropped privileges.
    public let dropsPrivileges: Bool

    /// Describes a user.
    public init(name: String, uid: uid_t, gid: gid_t, dropsPrivileges: Bool) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.dropsPrivileges = dropsPrivileges
    }

    /// The caller when not root; as root `SLUICE_PG_USER`, else `postgres`, else `nobody` (PostgreSQL refuses to run as root).
    public static func choose(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> ServerIdentity
    {
        let euid = geteuid()
        if euid != 0 {
            let name = lookup(uid: euid) ?? "uid \(euid)"
            return ServerIdentity(name: name, uid: euid, gid: getegid(), dropsPrivileges: false)
        }
        var names = ["postgres", "nobody"]
        if let wanted = environment["SLUICE_PG_USER"], !wanted.isEmpty { names = [wanted] }
        for name in names {
            if let entry = getpwnam(name), entry.pointee.pw_uid != 0 {
                return ServerIdentity(
                    name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, dropsPrivileges: true)
            }
        }
        throw DatabaseError(
            .connection,
            "running as root, but no unprivileged user to run the embedded PostgreSQL server as (tried \(names.joined(separator: ", "))); set SLUICE_PG_USER"
        )
    }

    /// True when this user may traverse every directory on the way to `path` (mode bits only).
    public func canReach(_ path: String) -> Bool {
        var groups = Set([gid])
        var count: Int32 = 64
        var list = [gid_t](repeating: 0, count: 64)
        if getgrouplist(name, gid, &list, &count) >= 0 { groups.formUnion(list.prefix(Int(count))) }
        var current = "/"
        for component in path.split(separator: "/") {
            var st = stat()
            guard stat(current, &st) == 0 else { return false }
            let mode = st.st_mode
            let ok =
                st.st_uid == uid
                ? mode & S_IXUSR != 0
                : groups.contains(st.st_gid) ? mode & S_IXGRP != 0 : mode & S_IXOTH != 0
            if !ok { return false }
            current = current == "/" ? "/\(component)" : "\(current)/\(component)"
        }
        return true
    }

    private static func lookup(uid: uid_t) -> String? {
        guard let entry = getpwuid(uid) else { return nil }
        return String(cString: entry.pointee.pw_name)
    }
}
