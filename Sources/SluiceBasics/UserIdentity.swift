import Foundation

/// A local user that a process can run as: ids, supplementary groups and home directory.
public struct UserIdentity: Sendable, Equatable {
    /// The user name.
    public let name: String
    /// The user id.
    public let uid: uid_t
    /// The primary group id.
    public let gid: gid_t
    /// Every group the user is in, the primary one included.
    public let groups: [gid_t]
    /// The home directory.
    public let home: String

    /// Creates an identity from its parts.
    public init(name: String, uid: uid_t, gid: gid_t, groups: [gid_t], home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home
    }

    /// The user with this name, or this numeric uid; nil when the system has no such user.
    public static func lookup(_ nameOrID: String) -> UserIdentity? {
        if let entry = getpwnam(nameOrID) { return from(entry.pointee) }
        if let uid = uid_t(nameOrID), let entry = getpwuid(uid) { return from(entry.pointee) }
        return nil
    }

    /// The user this process runs as (its effective uid).
    public static var current: UserIdentity {
        let uid = geteuid()
        if let entry = getpwuid(uid) { return from(entry.pointee) }
        return UserIdentity(name: "uid \(uid)", uid: uid, gid: getegid(), groups: [getegid()], home: "/")
    }

    /// True when this is the user the process runs as, so no switch is needed.
    public var isCurrent: Bool { uid == geteuid() }

    private static func from(_ entry: passwd) -> UserIdentity {
        let name = String(cString: entry.pw_name)
        var count: Int32 = 64
        var list = [gid_t](repeating: 0, count: 64)
        if getgrouplist(name, entry.pw_gid, &list, &count) < 0 {
            list = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(name, entry.pw_gid, &list, &count) < 0 { count = 0 }
        }
        var groups = Array(list.prefix(Int(max(count, 0))))
        if !groups.contains(entry.pw_gid) { groups.insert(entry.pw_gid, at: 0) }
        return UserIdentity(
            name: name, uid: entry.pw_uid, gid: entry.pw_gid, groups: groups, home: String(cString: entry.pw_dir))
    }
}
