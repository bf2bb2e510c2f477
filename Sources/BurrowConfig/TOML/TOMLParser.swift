/// A TOML 1.0 reader written for config files that a long-running server reads while it carries
/// traffic: every malformed input is a thrown `TOMLSyntaxError` with line and column, never a
/// trap; input size, nesting and string length are bounded; recursion goes no deeper than
/// `Limits.maximumDepth`. Pure Swift, no Foundation.
///
/// The grammar is TOML 1.0 (https://toml.io/en/v1.0.0), checked against the toml-test corpus.
/// This file reads the document's lines, keys, arrays and inline tables; strings and the scalar
/// values are in the extensions beside it, and the rules on defining tables in `TOMLTableNode`.
public struct TOMLParser {
    public struct Limits: Sendable {
        /// Config files are small; anything bigger is a mistake (or hostile).
        public var maximumBytes = 1 << 20
        /// Tables within tables and arrays within arrays, counted together.
        public var maximumDepth = 32
        /// The longest string value or quoted key, in bytes of UTF-8.
        public var maximumStringBytes = 64 << 10

        public init() {}
    }

    /// A syntax error at a byte offset; turned into line and column once, at the top.
    struct Failure: Error {
        var offset: Int
        var message: String
    }

    typealias KeyPart = TOMLTableNode.KeyPart

    let bytes: [UInt8]
    let limits: Limits
    let lines: TOMLLineIndex
    var index = 0

    private init(bytes: [UInt8], limits: Limits) {
        self.bytes = bytes
        self.limits = limits
        self.lines = TOMLLineIndex(bytes)
    }

    /// Reads a whole document.
    public static func parse(_ text: String, limits: Limits = .init()) throws(TOMLSyntaxError) -> TOMLTable {
        try Self.parse(Array(text.utf8), limits: limits)
    }

    /// Reads a whole document from its bytes, which must be UTF-8 (a leading byte order mark is
    /// allowed).
    public static func parse(_ bytes: [UInt8], limits: Limits = .init()) throws(TOMLSyntaxError) -> TOMLTable {
        guard bytes.count <= limits.maximumBytes else {
            throw TOMLSyntaxError(position: TOMLPosition(line: 1, column: 1),
                                  message: "\(bytes.count) bytes is too large for a config file (at most \(limits.maximumBytes))")
        }
        var parser = TOMLParser(bytes: bytes, limits: limits)
        do {
            return try parser.document()
        } catch {
            throw TOMLSyntaxError(position: parser.lines.position(of: error.offset), message: error.message)
        }
    }

    // MARK: - Document

    private mutating func document() throws(Failure) -> TOMLTable {
        if let invalid = UTF8Check.firstInvalidByte(in: self.bytes) {
            throw Failure(offset: invalid, message: "invalid UTF-8 (byte 0x\(String(self.bytes[invalid], radix: 16, uppercase: true)))")
        }
        if self.bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            self.index = 3
        }
        let root = TOMLTableNode(origin: .closed, depth: 0, offset: 0)
        var current = root
        while true {
            self.skipWhitespace()
            guard let byte = self.peek() else { break }
            switch byte {
            case UInt8(ascii: "#"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                try self.endOfLine(after: "")
            case UInt8(ascii: "["):
                current = try self.header(root)
            default:
                let (key, value) = try self.keyValue(depth: current.depth, context: "a key or a [table] header")
                try current.insert(key, value, limits: self.limits)
                try self.endOfLine(after: " after the value of \(TOMLTableNode.quoted(TOMLTableNode.text(of: key)))")
            }
        }
        return root.frozen(self.lines)
    }

