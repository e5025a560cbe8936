import Foundation

/// Fast non-cryptographic content hashes, for noticing that text changed.
public enum ContentHash {
    /// FNV-1a 64 of the UTF-8 bytes, as 16 hex digits.
    public static func fnv1a64(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(format: "%016llx", hash)
    }
}
