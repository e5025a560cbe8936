/// The rules for DAG ids, step ids and environment variable names.
public enum Identifiers {
    /// `[a-z][a-z0-9_-]*`.
    public static func isDAGName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
        }
    }

    /// `[A-Za-z_][A-Za-z0-9_-]*`.
    public static func isStepID(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, isLetter(first) || first == "_" else { return false }
        return s.unicodeScalars.allSatisfy { isLetter($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`.
    public static func isEnvName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, isLetter(first) || first == "_" else { return false }
        return s.unicodeScalars.allSatisfy { isLetter($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    private static func isLetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
}
