import Foundation

/// Finds executables the way a shell does, using a given PATH rather than the caller's.
public enum ExecutableLookup {
    /// The path to run for `name`: names with a slash are returned as they are; others are searched in `path`.
    public static func resolve(_ name: String, path: String?) -> String? {
        if name.contains("/") { return name }
        let directories = (path ?? "/usr/local/bin:/usr/bin:/bin").split(
            separator: ":", omittingEmptySubsequences: false)
        for directory in directories {
            let dir = directory.isEmpty ? "." : String(directory)
            let candidate = dir + "/" + name
            var st = stat()
            if stat(candidate, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }
}
