/// The four kinds of TOML string: basic ("..." with escapes), literal ('...' as written), and
/// their multi-line forms (""" and ''').
extension TOMLParser {
    /// Whether the string starting here opens with three quotes.
    func startsMultiLine(_ quote: UInt8) -> Bool {
        self.peek(1) == quote && self.peek(2) == quote
    }

    /// A string at the current position: `"..."` or `"""..."""` (escapes), `'...'` or `'''...'''`
    /// (as written). No control characters but tab (and newlines, in multi-line strings).
    mutating func string() throws(Failure) -> String {
        let quote = self.bytes[self.index]
        let escapes = quote == UInt8(ascii: "\"")
        return self.startsMultiLine(quote)
            ? try self.multiLineString(quote: quote, escapes: escapes)
            : try self.singleLineString(quote: quote, escapes: escapes)
    }

    private mutating func singleLineString(quote: UInt8, escapes: Bool) throws(Failure) -> String {
        let start = self.index
        let quoteText = escapes ? "'\"'" : "\"'\""
        self.index += 1
        var text: [UInt8] = []
        while true {
            guard let byte = self.peek() else {
                throw Failure(offset: start, message: "string is never closed with \(quoteText)")
            }
            switch byte {
            case quote:
                self.index += 1
                return String(decoding: text, as: UTF8.self)
            case UInt8(ascii: "\\") where escapes:
                try self.escape(into: &text)
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                let triple = escapes ? "\"\"\"" : "'''"
                throw Failure(offset: self.index, message: "string is not closed before the end of the line (use \(triple) for a multi-line string)")
            default:
                try self.character(byte, into: &text, start: start)
            }
        }
    }

    /// A newline right after the opening quotes is dropped; in a basic string a backslash at the
    /// end of a line drops it and the whitespace that follows.
    private mutating func multiLineString(quote: UInt8, escapes: Bool) throws(Failure) -> String {
        let start = self.index
        self.index += 3
        self.skipFirstNewLine()
        var text: [UInt8] = []
        while true {
            guard let byte = self.peek() else {
                let triple = escapes ? "'\"\"\"'" : "\"'''\""
                throw Failure(offset: start, message: "multi-line string is never closed with \(triple)")
            }
            switch byte {
            case quote:
                if try self.closesMultiLine(byte, into: &text) {
                    return String(decoding: text, as: UTF8.self)
                }
            case UInt8(ascii: "\\") where escapes:
                if self.atLineEndingBackslash {
                    self.index += 1
                    while let next = self.peek(), next == UInt8(ascii: " ") || next == UInt8(ascii: "\t") || self.atNewLine {
                        self.index += next == UInt8(ascii: "\r") ? 2 : 1
                    }
                } else {
                    try self.escape(into: &text)
                }
            default:
                try self.multiLineCharacter(byte, into: &text, start: start)
            }
        }
    }

    /// At a run of quotes inside a multi-line string: fewer than three are content; three to five
    /// close it, the ones before the last three being content (`""""` ends with one `"`).
    private mutating func closesMultiLine(_ quote: UInt8, into text: inout [UInt8]) throws(Failure) -> Bool {
        var run = 0
        while self.peek(run) == quote { run += 1 }
        guard run < 6 else {
            throw Failure(offset: self.index + 5, message: "too many quotes: a multi-line string may end with at most five")
        }
        let content = run >= 3 ? run - 3 : run
        text.append(contentsOf: repeatElement(quote, count: content))
        self.index += run
        return run >= 3
    }

    private mutating func skipFirstNewLine() {
        if self.atNewLine {
            self.index += self.peek() == UInt8(ascii: "\r") ? 2 : 1
        }
    }

    /// A backslash followed by nothing but whitespace up to the end of its line.
    private var atLineEndingBackslash: Bool {
        var ahead = 1
        while let byte = self.peek(ahead), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
            ahead += 1
        }
        return self.peek(ahead) == UInt8(ascii: "\n") || (self.peek(ahead) == UInt8(ascii: "\r") && self.peek(ahead + 1) == UInt8(ascii: "\n"))
    }

    /// One content byte of a multi-line string: newlines (LF or CRLF) allowed, as written.
    private mutating func multiLineCharacter(_ byte: UInt8, into text: inout [UInt8], start: Int) throws(Failure) {
        if byte == UInt8(ascii: "\n") {
            text.append(byte)
            self.index += 1
        } else if byte == UInt8(ascii: "\r"), self.peek(1) == UInt8(ascii: "\n") {
            text.append(contentsOf: [byte, UInt8(ascii: "\n")])
            self.index += 2
        } else {
            try self.character(byte, into: &text, start: start)
        }
        try self.checkLength(text, start: start)
    }

    /// One content byte of any string: control characters other than tab must be escaped.
    private mutating func character(_ byte: UInt8, into text: inout [UInt8], start: Int) throws(Failure) {
        guard !Self.isControl(byte) else {
            throw Failure(offset: self.index, message: "control character \(Self.codePoint(byte)) in a string must be escaped")
        }
        text.append(byte)
        self.index += 1
        try self.checkLength(text, start: start)
    }

    private func checkLength(_ text: [UInt8], start: Int) throws(Failure) {
        guard text.count <= self.limits.maximumStringBytes else {
            throw Failure(offset: start, message: "string longer than \(self.limits.maximumStringBytes) bytes")
        }
    }

    /// `\b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX`.
    private mutating func escape(into text: inout [UInt8]) throws(Failure) {
        let start = self.index
        let replacement: UInt8
        switch self.peek(1) {
        case UInt8(ascii: "b"): replacement = 0x08
        case UInt8(ascii: "t"): replacement = 0x09
        case UInt8(ascii: "n"): replacement = 0x0A
        case UInt8(ascii: "f"): replacement = 0x0C
        case UInt8(ascii: "r"): replacement = 0x0D
        case UInt8(ascii: "\""): replacement = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): replacement = UInt8(ascii: "\\")
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let digits = self.peek(1) == UInt8(ascii: "u") ? 4 : 8
            var value: UInt32 = 0
            for position in 2..<(2 + digits) {
                guard let byte = self.peek(position), let digit = Self.hexDigit(byte) else {
                    throw Failure(offset: start, message: "expected \(digits) hexadecimal digits after \\\(digits == 4 ? "u" : "U")")
                }
                value = value << 4 | UInt32(digit)
            }
            guard let scalar = Unicode.Scalar(value) else {
                throw Failure(offset: start, message: "\\\(digits == 4 ? "u" : "U") escape \(Self.codePoint(value)) is not a Unicode scalar value")
            }
            text.append(contentsOf: Array(String(Character(scalar)).utf8))
            self.index += 2 + digits
            return
        default:
            throw Failure(offset: start, message: "invalid escape: '\\' followed by \(self.describe(at: self.index + 1)) (TOML has \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX)")
        }
        text.append(replacement)
        self.index += 2
    }

    static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
