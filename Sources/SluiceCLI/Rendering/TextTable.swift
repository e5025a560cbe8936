import Foundation
import SluiceBasics

/// A plain, column-aligned text table.
struct TextTable {
    let headers: [String]
    var rows: [[String]] = []

    init(_ headers: String...) { self.headers = headers }

    init(headers: [String]) { self.headers = headers }

    /// Adds a row; each cell is made one safe line (control characters, line feeds and tabs escaped).
    mutating func add(_ cells: [String]) { rows.append(cells.map { Terminal.safe($0, multiline: false) }) }

    func render() -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }
}
