import Foundation

/// POSIX shell quoting, for every value substituted into a shell command or shown as one.
public enum ShellQuoting {
    /// The string as one shell word: unchanged when it is safe, otherwise single-quoted.
    public static func quote(_ value: String) -> String {
        if !value.isEmpty
            && value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0)) })
        {
            return value
        }
        return "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
