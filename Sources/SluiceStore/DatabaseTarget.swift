/// Which database a command uses: a shared server named by a libpq URI/conninfo, or the embedded one.
public enum DatabaseTarget: Sendable {
    /// A shared server; the string goes to libpq as it is.
    case url(String)
    /// The private cluster under a state directory.
    case embedded(EmbeddedServer)

}
