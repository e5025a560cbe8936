import Foundation

/// Facts about the standard streams, and text made safe to show on them.
public enum Terminal {
    /// True when stdout is a terminal (and TERM is not "dumb").
    public static var stdoutIsInteractive: Bool {
        isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// Writes a string to stderr, its control characters escaped.
    public static func printError(_ text: String) {
        write(STDERR_FILENO, safe(text) + "\n")
    }

    /// Writes all of `text` to `fd`, giving up quietly when it is closed (a reader that went away).
    public static func write(_ fd: Int32, _ text: String) {
        write(fd, Array(text.utf8))
    }

    /// Writes all of `bytes` to `fd`, giving up quietly when it is closed.
    public static func write(_ fd: Int32, _ bytes: [UInt8]) {
        var rest = bytes[...]
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            rest = rest.dropFirst(n)
        }
    }

    /// `text` with every control character that could act on a terminal written out as `\x1b`, `\u202e`, …
    ///
    /// Parameter values, foreach items, file names and messages reach the terminal through Sluice; an escape
    /// sequence in them must show as text, not move the cursor or retitle the window. With `multiline`, line
    /// feeds and tabs stay; without, they are escaped too (a table cell is one line).
    public static func safe(_ text: String, multiline: Bool = true) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, multiline: multiline) }) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar, multiline: multiline) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                result +=
                    scalar.value < 0x100
                    ? "\\x" + String(format: "%02x", scalar.value) : "\\u" + String(format: "%04x", scalar.value)
            }
        }
        return result
    }

    private static func needsEscape(_ scalar: Unicode.Scalar, multiline: Bool) -> Bool {
        switch scalar.value {
        case 0x0A, 0x09: return !multiline
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x202A...0x202E, 0x2066...0x2069: return true  // bidirectional overrides: text that reads reordered
        default: return false
        }
    }
}
