import Foundation
import SluiceStore
import Testing

@Suite("The embedded server's own checks")
struct EmbeddedServerUnitTests {
    @Test func aStateDirectoryTooLongForAUnixSocketIsAClearError() throws {
        let long = "/tmp/" + String(repeating: "d", count: 110)
        let error = #expect(throws: DatabaseError.self) { try EmbeddedServer(stateDirectory: long).ensureRunning() }
        #expect(error?.message.contains("too long for a Unix socket") == true)
        #expect(!FileManager.default.fileExists(atPath: long))
    }

    @Test func theServerUserIsNeverRoot() throws {
        let identity = try ServerIdentity.choose()
        #expect(identity.uid != 0)
        #expect(identity.dropsPrivileges == (geteuid() == 0))
    }

    @Test func reachabilityFollowsDirectoryPermissions() throws {
        let nobody = try #require(getpwnam("nobody"))
        let identity = ServerIdentity(
            name: "nobody", uid: nobody.pointee.pw_uid, gid: nobody.pointee.pw_gid, dropsPrivileges: true)
        #expect(identity.canReach("/tmp"))
        let closed = "/tmp/sluice-closed-\(getpid())"
        mkdir(closed, 0o700)
        defer { rmdir(closed) }
        #expect(!identity.canReach(closed + "/state"))
    }
}
