import FoundationEssentials
import NIOCore

/// Length-prefixed JSON messages: a 4-byte big-endian length, then that many bytes of JSON.
/// Used for control messages and visitor headers. The length is checked before anything is
/// buffered, so a hostile peer cannot make us hold more than `maximumLength`.
///
/// Two kinds of trouble, kept apart: a frame that cannot be cut (a length over the limit)
/// breaks the stream, since nothing after it can be found; a whole frame whose JSON is wrong
/// leaves the stream in step, so the conversation decides (answer `badRequest`, ignore a message
/// type it does not know, or end the session).
public enum MessageFraming {
    /// The largest message accepted.
    public static let maximumLength = 64 * 1024

    public struct Error: Swift.Error, Equatable, CustomStringConvertible {
        public enum Code: Sendable, Equatable {
            /// The length prefix is over the limit: the stream cannot go on.
            case tooLong
            /// A whole frame that is not the JSON expected (not JSON, a missing or mistyped field).
            case malformed
            /// A control message of a type this build does not know (from a newer peer).
            case unknownType
        }
        public let code: Code
        public let description: String
        /// The field at fault, when one is ("body.clientNonce").
        public let field: String?

        init(_ code: Code, _ description: String, field: String? = nil) {
            self.code = code
            self.description = description
            self.field = field
        }
    }

    /// Appends `message` to `buffer`.
    public static func write<Message: Encodable>(_ message: Message, into buffer: inout ByteBuffer) throws {
        let json = try JSONEncoder().encode(message)
        guard json.count <= Self.maximumLength else {
            throw Error(.tooLong, "message of \(json.count) bytes exceeds the limit of \(Self.maximumLength)")
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

    /// Takes one whole frame's body off the front of `buffer`, or returns nil (consuming
    /// nothing) when it has not fully arrived. Throws `tooLong` only.
    public static func readFrame(from buffer: inout ByteBuffer) throws(Error) -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length <= Self.maximumLength else {
            throw Error(.tooLong, "message length \(length) exceeds the limit of \(Self.maximumLength)")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(length))!
    }

    /// Decodes one frame's body. Throws `malformed` or `unknownType`.
    public static func decode<Message: Decodable>(_ type: Message.Type, from body: ByteBuffer) throws(Error) -> Message {
        do {
            return try JSONDecoder().decode(Message.self, from: Data(body.readableBytesView))
        } catch let unknown as UnknownMessageType {
            throw Error(.unknownType, "unknown message type \"\(unknown.type)\"")
        } catch {
            let (problem, field) = Self.explain(error)
            throw Error(.malformed, problem, field: field)
        }
    }

    /// Takes one whole message off the front of `buffer`, or returns nil (consuming nothing)
    /// when it has not fully arrived.
    public static func read<Message: Decodable>(_ type: Message.Type, from buffer: inout ByteBuffer) throws(Error) -> Message? {
        guard let body = try Self.readFrame(from: &buffer) else { return nil }
        return try Self.decode(type, from: body)
    }

    private static func explain(_ error: Swift.Error) -> (String, String?) {
        func path(_ context: DecodingError.Context, _ last: CodingKey? = nil) -> String {
            (context.codingPath + (last.map { [$0] } ?? [])).map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            let field = path(context, key)
            return ("missing field '\(field)'", field)
        case DecodingError.typeMismatch(let type, let context):
            let field = path(context)
            return ("field '\(field)' is not \(Self.jsonType(type))", field)
        case DecodingError.valueNotFound(let type, let context):
            let field = path(context)
            return ("field '\(field)' is null, expected \(Self.jsonType(type))", field)
        case DecodingError.dataCorrupted(let context):
            guard !context.codingPath.isEmpty else { return ("not JSON", nil) }
            let field = path(context)
            return ("bad value in field '\(field)'", field)
        default:
            return ("\(error)", nil)
        }
    }

    private static func jsonType(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is UInt64.Type, is UInt32.Type: "an integer"
        case is Bool.Type: "a boolean"
        default: "of the right type"
        }
    }
}

/// Thrown while decoding a message whose `type` this build does not know.
public struct UnknownMessageType: Error {
    public let type: String
    public init(type: String) { self.type = type }
}

/// A pipeline decoder for a stream of framed messages of one type. A frame over the limit is
/// an error of the pipeline (the stream is broken); a whole frame that does not decode is passed
/// on as a failure, for the conversation to answer.
public struct MessageDecoder<Message: Decodable>: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Result<Message, MessageFraming.Error>
    public init() {}

    public mutating func decode(buffer: inout ByteBuffer) throws -> InboundOut? {
        guard let body = try MessageFraming.readFrame(from: &buffer) else { return nil }
        return Result { () throws(MessageFraming.Error) in try MessageFraming.decode(Message.self, from: body) }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> InboundOut? {
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