    /// `[a.b]` or `[[a.b]]`, then the end of its line; returns the table it opens.
    private mutating func header(_ root: TOMLTableNode) throws(Failure) -> TOMLTableNode {
        self.index += 1
        let isArray = self.peek() == UInt8(ascii: "[")
        if isArray { self.index += 1 }
        self.skipWhitespace()
        let key = try self.key(context: "a table name")
        var name: String { TOMLTableNode.text(of: key) }
        self.skipWhitespace()
        let close = isArray ? "]]" : "]"
        for _ in close.utf8 {
            guard self.peek() == UInt8(ascii: "]") else {
                throw self.unexpected("'\(close)' to close [\(isArray ? "[" : "")\(name)")
            }
            self.index += 1
        }
        let table = isArray
            ? try root.appendArrayTable(key, limits: self.limits)
            : try root.defineTable(key, limits: self.limits)
        try self.endOfLine(after: " after the header [\(isArray ? "[" : "")\(name)\(close)")
        return table
    }

    /// `key = value`, for a table at `depth`.
    private mutating func keyValue(depth: Int, context: String) throws(Failure) -> ([KeyPart], TOMLValue) {
        let key = try self.key(context: context)
        self.skipWhitespace()
        guard self.peek() == UInt8(ascii: "=") else {
            throw self.unexpected("'=' after key \(TOMLTableNode.quoted(TOMLTableNode.text(of: key)))")
        }
        self.index += 1
        self.skipWhitespace()
        let value = try self.value(depth: depth + key.count)
        return (key, value)
    }

    /// Whitespace, an optional comment, then a newline or the end of the file.
    private mutating func endOfLine(after context: @autoclosure () -> String) throws(Failure) {
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "#") {
            try self.comment()
        }
        guard let byte = self.peek() else { return }
        if byte == UInt8(ascii: "\n") {
            self.index += 1
        } else if byte == UInt8(ascii: "\r"), self.peek(1) == UInt8(ascii: "\n") {
            self.index += 2
        } else {
            throw self.unexpected("a new line\(context())")
        }
    }

    /// From `#` to the end of the line (which it leaves in place). Control characters other than
    /// tab are not allowed in comments.
    private mutating func comment() throws(Failure) {
        while let byte = self.peek(), byte != UInt8(ascii: "\n") {
            if byte == UInt8(ascii: "\r"), self.peek(1) == UInt8(ascii: "\n") { return }
            if Self.isControl(byte) {
                throw Failure(offset: self.index, message: "control character \(Self.codePoint(byte)) in a comment")
            }
            self.index += 1
        }
    }

    // MARK: - Keys

    /// `a`, `a.b`, `"quoted key".'literal'`, with optional whitespace around the dots.
    mutating func key(context: String) throws(Failure) -> [KeyPart] {
        var parts = [try self.simpleKey(context: context)]
        while true {
            let save = self.index
            self.skipWhitespace()
            guard self.peek() == UInt8(ascii: ".") else {
                self.index = save
                return parts
            }
            self.index += 1
            self.skipWhitespace()
            parts.append(try self.simpleKey(context: "a key after '.'"))
            guard parts.count <= self.limits.maximumDepth else {
                throw Failure(offset: parts[parts.count - 1].offset, message: "a key of more than \(self.limits.maximumDepth) parts")
            }
        }
    }

    private mutating func simpleKey(context: String) throws(Failure) -> KeyPart {
        let start = self.index
        switch self.peek() {
        case let quote? where quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'"):
            guard !self.startsMultiLine(quote) else {
                throw Failure(offset: start, message: "a key cannot be a multi-line string")
            }
            return KeyPart(name: try self.string(), offset: start)
        case let byte? where Self.isBareKeyByte(byte):
            while let byte = self.peek(), Self.isBareKeyByte(byte) {
                self.index += 1
            }
            return KeyPart(name: String(decoding: self.bytes[start..<self.index], as: UTF8.self), offset: start)
        default:
            throw self.unexpected(context)
        }
    }

    // MARK: - Values

    /// Any value, at nesting `depth`.
    mutating func value(depth: Int) throws(Failure) -> TOMLValue {
        guard depth <= self.limits.maximumDepth else {
            throw Failure(offset: self.index, message: "values nested more than \(self.limits.maximumDepth) deep")
        }
        guard let byte = self.peek() else { throw self.unexpected("a value") }
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            return .string(try self.string())
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            return .boolean(try self.boolean())
        case UInt8(ascii: "["):
            return .array(try self.array(depth: depth))
        case UInt8(ascii: "{"):
            return .table(try self.inlineTable(depth: depth))
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "i"), UInt8(ascii: "n"):
            return try self.numberOrDateTime()
        default:
            if Self.isBareKeyByte(byte) {
                throw Failure(offset: self.index, message: "expected a value, found a bare word (strings need quotes)")
            }
            throw self.unexpected("a value")
        }
    }

    /// `[ v, v, ]`: newlines and comments allowed between elements, a trailing comma too.
    private mutating func array(depth: Int) throws(Failure) -> [TOMLValue] {
        let start = self.index
        self.index += 1
        var elements: [TOMLValue] = []
        while true {
            try self.skipBlankLines()
            if self.peek() == UInt8(ascii: "]") {
                self.index += 1
                return elements
            }
            guard self.peek() != nil else { throw Failure(offset: start, message: "array is never closed with ']'") }
            elements.append(try self.value(depth: depth + 1))
            try self.skipBlankLines()
            switch self.peek() {
            case UInt8(ascii: ",")?:
                self.index += 1
            case UInt8(ascii: "]")?:
                self.index += 1
                return elements
            case nil:
                throw Failure(offset: start, message: "array is never closed with ']'")
            default:
                throw self.unexpected("',' or ']' after an array element")
            }
        }
    }

    /// `{ k = v, k = v }` on one line, no trailing comma; complete once closed.
    private mutating func inlineTable(depth: Int) throws(Failure) -> TOMLTable {
        let table = try TOMLTableNode.make(origin: .closed, depth: depth, offset: self.index, limits: self.limits)
        self.index += 1
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "}") {
            self.index += 1
            return table.frozen(self.lines)
        }
        while true {
            self.skipWhitespace()
            let context = self.atNewLine ? "a key (an inline table must be on one line)" : "a key in the inline table"
            let (key, value) = try self.keyValue(depth: depth, context: context)
            try table.insert(key, value, limits: self.limits)
            self.skipWhitespace()
            switch self.peek() {
            case UInt8(ascii: ",")?:
                self.index += 1
                self.skipWhitespace()
                if self.peek() == UInt8(ascii: "}") {
                    throw Failure(offset: self.index, message: "an inline table cannot end with a comma")
                }
            case UInt8(ascii: "}")?:
                self.index += 1
                return table.frozen(self.lines)
            default:
                throw self.unexpected(self.atNewLine
                    ? "',' or '}' (an inline table must be on one line)"
                    : "',' or '}' after a value in an inline table")
            }
        }
    }

    // MARK: - Bytes

    func peek(_ ahead: Int = 0) -> UInt8? {
        let at = self.index + ahead
        return at < self.bytes.count ? self.bytes[at] : nil
    }

    var atNewLine: Bool {
        self.peek() == UInt8(ascii: "\n") || (self.peek() == UInt8(ascii: "\r") && self.peek(1) == UInt8(ascii: "\n"))
    }

    mutating func skipWhitespace() {
        while let byte = self.peek(), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
            self.index += 1
        }
    }

    /// Whitespace, comments and newlines, as allowed inside arrays.
    private mutating func skipBlankLines() throws(Failure) {
        while true {
            self.skipWhitespace()
            if self.peek() == UInt8(ascii: "#") {
                try self.comment()
            } else if self.atNewLine {
                self.index += self.peek() == UInt8(ascii: "\r") ? 2 : 1
            } else {
                return
            }
        }
    }

    /// "expected X, found Y" at the current position.
    func unexpected(_ expected: String) -> Failure {
        Failure(offset: self.index, message: "expected \(expected), found \(self.describe(at: self.index))")
    }

    /// The input at `offset` as a message names it: `'x'`, `end of line`, `U+0000`.
    func describe(at offset: Int) -> String {
        guard offset < self.bytes.count else { return "end of file" }
        let byte = self.bytes[offset]
        switch byte {
        case UInt8(ascii: "\n"): return "end of line"
        case UInt8(ascii: "\r") where offset + 1 < self.bytes.count && self.bytes[offset + 1] == UInt8(ascii: "\n"):
            return "end of line"
        case UInt8(ascii: " "): return "a space"
        case UInt8(ascii: "\t"): return "a tab"
        case 0x21..<0x7F: return "'\(Character(Unicode.Scalar(byte)))'"
        case ..<0x80: return Self.codePoint(byte)
        default:
            guard let scalar = UTF8Check.scalar(at: offset, in: self.bytes) else { return "an invalid character" }
            return "'\(Character(scalar))' (\(Self.codePoint(scalar.value)))"
        }
    }

    static func codePoint(_ value: some BinaryInteger) -> String {
        let hex = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// A-Z a-z 0-9 _ -
    static func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// Control characters TOML never allows unescaped: U+0000-U+001F but tab, and U+007F.
    /// (Newlines are allowed where the grammar says; callers check them first.)
    static func isControl(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != UInt8(ascii: "\t")) || byte == 0x7F
    }
}
