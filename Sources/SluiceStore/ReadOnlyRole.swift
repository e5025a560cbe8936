import Foundation

/// A role that can read every Sluice table and write none, for dashboards.
public enum ReadOnlyRole {
    /// What `grant` did.
    public struct Grant: Sendable, Codable, Equatable {
        /// The role.
        public let role: String
        /// Whether it was made now (else it existed and was narrowed to reading).
        public let created: Bool
        /// The database and schema it may read.
        public let database: String, schema: String
    }

    /// A refusal: the role exists and could do more than read.
    public struct Refused: Error, Sendable, CustomStringConvertible {
        /// Why.
        public let description: String
    }

    /// Creates `role` (LOGIN, no password: set one yourself, or use peer or certificate authentication) or
    /// narrows an existing one: SELECT on every table of Sluice's schema, now and as migrations add tables,
    /// no other table privilege, and read-only transactions by default. Identifiers are quoted by the server.
    public static func grant(_ role: String, on connection: PGConnection) throws -> Grant {
        let existing = try connection.query(
            "SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = \(role)"
        ).rows.first
        if let existing,
            existing.bool("rolsuper") == true || existing.bool("rolcreaterole") == true
                || existing.bool("rolbypassrls") == true
        {
            throw Refused(
                description:
                    "role '\(role)' exists and is a superuser or can create roles or bypass row security; it could write. Choose another name"
            )
        }
        let statements = try connection.query(
            """
            SELECT unnest(ARRAY[
                CASE WHEN NOT \(existing != nil) THEN format('CREATE ROLE %I LOGIN', \(role)::text) END,
                format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), \(role)::text),
                format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), \(role)::text),
                format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', current_schema(), \(role)::text),
                format('REVOKE CREATE ON SCHEMA %I FROM %I', current_schema(), \(role)::text),
                format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', current_schema(), \(role)::text),
                format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO %I', current_schema(), \(role)::text),
                format('ALTER ROLE %I SET default_transaction_read_only = on', \(role)::text)
            ]) AS statement, current_database() AS database, current_schema() AS schema
            """
        ).rows
        try connection.transaction { session in
            for row in statements { if let text = row["statement"] { try session.query(SQL(stringLiteral: text)) } }
        }
        return Grant(
            role: role, created: existing == nil, database: statements.first?["database"] ?? "",
            schema: statements.first?["schema"] ?? "")
    }
}
