import NIOCore
import NIOWebSocket

/// Carries a byte stream in WebSocket binary messages, so that everything above it (the
/// preamble, the mux) runs unchanged over WebSocket, through nginx or a CDN.
///
/// Inbound, the payload of every binary or continuation frame is passed on as bytes: message
/// boundaries mean nothing here, and a proxy may split or join them. Outbound, everything
/// written between two flushes leaves as one binary frame (split at `maximumFrameLength`), so
/// the mux's 12-byte headers do not each cost a frame. A client masks its frames, as RFC 6455
/// requires of it. Pings are answered; a close frame is answered and closes the channel; a text
/// frame is refused with close code 1003, because a peer sending text is not a Burrow peer.
public final class WebSocketByteStreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = WebSocketFrame
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = WebSocketFrame

    /// Which end of the WebSocket this is: clients mask what they send.
    public enum Role: Sendable {
        case client, server
    }

    /// The largest frame this side sends, and (with the decoder's `maxFrameSize`) accepts: a
    /// bound on what one frame can make a peer buffer, large enough that framing costs nothing.
    public static let maximumFrameLength = 1 << 20

    /// The peer broke the WebSocket contract (text where bytes belong).
    public struct ProtocolViolation: Error, CustomStringConvertible {
        public let description: String
    }

    private let role: Role
    /// Bytes written since the last flush, and the promise completed when they are sent.
    private var pending: ByteBuffer?
    private var pendingPromise: EventLoopPromise<Void>?
    private var closeSent = false

    public init(role: Role) {
        self.role = role
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            let bytes = frame.maskKey == nil ? frame.data : frame.unmaskedData
            if bytes.readableBytes > 0 { context.fireChannelRead(self.wrapInboundOut(bytes)) }
        case .ping:
            context.writeAndFlush(self.wrapOutboundOut(self.frame(.pong, frame.unmaskedData)), promise: nil)
        case .connectionClose:
            // The peer is done: answer its close and end the connection.
            self.sendClose(context, code: .normalClosure)
            context.close(promise: nil)
        case .text:
            self.sendClose(context, code: .unacceptableData)
            context.fireErrorCaught(ProtocolViolation(description: "the peer sent a WebSocket text message; Burrow carries binary messages only"))
            context.close(promise: nil)
        default:
            break  // pong, and reserved opcodes the decoder let through: nothing to do
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var bytes = self.unwrapOutboundIn(data)
        if self.pending == nil {
            self.pending = bytes
        } else {
            self.pending!.writeBuffer(&bytes)
        }
        if let promise {
            if let earlier = self.pendingPromise {
                earlier.futureResult.cascade(to: promise)
            } else {
                self.pendingPromise = promise
            }
        }
    }

    public func flush(context: ChannelHandlerContext) {
        self.writePending(context)
        context.flush()
    }

    /// Closing the whole connection says goodbye with a close frame first (proxies log a clean
    /// close instead of an abort); half-closes have no WebSocket form and pass through.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all, context.channel.isActive {
            self.writePending(context)
            self.sendClose(context, code: .normalClosure)
        }
        context.close(mode: mode, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.pending = nil
        self.pendingPromise?.fail(ChannelError.ioOnClosedChannel)
        self.pendingPromise = nil
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.pending = nil
        self.pendingPromise?.fail(ChannelError.ioOnClosedChannel)
        self.pendingPromise = nil
        context.fireChannelInactive()
    }

    private func writePending(_ context: ChannelHandlerContext) {
        guard var bytes = self.pending else { return }
        let promise = self.pendingPromise
        self.pending = nil
        self.pendingPromise = nil
        while bytes.readableBytes > Self.maximumFrameLength {
            context.write(self.wrapOutboundOut(self.frame(.binary, bytes.readSlice(length: Self.maximumFrameLength)!)), promise: nil)
        }
        context.write(self.wrapOutboundOut(self.frame(.binary, bytes)), promise: promise)
    }

    private func sendClose(_ context: ChannelHandlerContext, code: WebSocketErrorCode) {
        guard !self.closeSent else { return }
        self.closeSent = true
        var payload = context.channel.allocator.buffer(capacity: 2)
        payload.write(webSocketErrorCode: code)
        context.writeAndFlush(self.wrapOutboundOut(self.frame(.connectionClose, payload)), promise: nil)
    }

    private func frame(_ opcode: WebSocketOpcode, _ data: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: opcode, maskKey: self.role == .client ? .random() : nil, data: data)
    }
}
