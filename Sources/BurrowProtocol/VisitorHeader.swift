import NIOCore

/// The first message on every visitor stream the server opens: which proxy it is for and who
/// the visitor is. Raw bytes follow, both ways.
///
/// It is framed JSON like every other message, but it is the one message sent per visitor, so
/// it has a codec of its own: Foundation's JSONEncoder and JSONDecoder were a tenth of the CPU
/// each side spent in user space per new connection. `framed` writes the JSON directly;
/// `read` parses the form any JSON writer produces for two plain strings and hands anything
/// else (escapes, other fields, other types, bad UTF-8) to JSONDecoder, so what is accepted,
/// and each error's wording, stay the general decoder's.
public struct VisitorHeader: Codable, Equatable, Sendable {
    public var proxy: String
    /// "ip:port" of the visitor, for the client's logs.
    public var visitorAddress: String
    public init(proxy: String, visitorAddress: String) {
        self.proxy = proxy
        self.visitorAddress = visitorAddress
    }
}

extension VisitorHeader {
    /// The header as a framed message: `{"proxy":"…","visitorAddress":"…"}` behind its length.
    public func framed(allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(MessageFraming.Error) -> ByteBuffer {
        // The length, the keys and quotes (32 bytes), the values unescaped: enough but for escapes.
        var buffer = allocator.buffer(capacity: 4 + 32 + self.proxy.utf8.count + self.visitorAddress.utf8.count)
        buffer.writeInteger(UInt32(0))
        buffer.writeStaticString(#"{"proxy":"#)
        Self.writeJSONString(self.proxy, into: &buffer)
        buffer.writeStaticString(#","visitorAddress":"#)
        Self.writeJSONString(self.visitorAddress, into: &buffer)
        buffer.writeStaticString("}")
        let length = buffer.readableBytes - 4
        guard length <= MessageFraming.maximumLength else {
            throw MessageFraming.Error(.tooLong, "message of \(length) bytes exceeds the limit of \(MessageFraming.maximumLength)")
        }
        buffer.setInteger(UInt32(length), at: buffer.readerIndex)
        return buffer
    }

    /// Takes one framed header off the front of `buffer`, or returns nil (consuming nothing)
    /// when it has not fully arrived. Throws as `MessageFraming.read` does.
    public static func read(from buffer: inout ByteBuffer) throws(MessageFraming.Error) -> VisitorHeader? {
        guard let body = try MessageFraming.readFrame(from: &buffer) else { return nil }
        if let header = Self.plain(body) { return header }
        return try MessageFraming.decode(VisitorHeader.self, from: body)
    }

    /// A JSON string: quotes, backslashes and control characters escaped, the rest as UTF-8.
    private static func writeJSONString(_ string: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                buffer.writeInteger(UInt8(ascii: "\\"))
                buffer.writeInteger(byte)
            case 0..<0x20:
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(Self.hexDigits[Int(byte >> 4)])
                buffer.writeInteger(Self.hexDigits[Int(byte & 0xF)])
            default:
                buffer.writeInteger(byte)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// The header when `body` is an object of exactly the two fields, each a string without
    /// escapes, with any JSON whitespace; nil for anything else, valid or not.
    static func plain(_ body: ByteBuffer) -> VisitorHeader? {
        body.withUnsafeReadableBytes(Self.parsePlain)
    }

    private static func parsePlain(_ json: UnsafeRawBufferPointer) -> VisitorHeader? {
        var scanner = PlainJSONScanner(json)
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        var proxy: String?
        var visitorAddress: String?
        repeat {
            guard let key = scanner.plainString(), scanner.take(UInt8(ascii: ":")), let value = scanner.plainString() else { return nil }
            switch key {
            case "proxy" where proxy == nil: proxy = value
            case "visitorAddress" where visitorAddress == nil: visitorAddress = value
            default: return nil
            }
        } while scanner.take(UInt8(ascii: ","))
        guard scanner.take(UInt8(ascii: "}")), scanner.atEnd, let proxy, let visitorAddress else { return nil }
        return VisitorHeader(proxy: proxy, visitorAddress: visitorAddress)
    }
}

/// Reads the plainest JSON tokens from bytes: single characters and strings with nothing to
/// unescape. Whitespace around tokens is skipped.
private struct PlainJSONScanner {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var atEnd: Bool {
        mutating get {
            self.skipWhitespace()
            return self.index == self.bytes.count
        }
    }

    /// Consumes `byte` if it is the next token.
    mutating func take(_ byte: UInt8) -> Bool {
        self.skipWhitespace()
        guard self.index < self.bytes.count, self.bytes[self.index] == byte else { return false }
        self.index += 1
        return true
    }

    /// The next token as a string, when it is one with no escape and no control character
    /// (which JSON forbids raw) and its bytes are valid UTF-8.
    mutating func plainString() -> String? {
        guard self.take(UInt8(ascii: "\"")) else { return nil }
        let start = self.index
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case UInt8(ascii: "\""):
                let string = String(validating: self.bytes[start..<self.index], as: UTF8.self)
                self.index += 1
                return string
            case UInt8(ascii: "\\"), 0..<0x20:
                return nil
            default:
                self.index += 1
            }
        }
        return nil
    }

    private mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): self.index += 1
            default: return
            }
        }
    }
}
