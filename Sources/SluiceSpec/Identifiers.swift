/// The rules for DAG ids, step ids, parameter names, tags, datasets and environment variable names.
public enum Identifiers {
    /// `[a-z][a-z0-9_-]*`.
    public static func isDAGName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { isLower($0) || isDigit($0) || $0 == "_" || $0 == "-" }
    }

    /// `[A-Za-z_][A-Za-z0-9_-]*`.
    public static func isStepID(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, isLetter(first) || first == "_" else { return false }
        return s.unicodeScalars.allSatisfy { isLetter($0) || isDigit($0) || $0 == "_" || $0 == "-" }
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`: environment variables and parameter names.
    public static func isEnvName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, isLetter(first) || first == "_" else { return false }
        return s.unicodeScalars.allSatisfy { isLetter($0) || isDigit($0) || $0 == "_" }
    }

    /// `[a-z][a-z0-9_./-]*`: tag keys.
    public static func isTagKey(_ s: String) -> Bool { isDatasetName(s) }

    /// `[a-z][a-z0-9_./-]*`: dataset names.
    public static func isDatasetName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, isLower(first) else { return false }
        return s.unicodeScalars.allSatisfy { isLower($0) || isDigit($0) || "_-./".unicodeScalars.contains($0) }
    }

    /// `[a-z][a-z0-9+.-]*`: a URI scheme.
    static func isURIScheme(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, isLower(first) else { return false }
        return s.unicodeScalars.allSatisfy { isLower($0) || isDigit($0) || "+.-".unicodeScalars.contains($0) }
    }

    private static func isLetter(_ c: Unicode.Scalar) -> Bool { isLower(c) || ("A"..."Z").contains(c) }
    private static func isLower(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) }
    private static func isDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }
}
