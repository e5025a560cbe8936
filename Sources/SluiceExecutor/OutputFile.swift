import Foundation
import SluiceBasics

/// The file a step writes its `key=value` outputs to, read once it ends.
///
/// Without a user switch it sits beside the attempt's logs, and the step makes it when it first writes to it
/// (`>>`, or opening it to append): a step that reports nothing costs no file, and a missing file is no
/// outputs. Whatever is there is read only if it is a regular file the step's user owns, never through a
/// link. A step that runs as another user cannot enter
/// the private log directory, so its file goes into a fresh private directory of that user's under the
/// temporary directory, which is removed after it is read.
final class OutputFile {
    /// The path the step is given.
    let path: String
    private let directory: SecureDirectory
    private let name: String
    private let owner: uid_t
    private let removesDirectory: Bool

    /// The most bytes read back; a step's outputs are a few short lines.
    static let limit = 1 << 20

    private init(path: String, directory: SecureDirectory, name: String, owner: uid_t, removesDirectory: Bool) {
        self.path = path
        self.directory = directory
        self.name = name
        self.owner = owner
        self.removesDirectory = removesDirectory
    }

    /// The file of an attempt started elsewhere, from what was recorded; nil when its directory is gone.
    static func reopen(path: String, owner: uid_t, isPrivate: Bool) -> OutputFile? {
        let directoryPath = (path as NSString).deletingLastPathComponent
        guard let directory = try? SecureDirectory.open(directoryPath) else { return nil }
        return OutputFile(
            path: path, directory: directory, name: (path as NSString).lastPathComponent, owner: owner,
            removesDirectory: isPrivate)
    }

    /// The owner the file must have when it is read back.
    var ownerID: uid_t { owner }

    /// True when it sits in a private directory of its own, removed once it is read.
    var isPrivate: Bool { removesDirectory }

    /// The file for `launch`: beside the logs (made by the step, when it writes), or else made empty in a
    /// private directory of the step's user.
    static func make(for launch: AttemptLaunch) throws -> OutputFile {
        guard let user = launch.user, !user.isCurrent else {
            let name = launch.logName + ".output"
            // An earlier try under the same name must not pass for this one's.
            try launch.logDirectory.removeTree(name)
            return OutputFile(
                path: launch.logDirectory.path + "/" + name, directory: launch.logDirectory, name: name,
                owner: geteuid(), removesDirectory: false)
        }
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/sluice-output-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SystemError("cannot create a private directory for $SLUICE_OUTPUT under \(base)", errno: errno)
        }
        let path = String(cString: made)
        let directory = try SecureDirectory.open(path)
        do {
            try directory.changeOwner(uid: user.uid, gid: user.gid)
            close(try directory.createFile("output", mode: 0o600))
            try directory.changeOwner("output", uid: user.uid, gid: user.gid)
        } catch {
            try? directory.removeTree("output")
            rmdir(path)
            throw error
        }
        return OutputFile(
            path: path + "/output", directory: directory, name: "output", owner: user.uid, removesDirectory: true)
    }

    /// The bytes the step wrote, or why they could not be read; removes a private directory afterwards.
    func read() -> Result<[UInt8], SystemError> {
        defer { remove() }
        guard let st = directory.status(name) else {
            if removesDirectory { return .failure(SystemError("its $SLUICE_OUTPUT file \(path) was removed")) }
            return .success([])
        }
        guard (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == owner || st.st_uid == 0 else {
            return .failure(
                SystemError("its $SLUICE_OUTPUT file \(path) was replaced by something else; it was not read"))
        }
        do {
            return .success(try directory.readFile(name, limit: Self.limit))
        } catch is FileTooLarge {
            return .failure(
                SystemError("its $SLUICE_OUTPUT file is larger than 1 MiB; it holds key=value lines, not data"))
        } catch let error as SystemError {
            return .failure(error)
        } catch {
            return .failure(SystemError("\(error)"))
        }
    }

    /// Removes a private directory (not a file beside the logs, which stays with them).
    func remove() {
        guard removesDirectory else { return }
        for entry in directory.entries() { try? directory.removeTree(entry) }
        rmdir(directory.path)
    }
}
