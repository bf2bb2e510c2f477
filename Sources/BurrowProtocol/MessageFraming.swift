import FoundationEssentials
import NIOCore

/// Length-prefixed JSON messages: a 4-byte big-endian length, then that many bytes of JSON.
/// Used for control messages and visitor headers. The length is checked before anything is
/// buffered, so a hostile peer cannot make us hold more than `maximumLength`.
public enum MessageFraming {
    /// The largest message accepted.
    public static let maximumLength = 64 * 1024

    public struct Error: Swift.Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Appends `message` to `buffer`.
    public static func write<Message: Encodable>(_ message: Message, into buffer: inout ByteBuffer) throws {
        let json = try JSONEncoder().encode(message)
        guard json.count <= Self.maximumLength else {
            throw Error("message of \(json.count) bytes exceeds the limit of \(Self.maximumLength)")
        }
        buffer.writeInteger(UInt32(json.count))
        buffer.writeBytes(json)
    }

    /// Encodes `message` into a new buffer.
    public static func encode<Message: Encodable>(_ message: Message, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        try Self.write(message, into: &buffer)
        return buffer
    }

    /// Takes one whole message off the front of `buffer`, or returns nil (consuming nothing)
    /// when it has not fully arrived.
    public static func read<Message: Decodable>(_ type: Message.Type, from buffer: inout ByteBuffer) throws -> Message? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length <= Self.maximumLength else {
            throw Error("message length \(length) exceeds the limit of \(Self.maximumLength)")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        let body = buffer.readSlice(length: Int(length))!
        do {
            return try JSONDecoder().decode(Message.self, from: Data(body.readableBytesView))
        } catch {
            throw Error("malformed \(Message.self): \(Self.explain(error))")
        }
    }

    private static func explain(_ error: Swift.Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "bad field '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let context):
            context.codingPath.isEmpty ? "not JSON" : "bad field '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        default: "\(error)"
        }
    }
}

/// A pipeline decoder for a stream of framed messages of one type.
public struct MessageDecoder<Message: Decodable>: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Message
    public init() {}

    public mutating func decode(buffer: inout ByteBuffer) throws -> Message? {
        try MessageFraming.read(Message.self, from: &buffer)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Message? {
        try self.decode(buffer: &buffer)
    }
}

/// A pipeline encoder for framed messages of one type.
public struct MessageEncoder<Message: Encodable>: MessageToByteEncoder {
    public typealias OutboundIn = Message
    public init() {}

    public func encode(data: Message, out: inout ByteBuffer) throws {
        try MessageFraming.write(data, into: &out)
    }
}
