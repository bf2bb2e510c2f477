import NIOCore

/// Datagrams on a UDP flow's stream: each one is a 2-byte big-endian length, then that many
/// bytes (0 to 65,527: the largest UDP payload, over IPv6). A stream keeps order and loses
/// nothing, so the framing only has to mark where each datagram ends.
public enum DatagramFraming {
    /// The largest payload a datagram can carry (IPv6; IPv4's is 65,507).
    public static let maximumLength = 65_527
    public static let headerLength = 2

    /// `payload` framed for the stream.
    public static func frame(_ payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var framed = allocator.buffer(capacity: Self.headerLength + payload.readableBytes)
        framed.writeInteger(UInt16(payload.readableBytes))
        framed.writeImmutableBuffer(payload)
        return framed
    }

    /// A frame announced a length past `maximumLength`: the flow is broken (its stream is
    /// reset), the session is not.
    public struct TooLong: Error, Equatable, CustomStringConvertible {
        public let length: Int

        public init(length: Int) {
            self.length = length
        }

        public var description: String { "datagram frame of \(self.length) bytes (at most \(DatagramFraming.maximumLength))" }
    }
}

/// Splits a flow's stream back into datagrams, one `ByteBuffer` each (a slice of the read it
/// arrived in when whole).
public struct DatagramFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self).map(Int.init) else { return .needMoreData }
        guard length <= DatagramFraming.maximumLength else { throw DatagramFraming.TooLong(length: length) }
        guard buffer.readableBytes >= DatagramFraming.headerLength + length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: DatagramFraming.headerLength)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: length)!))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A datagram cut off by the end of the stream is dropped, as UDP would drop it.
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear()
        return .needMoreData
    }
}
