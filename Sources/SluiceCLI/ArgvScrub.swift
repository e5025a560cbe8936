import Foundation
import SluiceStore

/// Hides a password given in `--database-url` from other users, who can read every process's command line.
enum ArgvScrub {
    /// Overwrites, in this process's own argv memory, each password of a `--database-url` value with `*`.
    ///
    /// The arguments were copied for parsing before this runs; only what `/proc/<pid>/cmdline` shows changes.
    static func hideDatabasePasswords() {
        let argc = Int(CommandLine.argc)
        let argv = CommandLine.unsafeArgv
        var index = 1
        while index < argc {
            guard let pointer = argv[index] else {
                index += 1
                continue
            }
            let text = String(cString: pointer)
            if text == "--database-url", index + 1 < argc, let value = argv[index + 1] {
                mask(value)
                index += 2
                continue
            }
            if text.hasPrefix("--database-url=") { mask(pointer) }
            index += 1
        }
    }

    /// Replaces every password found in the C string in place, byte for byte.
    private static func mask(_ pointer: UnsafeMutablePointer<CChar>) {
        let length = strlen(pointer)
        var bytes = Array(UnsafeBufferPointer(start: pointer, count: length)).map { UInt8(bitPattern: $0) }
        let text = String(decoding: bytes, as: UTF8.self)
        for secret in ConnInfo.secrets(in: text) {
            let needle = Array(secret.utf8)
            guard !needle.isEmpty, needle.count <= bytes.count else { continue }
            var start = 0
            while start + needle.count <= bytes.count {
                if bytes[start..<(start + needle.count)].elementsEqual(needle) {
                    for k in start..<(start + needle.count) { bytes[k] = UInt8(ascii: "*") }
                    start += needle.count
                } else {
                    start += 1
                }
            }
        }
        for (k, byte) in bytes.enumerated() { pointer[k] = CChar(bitPattern: byte) }
    }
}
