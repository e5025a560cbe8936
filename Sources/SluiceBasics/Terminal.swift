import Foundation

/// Facts about the standard streams.
public enum Terminal {
    /// True when stdout is a terminal (and TERM is not "dumb").
    public static var stdoutIsInteractive: Bool {
        isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// Writes a string to stderr.
    public static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
