/// The rule for client and proxy names, in configs and on the wire: 1-64 ASCII letters, digits,
/// '-', '_' or '.'. Names appear in log lines (and will in metric labels), so nothing that could
/// forge a line or a label passes.
public enum Name {
    public static let maximumLength = 64
    /// The rule in words, for error messages.
    public static let rule = "1-64 letters, digits, '-', '_' or '.'"

    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= Self.maximumLength
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }
}
