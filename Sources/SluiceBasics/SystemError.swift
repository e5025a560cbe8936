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
