import NIOCore
import NIOWebSocket

/// Reads WebSocket frames (RFC 6455 section 5.2) from a byte stream as the bytes arrive: a pure
/// value, no I/O.
///
/// A data frame's payload is handed out in slices as it comes in, without waiting for the rest
/// of the frame and without copying (a masked payload is unmasked in one pass while copied). So
/// a 1 MiB frame costs neither 1 MiB of buffer nor the time to receive all of it before the mux
/// sees its first byte, which matters for a window-limited stream. Control frames (at most 125
/// bytes by the RFC) are collected whole.
public struct WebSocketFrameReader {
    /// What the bytes held.
    public enum Event: Equatable {
        /// Payload bytes of a binary frame or its continuations, in order.
        case data(ByteBuffer)
        /// A whole ping, pong or close frame, payload unmasked.
        case control(WebSocketOpcode, ByteBuffer)
    }

    /// Why the bytes are not a WebSocket the other side of which is a Burrow peer.
    public struct Violation: Error, Equatable, CustomStringConvertible {
        public let description: String
        /// The close code to answer with.
        public let code: UInt16
    }

    private enum State {
        /// Waiting for (the rest of) a frame header.
        case header
        /// Inside a data frame's payload: `remaining` bytes to go, `offset` seen so far.
        case payload(remaining: Int, offset: Int, key: WebSocketMaskingKey?)
        /// Collecting a control frame's payload.
        case control(WebSocketOpcode, length: Int, key: WebSocketMaskingKey?)
    }

    /// Frames from a client must be masked, frames from a server must not (RFC 6455 5.1).
    private let expectMasked: Bool
    /// Whether text messages are bytes too (a service's), or a violation (a Burrow peer's).
    private let acceptsText: Bool
    private var state = State.header
    /// Header or control bytes that arrived split across reads.
    private var partial = ByteBuffer()

    /// `fromClient`: this side is the server, reading a client's (masked) frames.
    /// `acceptsText`: a text message's payload is data like a binary one's (a local service
    /// may speak either); otherwise it is refused with 1003.
    public init(fromClient: Bool, acceptsText: Bool = false) {
        self.expectMasked = fromClient
        self.acceptsText = acceptsText
    }

    /// Consumes all of `input`, calling `emit` for each event in order.
    public mutating func read(_ input: inout ByteBuffer, emit: (Event) -> Void) throws(Violation) {
        while input.readableBytes > 0 {
            switch self.state {
            case .header:
                guard try self.readHeader(&input, emit: emit) else { return }
            case .payload(let remaining, let offset, let key):
                let count = min(remaining, input.readableBytes)
                let slice = input.readSlice(length: count)!
                self.state = remaining == count ? .header : .payload(remaining: remaining - count, offset: offset + count, key: key)
                if let key {
                    var plain = ByteBufferAllocator().buffer(capacity: count)
                    WebSocketFraming.appendMasked(slice, key: key, phase: offset, to: &plain)
                    emit(.data(plain))
                } else {
                    emit(.data(slice))
                }
            case .control(let opcode, let length, let key):
                var chunk = input.readSlice(length: min(length - self.partial.readableBytes, input.readableBytes))!
                self.partial.writeBuffer(&chunk)
                guard self.partial.readableBytes == length else { return }
                var payload = ByteBuffer()
                if let key { WebSocketFraming.appendMasked(self.partial, key: key, to: &payload) } else { payload = self.partial }
                self.partial = ByteBuffer()
                self.state = .header
                emit(.control(opcode, payload))
            }
        }
    }

    /// Reads one header when all of it is there; false when `input` ran out first (what it
    /// had is kept in `partial`: a header is at most 14 bytes, so only a short input ends one).
    private mutating func readHeader(_ input: inout ByteBuffer, emit: (Event) -> Void) throws(Violation) -> Bool {
        var chunk = input.readSlice(length: min(input.readableBytes, 14 - self.partial.readableBytes))!
        self.partial.writeBuffer(&chunk)
        var header = self.partial
        guard let first = header.readInteger(as: UInt8.self), let second = header.readInteger(as: UInt8.self) else {
            return false
        }
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let value = header.readInteger(as: UInt16.self) else { return false }
            length = Int(value)
        } else if length == 127 {
            guard let value = header.readInteger(as: UInt64.self) else { return false }
            guard value <= UInt64(Int32.max) else { throw Violation(description: "a frame of \(value) bytes", code: 1009) }
            length = Int(value)
        }
        let masked = second & 0x80 != 0
        var key: WebSocketMaskingKey?
        if masked {
            guard let bytes = header.readBytes(length: 4) else { return false }
            key = WebSocketMaskingKey(bytes)
        }
        // The header is complete: give back the bytes read past it.
        input.moveReaderIndex(to: input.readerIndex - header.readableBytes)
        self.partial.clear()

        guard first & 0x70 == 0 else { throw Violation(description: "reserved bits set (no extension was negotiated)", code: 1002) }
        guard masked == self.expectMasked else {
            throw Violation(description: masked ? "a masked frame from the server" : "an unmasked frame from the client", code: 1002)
        }
        let opcode = WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F)!
        switch opcode {
        case .binary, .continuation:
            self.state = length == 0 ? .header : .payload(remaining: length, offset: 0, key: key)
        case .text where self.acceptsText:
            self.state = length == 0 ? .header : .payload(remaining: length, offset: 0, key: key)
        case .text:
            throw Violation(description: "a text message; Burrow carries binary messages only", code: 1003)
        case .ping, .pong, .connectionClose:
            guard first & 0x80 != 0, length <= 125 else {
                throw Violation(description: "a fragmented or oversized control frame", code: 1002)
            }
            if length == 0 {
                emit(.control(opcode, ByteBuffer()))
            } else {
                self.state = .control(opcode, length: length, key: key)
            }
        default:
            throw Violation(description: "reserved opcode \(first & 0x0F)", code: 1002)
        }
        return true
    }
}
