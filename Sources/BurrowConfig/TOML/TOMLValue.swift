/// One TOML value, as the reader produces it: the language's types with nothing lost, so a
/// config's typed walk can say "expected an integer port, got "six"" and a conformance test can
/// compare against toml-test's expected JSON.
public enum TOMLValue: Equatable, Sendable {
    case string(String)
    /// TOML integers are 64-bit signed.
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case dateTime(TOMLDateTime)
    case array([TOMLValue])
    case table(TOMLTable)

    public var string: String? {
        if case .string(let value) = self { value } else { nil }
    }

    /// The integer, when it is one (every TOML integer fits an `Int` on 64-bit platforms).
    public var int: Int? {
        if case .integer(let value) = self { Int(exactly: value) } else { nil }
    }

    public var double: Double? {
        if case .float(let value) = self { value } else { nil }
    }

    public var bool: Bool? {
        if case .boolean(let value) = self { value } else { nil }
    }

    public var table: TOMLTable? {
        if case .table(let value) = self { value } else { nil }
    }

    public var array: [TOMLValue]? {
        if case .array(let value) = self { value } else { nil }
    }

    /// What kind of value this is, in the words of an error message: "a string", "an array".
    public var kindName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a float"
        case .boolean: "a boolean"
        case .dateTime(let value): value.kind.name
        case .array: "an array"
        case .table: "a table"
        }
    }
}

/// A TOML table: its keys in the order the file defined them, and where each was defined, so
/// problems found later (a port out of range) can point at the line.
public struct TOMLTable: Equatable, Sendable {
    public private(set) var keys: [String] = []
    private var values: [String: TOMLValue] = [:]
    /// Byte offsets of the keys' definitions, turned into lines and columns only when asked
    /// (an error message): a long line would make computing every column up front quadratic.
    private var offsets: [String: Int] = [:]
    private var source: TOMLLineIndex?

    public init() {}

    public subscript(key: String) -> TOMLValue? {
        self.values[key]
    }

    public var count: Int { self.keys.count }
    public var isEmpty: Bool { self.keys.isEmpty }

    /// Where `key` was defined in the source, when the table came from a parsed file.
    public func position(of key: String) -> TOMLPosition? {
        guard let source = self.source, let offset = self.offsets[key] else { return nil }
        return source.position(of: offset)
    }

    /// Adds `key`; the reader has already refused duplicates, so a second value replaces the first.
    mutating func set(_ key: String, _ value: TOMLValue, at offset: Int? = nil, in source: TOMLLineIndex? = nil) {
        if self.values.updateValue(value, forKey: key) == nil {
            self.keys.append(key)
        }
        self.offsets[key] = offset
        if let source { self.source = source }
    }

    /// Tables are equal when they hold the same keys and values, in any order.
    public static func == (lhs: TOMLTable, rhs: TOMLTable) -> Bool {
        lhs.values == rhs.values
    }
}

/// A place in a TOML source: 1-based line and column (columns count characters, not bytes).
public struct TOMLPosition: Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "\(self.line):\(self.column)" }
}
