import CLibPQ
import Foundation

/// Describes and redacts libpq connection strings, so no message ever shows a password.
public enum ConnInfo {
    /// "socket /x/.s.PGSQL.5432, database d, user u" or "host h:5432, database d, user u".
    static func describe(connection: OpaquePointer?, conninfo: String) -> String {
        var host: String?
        var port: String?
        var database: String?
        var user: String?
        if let connection {
            host = PQhost(connection).map { String(cString: $0) }
            port = PQport(connection).map { String(cString: $0) }
            database = PQdb(connection).map { String(cString: $0) }
            user = PQuser(connection).map { String(cString: $0) }
        }
        let options = parse(conninfo)
        host = nonEmpty(host) ?? nonEmpty(options["host"]) ?? nonEmpty(options["hostaddr"])
        port = nonEmpty(port) ?? nonEmpty(options["port"]) ?? "5432"
        database = nonEmpty(database) ?? nonEmpty(options["dbname"])
        user = nonEmpty(user) ?? nonEmpty(options["user"])
        var parts: [String] = []
        let target = host ?? "/var/run/postgresql"
        if target.hasPrefix("/") || target.hasPrefix("@") {
            parts.append("socket \(target)/.s.PGSQL.\(port ?? "5432")")
        } else {
            parts.append("host \(target) port \(port ?? "5432")")
        }
        if let database { parts.append("database \(database)") }
        if let user { parts.append("user \(user)") }
        return parts.joined(separator: ", ")
    }

    /// True when libpq can parse the conninfo string or URI.
    static func parses(_ conninfo: String) -> Bool {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &error) else {
            PQfreemem(error)
            return false
        }
        PQconninfoFree(options)
        return true
    }

    /// The options libpq reads from a conninfo string or URI; empty when it does not parse.
    static func parse(_ conninfo: String) -> [String: String] {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &error) else {
            PQfreemem(error)
            return [:]
        }
        defer { PQconninfoFree(options) }
        var result: [String: String] = [:]
        var cursor = options
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val { result[String(cString: keyword)] = String(cString: value) }
            cursor += 1
        }
        return result
    }

    /// Every password-like value in a connection string, even one libpq cannot parse.
    public static func secrets(in conninfo: String) -> [String] {
        var found: [String] = []
        if let password = parse(conninfo)["password"], !password.isEmpty { found.append(password) }
        // URI form: scheme://user:password@host
        if let schemeEnd = conninfo.range(of: "://") {
            let rest = conninfo[schemeEnd.upperBound...]
            if let at = rest.firstIndex(of: "@") {
                let userinfo = rest[..<at]
                if let colon = userinfo.firstIndex(of: ":") {
                    let raw = String(userinfo[userinfo.index(after: colon)...])
                    if !raw.isEmpty {
                        found.append(raw)
                        if let decoded = raw.removingPercentEncoding, decoded != raw { found.append(decoded) }
                    }
                }
            }
        }
        // Key/value form or URI query: password=VALUE
        for marker in ["password=", "password ="] {
            var search = conninfo[...]
            while let range = search.range(of: marker) {
                let tail = search[range.upperBound...].drop { $0 == " " }
                let value = tail.prefix { $0 != " " && $0 != "&" }
                let trimmed = value.trimmingCharacters(in: CharacterSet(charactersIn: "'"))
                if !trimmed.isEmpty { found.append(trimmed) }
                search = search[range.upperBound...]
            }
        }
        if let env = ProcessInfo.processInfo.environment["PGPASSWORD"], !env.isEmpty { found.append(env) }
        return found.sorted { $0.count > $1.count }
    }

    /// `text` on one line, with every secret replaced by `***`.
    public static func redact(_ text: String, secrets: [String]) -> String {
        let oneLine = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
        return secrets.reduce(oneLine) { $0.replacingOccurrences(of: $1, with: "***") }
    }

    /// Quotes a value for a key=value conninfo string.
    public static func quote(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    private static func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }
}
