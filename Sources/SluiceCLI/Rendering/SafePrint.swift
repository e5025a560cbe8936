import SluiceBasics

/// Every `print` in the CLI goes through here, so no value a user or a step controls can send terminal
/// control sequences; JSON output is unaffected (JSON already escapes control characters).
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    let text = items.map { "\($0)" }.joined(separator: separator)
    Swift.print(Terminal.safe(text), terminator: terminator)
}
