import NIOCore
import NIOWebSocket

/// Carries a byte stream in WebSocket binary messages, so that everything above it (the
/// preamble, the mux) runs unchanged over WebSocket, through nginx or a CDN.
///
/// Inbound (`WebSocketFrameReader`), the payload of binary and continuation frames is passed on
/// as it arrives: message boundaries mean nothing here, and a proxy may split or join them.
/// Outbound, everything written between two flushes leaves as one binary frame (split at
/// `maximumFrameLength`), so the mux's 12-byte headers do not each cost a frame; this handler
/// writes the frames' bytes itself (`WebSocketFraming`): a server's payload goes out without a
/// copy, a client's is masked as RFC 6455 requires, 32 bytes at a time.
///
/// Pings are answered; a close frame is answered and closes the channel. A text frame (code
/// 1003) or a malformed frame (1002) is answered with a close frame, reported through
/// `errorCaught` and closes the connection: such a peer is not a Burrow peer. With an idle
/// timeout, a connection with no frame either way for that long is closed with 1001 (going
/// away): a clean end, so what it carried ends with a FIN. An abort (`ConnectionAbortEvent`)
/// sends no close frame at all, so the peer sees it as one. Either is told to `onEnd` in words
/// (a visitor's port logs it; a session logs the error it is given).
public final class WebSocketByteStreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Which end of the WebSocket this is: clients mask what they send.
    public enum Role: Sendable {
        case client, server
    }

    /// The largest frame this side sends: large enough that framing costs nothing, small enough
    /// that a peer buffering whole frames (a proxy, another implementation) is not asked much.
    public static let maximumFrameLength = 1 << 20

    /// The peer broke the WebSocket contract, or sent text where bytes belong.
    public struct ProtocolViolation: Error, CustomStringConvertible {
        public let description: String
    }

    private let role: Role
    /// What data leaves as: binary, or text.
    private let dataOpcode: WebSocketOpcode
    private var reader: WebSocketFrameReader
    /// Bytes written since the last flush, and the promise completed when they are sent.
    private var pending: [ByteBuffer] = []
    private var pendingBytes = 0
    private var pendingPromise: EventLoopPromise<Void>?
    private var closeSent = false
    /// The peer broke the protocol: the connection is closing, nothing more is read.
    private var failed = false
    private let idleTimeout: TimeAmount?
    private let onEnd: (String) -> Void
    /// When a frame was last read or written; checked by `idleCheck`, so that traffic costs a
    /// clock read per burst, not a timer.
    private var lastActivity = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?

    /// `acceptsText`: text messages are read as bytes too (a local service's WebSocket),
    /// instead of being refused as from a peer that is not Burrow.
    /// `sendsText`: the bytes leave as text messages instead of binary ones (for browser
    /// apps that want strings; the bytes must be UTF-8).
    public convenience init(role: Role, acceptsText: Bool = false, sendsText: Bool = false) {
        self.init(role: role, options: WebSocketStreamOptions(acceptsText: acceptsText, sendsText: sendsText))
    }

    /// `onEnd` hears, in words, why this side ended the connection: idle, or a broken protocol.
    public init(role: Role, options: WebSocketStreamOptions, onEnd: @escaping (String) -> Void = { _ in }) {
        self.role = role
        self.reader = WebSocketFrameReader(fromClient: role == .server, acceptsText: options.acceptsText)
        self.dataOpcode = options.sendsText ? .text : .binary
        self.idleTimeout = options.idleTimeout
        self.onEnd = onEnd
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.lastActivity = .now()
        self.scheduleIdleCheck(context, at: self.lastActivity)
    }

    /// Checks at the earliest moment the connection could have idled out; traffic since the
    /// last check moves the next one on.
    private func scheduleIdleCheck(_ context: ChannelHandlerContext, at from: NIODeadline) {
        guard let timeout = self.idleTimeout else { return }
        self.idleCheck = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: from + timeout) {
            guard context.channel.isActive, !self.closeSent else { return }
            if NIODeadline.now() - self.lastActivity >= timeout {
                self.onEnd("no WebSocket frame either way for \(ErrorText.seconds(timeout)): closed (1001, going away)")
                self.writePending(context)
                self.sendClose(context, code: .goingAway)
                context.close(promise: nil)
            } else {
                self.scheduleIdleCheck(context, at: self.lastActivity)
            }
        }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.failed else { return }
        if self.idleTimeout != nil { self.lastActivity = .now() }
        var bytes = self.unwrapInboundIn(data)
        do {
            try self.reader.read(&bytes) { event in self.handle(event, context: context) }
        } catch {
            self.failed = true
            self.onEnd("sent \(error.description): closed (\(error.code))")
            self.sendClose(context, code: WebSocketErrorCode(codeNumber: Int(error.code)))
            context.fireErrorCaught(ProtocolViolation(description: "the peer sent \(error.description)"))
            context.close(promise: nil)
        }
    }

    private func handle(_ event: WebSocketFrameReader.Event, context: ChannelHandlerContext) {
        switch event {
        case .data(let bytes):
            context.fireChannelRead(self.wrapInboundOut(bytes))
        case .control(.ping, let payload):
            context.writeAndFlush(self.wrapOutboundOut(self.frame(.pong, payload, allocator: context.channel.allocator)), promise: nil)
        case .control(.connectionClose, _):
            // The peer is done: answer its close and end the connection.
            self.sendClose(context, code: .normalClosure)
            context.close(promise: nil)
        case .control:
            break  // a pong: nothing to do
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !self.closeSent else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        let bytes = self.unwrapOutboundIn(data)
        self.pending.append(bytes)
        self.pendingBytes += bytes.readableBytes
        if let promise {
            if let earlier = self.pendingPromise {
                earlier.futureResult.cascade(to: promise)
            } else {
                self.pendingPromise = promise
            }
        }
    }

    public func flush(context: ChannelHandlerContext) {
        if self.idleTimeout != nil, self.pendingBytes > 0 { self.lastActivity = .now() }
        self.writePending(context)
        context.flush()
    }

    /// Closing the whole connection says goodbye with a close frame first (proxies log a clean
    /// close instead of an abort). Closing the output is WebSocket's half-close: a close frame
    /// after what was written, then reading goes on until the peer's close frame answers it
    /// (a service that echoes still sends the rest), which ends the connection.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .output where context.channel.isActive:
            self.writePending(context)
            self.sendClose(context, code: .normalClosure)
            promise?.succeed(())
        case .all where context.channel.isActive:
            self.writePending(context)
            self.sendClose(context, code: .normalClosure)
            context.close(mode: mode, promise: promise)
        default:
            context.close(mode: mode, promise: promise)
        }
    }

    /// An abort sends no close frame: the peer must see the connection end abnormally (1006),
    /// not cleanly.
    public func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if event is ConnectionAbortEvent {
            self.closeSent = true
            self.dropPending()
        }
        context.triggerUserOutboundEvent(event, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.idleCheck?.cancel()
        self.dropPending()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.idleCheck?.cancel()
        self.dropPending()
        context.fireChannelInactive()
    }

    private func dropPending() {
        self.pending.removeAll()
        self.pendingBytes = 0
        self.pendingPromise?.fail(ChannelError.ioOnClosedChannel)
        self.pendingPromise = nil
    }

    /// Writes what came since the last flush as binary frames of at most `maximumFrameLength`.
    private func writePending(_ context: ChannelHandlerContext) {
        guard self.pendingBytes > 0 else {
            // Only empty writes (a drain marker): no message, but their promise completes in
            // order behind what went before.
            if !self.pending.isEmpty {
                self.pending.removeAll(keepingCapacity: true)
                context.write(self.wrapOutboundOut(ByteBuffer()), promise: self.pendingPromise)
                self.pendingPromise = nil
            }
            return
        }
        let promise = self.pendingPromise
        var queue = self.pending[...]
        var remaining = self.pendingBytes
        self.pending.removeAll(keepingCapacity: true)
        self.pendingBytes = 0
        self.pendingPromise = nil
        repeat {
            let length = min(remaining, Self.maximumFrameLength)
            remaining -= length
            let isLast = remaining == 0
            let maskKey: WebSocketMaskingKey? = self.role == .client ? .random() : nil
            var header = context.channel.allocator.buffer(capacity: 14 + (maskKey == nil ? 0 : length))
            WebSocketFraming.writeHeader(opcode: self.dataOpcode, length: length, maskKey: maskKey, into: &header)
            // A server's payload goes out as it is, behind the header; a client's is masked into
            // the header's buffer, one write per frame.
            if maskKey == nil {
                context.write(self.wrapOutboundOut(header), promise: length == 0 && isLast ? promise : nil)
            }
            var offset = 0
            while offset < length {
                var first = queue.first!
                let part = first.readSlice(length: min(length - offset, first.readableBytes))!
                if first.readableBytes == 0 { queue.removeFirst() } else { queue[queue.startIndex] = first }
                if let maskKey {
                    WebSocketFraming.appendMasked(part, key: maskKey, phase: offset, to: &header)
                    offset += part.readableBytes
                } else {
                    offset += part.readableBytes
                    context.write(self.wrapOutboundOut(part), promise: isLast && offset == length ? promise : nil)
                }
            }
            if maskKey != nil {
                context.write(self.wrapOutboundOut(header), promise: isLast ? promise : nil)
            }
        } while remaining > 0
    }

    private func sendClose(_ context: ChannelHandlerContext, code: WebSocketErrorCode) {
        guard !self.closeSent else { return }
        self.closeSent = true
        var payload = context.channel.allocator.buffer(capacity: 2)
        payload.write(webSocketErrorCode: code)
        context.writeAndFlush(self.wrapOutboundOut(self.frame(.connectionClose, payload, allocator: context.channel.allocator)), promise: nil)
    }

    /// One whole control frame (pong, close): header and payload in one buffer.
    private func frame(_ opcode: WebSocketOpcode, _ payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let maskKey: WebSocketMaskingKey? = self.role == .client ? .random() : nil
        var buffer = allocator.buffer(capacity: 14 + payload.readableBytes)
        WebSocketFraming.writeHeader(opcode: opcode, length: payload.readableBytes, maskKey: maskKey, into: &buffer)
        if let maskKey {
            WebSocketFraming.appendMasked(payload, key: maskKey, to: &buffer)
        } else {
            var payload = payload
            buffer.writeBuffer(&payload)
        }
        return buffer
    }
}
