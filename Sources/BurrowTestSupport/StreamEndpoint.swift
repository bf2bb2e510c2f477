import NIOCore

/// A test peer on one channel: sends a payload with backpressure (only while the channel is
/// writable), optionally half-closes after it, and records everything it receives.
///
/// Outcomes are reported through futures so tests wait on events, never on time.
public final class StreamEndpoint: ChannelDuplexHandler, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// What the endpoint does once it has sent its payload.
    public enum AfterSending: Sendable {
        case halfClose
        case nothing
    }

    private var outgoing: ByteBuffer
    private let chunkSize: Int
    private let afterSending: AfterSending
    /// Start sending only when the peer has finished (to prove a half-closed stream still
    /// carries the other direction).
    private let sendAfterEOF: Bool

    public private(set) var received: ByteBuffer
    public private(set) var sawEOF = false
    public private(set) var errors: [Error] = []
    private var context: ChannelHandlerContext?
    private var finishedSending = false

    private let eofPromise: EventLoopPromise<ByteBuffer>
    private let sentPromise: EventLoopPromise<Void>
    private let closedPromise: EventLoopPromise<Void>

    /// Succeeds with every byte received once the peer half-closes.
    public var receivedAll: EventLoopFuture<ByteBuffer> { self.eofPromise.futureResult }
    /// Succeeds when the whole payload was written (and the FIN, if asked for).
    public var sentAll: EventLoopFuture<Void> { self.sentPromise.futureResult }
    /// Succeeds when the channel went inactive.
    public var closed: EventLoopFuture<Void> { self.closedPromise.futureResult }

    public init(
        eventLoop: EventLoop, sending: ByteBuffer, chunkSize: Int = 16 * 1024,
        then afterSending: AfterSending = .halfClose, sendAfterEOF: Bool = false
    ) {
        self.outgoing = sending
        self.chunkSize = chunkSize
        self.afterSending = afterSending
        self.sendAfterEOF = sendAfterEOF
        self.received = ByteBuffer()
        self.eofPromise = eventLoop.makePromise()
        self.sentPromise = eventLoop.makePromise()
        self.closedPromise = eventLoop.makePromise()
    }

    deinit {
        // Never added to a channel (its session died first): the futures must still end.
        struct NeverAttached: Error {}
        self.eofPromise.fail(NeverAttached())
        self.sentPromise.fail(NeverAttached())
        self.closedPromise.fail(NeverAttached())
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { self.pump() }
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.pump()
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        self.received.writeBuffer(&buffer)
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            self.sawEOF = true
            self.eofPromise.succeed(self.received)
            self.pump()
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.pump()
        context.fireChannelWritabilityChanged()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.errors.append(error)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        struct ClosedBeforeEOF: Error {}
        self.eofPromise.fail(ClosedBeforeEOF())
        self.sentPromise.fail(ClosedBeforeEOF())
        self.closedPromise.succeed(())
        context.fireChannelInactive()
    }

    /// Writes chunks while the channel is writable.
    private func pump() {
        guard let context, context.channel.isActive, !self.finishedSending else { return }
        if self.sendAfterEOF, !self.sawEOF { return }
        var lastWrite: EventLoopFuture<Void>?
        while context.channel.isWritable, self.outgoing.readableBytes > 0 {
            let chunk = self.outgoing.readSlice(length: min(self.chunkSize, self.outgoing.readableBytes))!
            lastWrite = context.write(self.wrapOutboundOut(chunk))
        }
        if lastWrite != nil { context.flush() }
        guard self.outgoing.readableBytes == 0 else { return }
        self.finishedSending = true
        // Close only once the last byte is written: a socket whose input is already closed
        // turns close(.output) into a full close that drops unwritten data.
        let written = lastWrite ?? context.eventLoop.makeSucceededVoidFuture()
        switch self.afterSending {
        case .halfClose:
            written.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                let promise = context.eventLoop.makePromise(of: Void.self)
                context.close(mode: .output, promise: promise)
                promise.futureResult.cascade(to: self.sentPromise)
            }
        case .nothing:
            written.cascade(to: self.sentPromise)
        }
    }
}
