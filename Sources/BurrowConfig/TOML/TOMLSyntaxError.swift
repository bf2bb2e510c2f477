/// A TOML document that is not valid TOML 1.0: where, and what was expected there.
/// `description` reads `7:12: expected '=' after key "bind"`; a config error puts the file name in
/// front.
public struct TOMLSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    public var position: TOMLPosition
    public var message: String

    public init(position: TOMLPosition, message: String) {
        self.position = position
        self.message = message
    }

    public var description: String { "\(self.position): \(self.message)" }
}

/// Turns byte offsets into lines and columns. Built once per document (one pass for line
/// starts); columns count characters, so a message points where an editor's cursor would.
struct TOMLLineIndex: Sendable {
    private let bytes: [UInt8]
    private var lineStarts: [Int] = [0]

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        for (offset, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            self.lineStarts.append(offset + 1)
        }
    }

    func position(of offset: Int) -> TOMLPosition {
        let offset = min(max(offset, 0), self.bytes.count)
        // The last line start at or before `offset`.
        var low = 0
        var high = self.lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if self.lineStarts[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        let start = self.lineStarts[low]
        var column = 1
        for byte in self.bytes[start..<offset] where byte & 0xC0 != 0x80 {
            column += 1
        }
        return TOMLPosition(line: low + 1, column: column)
    }
}

enum UTF8Check {
    /// The offset of the first byte that does not begin a well-formed UTF-8 sequence (overlong
    /// forms, surrogates and values past U+10FFFF included), or nil when all of it is UTF-8.
    static func firstInvalidByte(in bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var scalar: UInt32
            switch lead {
            case 0xC2...0xDF: (length, scalar) = (2, UInt32(lead & 0x1F))
            case 0xE0...0xEF: (length, scalar) = (3, UInt32(lead & 0x0F))
            case 0xF0...0xF4: (length, scalar) = (4, UInt32(lead & 0x07))
            default: return index
            }
            guard index + length <= bytes.count else { return index }
            for next in bytes[(index + 1)..<(index + length)] {
                guard next & 0xC0 == 0x80 else { return index }
                scalar = scalar << 6 | UInt32(next & 0x3F)
            }
            let smallest: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x1_0000
            guard scalar >= smallest, scalar <= 0x10_FFFF, !(0xD800...0xDFFF).contains(scalar) else { return index }
            index += length
        }
        return nil
    }

    /// The character that starts at `offset` of well-formed UTF-8.
    static func scalar(at offset: Int, in bytes: [UInt8]) -> Unicode.Scalar? {
        let lead = bytes[offset]
        let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        guard offset + length <= bytes.count else { return nil }
        var value = length == 1 ? UInt32(lead) : UInt32(lead) & (0x7F >> UInt32(length))
        for next in bytes[(offset + 1)..<(offset + length)] {
            value = value << 6 | UInt32(next & 0x3F)
        }
        return Unicode.Scalar(value)
    }
}
