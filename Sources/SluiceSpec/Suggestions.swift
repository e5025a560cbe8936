/// "Did you mean …?" suggestions for misspelt keys and step ids.
public enum Suggestions {
    /// Words other orchestrators use for a key Sluice names otherwise (Airflow, Dagu, Argo, Kestra, GitHub Actions).
    static let synonyms: [String: String] = [
        "depends_on": "needs", "depends": "needs", "dependencies": "needs", "upstream": "needs", "after": "needs",
        "requires": "needs", "run": "command", "cmd": "command", "script": "command", "shell": "command",
        "args": "command", "cron": "schedule", "tz": "timezone", "retry": "retries", "environment": "env",
        "variables": "env", "working_dir": "workdir", "working_directory": "workdir", "dir": "workdir",
        "execution_timeout": "timeout", "timeout_seconds": "timeout", "limits": "resources", "parameters": "params",
        "tasks": "steps", "jobs": "steps", "condition": "when", "if": "when", "for_each": "foreach",
        "with_items": "foreach", "loop": "foreach", "matrix": "foreach", "max_active": "max_active_runs",
        "concurrency": "max_active_runs", "name": "dag", "id": "dag", "cpu": "cpus", "gpu": "gpus", "mem": "memory",
        "ram": "memory", "pids": "max_processes",
    ]

    /// The closest candidate within a small edit distance, if any (or the candidate a peer tool's word means).
    public static func closest(to word: String, in candidates: [String]) -> String? {
        if let meant = synonyms[word.lowercased()], candidates.contains(meant) { return meant }
        let limit = max(1, min(3, word.count / 3))
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(word.lowercased(), candidate.lowercased())
            // A change of every character is no hint, however short the word.
            guard distance <= limit, distance < max(word.count, candidate.count) else { continue }
            if best == nil || distance < best!.1 { best = (candidate, distance) }
        }
        if let best { return best.0 }
        // A word cut short ("oom" for "oom_killed", "train" for "training") names its only completion.
        let completions = candidates.filter {
            word.count >= 3 && $0.lowercased().hasPrefix(word.lowercased()) && $0 != word
        }
        return completions.count == 1 ? completions[0] : nil
    }

    /// " — did you mean 'x'?" or "".
    public static func hint(for word: String, in candidates: [String]) -> String {
        phrase(closest(to: word, in: candidates))
    }

    /// " — did you mean '<prefix><suggestion>'?", or "" without a suggestion.
    public static func phrase(_ suggestion: String?, prefix: String = "") -> String {
        suggestion.map { " — did you mean '\(prefix)\($0)'?" } ?? ""
    }

    /// Levenshtein distance, counting a swap of two neighbours as one edit.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previous2[j - 2] + 1)
                }
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
