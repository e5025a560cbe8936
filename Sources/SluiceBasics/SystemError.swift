import Foundation

/// A failed system call or file operation, with a readable message.
public struct SystemError: Error, Sendable, CustomStringConvertible {
    /// What failed, with the reason.
    public let description: String

    /// Describes a failure with the strerror text of `errno`.
    public init(_ what: String, errno code: Int32) {
        description = "\(what): \(String(cString: strerror(code)))"
    }

    /// Describes a failure in words.
    public init(_ message: String) {
        description = message
    }
}

/// A file larger than a reader accepts.
public struct FileTooLarge: Error, Sendable, CustomStringConvertible {
    /// The file.
    public let path: String
    /// Its size, or how much was read before giving up.
    public let size: Int
    /// The most bytes accepted.
    public let limit: Int

    /// Creates the error.
    public init(path: String, size: Int, limit: Int) {
        self.path = path
        self.size = size
        self.limit = limit
    }

    /// `path is 40.0 MiB; at most 32 MiB is read`.
    public var description: String {
        "\(path) is larger than the \(FileTooLarge.format(limit)) Sluice reads from such a file"
    }

    static func format(_ bytes: Int) -> String {
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }
}
