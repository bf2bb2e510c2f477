import NIOCore

/// Joins two channels so that bytes read on one are written to the other, both ways.
///
/// Backpressure runs end to end: a side's `read()` is passed on only while its partner is
/// writable, so a slow reader on one side stops reading on the other instead of buffering.
/// Half-close passes through: EOF on one side becomes `close(mode: .output)` on the other
/// (the channels need `allowRemoteHalfClosure`), and when one side closes, so does the other,
/// after writing what it still holds. An error on one side (a reset socket, a reset stream, a
/// session that died), or a write to it that fails, aborts the other at once: the peer behind
/// it sees a reset, not a clean end, so a cut-off transfer never looks complete.
///
/// With a `TrafficMeter`, each side adds what it read in a burst when the burst ends, and the
/// first side to fail notes the abort.
///
/// Both channels must share one event loop: the handlers call each other directly.
public final class GlueHandler {
    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    /// Our channel asked to read while the partner could not take more.
    private var pendingRead = false
    private let meter: (TrafficMeter, TrafficDirection)?
    /// Bytes read in this burst, not yet added to the meter.
    private var unmetered = 0
    /// The meter has heard of this pair's abort.
    private var abortNoted = false

    private init(meter: (TrafficMeter, TrafficDirection)? = nil) {
        self.meter = meter
    }

    /// Two handlers that forward to each other: add one to each channel. With a meter, the
    /// first handler's reads count as inbound (it sits on the visitor's side), the second's as
    /// outbound.
    public static func matchedPair(meter: TrafficMeter? = nil) -> (GlueHandler, GlueHandler) {
        let first = GlueHandler(meter: meter.map { ($0, .inbound) })
        let second = GlueHandler(meter: meter.map { ($0, .outbound) })
        first.partner = second
        second.partner = first
        return (first, second)
    }

    /// Glues two channels on the same event loop, enabling half-closure on both. Call on that
    /// event loop. With a meter, `first` is the visitor's side: what it reads counts as inbound.
    public static func glue(_ first: Channel, _ second: Channel, meter: TrafficMeter? = nil) throws {
        precondition(first.eventLoop === second.eventLoop, "glued channels must share an event loop")
        first.eventLoop.preconditionInEventLoop()
        let (a, b) = Self.matchedPair(meter: meter)
        try first.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        try second.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        try first.pipeline.syncOperations.addHandler(a)
        try second.pipeline.syncOperations.addHandler(b)
    }
}

// The handlers of a pair are only touched on their shared event loop.
extension GlueHandler: @unchecked Sendable {}

extension GlueHandler {
    /// Writes what the partner read. NIO closes a socket whose write fails (its peer reset it)
    /// without an errorCaught, so the failure is watched here: those bytes were lost, and the
    /// partner is aborted rather than closed as if everything had gone through.
    private func partnerWrite(_ data: NIOAny) {
        guard let context = self.context else { return }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolatedUnsafeUnchecked().whenFailure { _ in
            self.partner?.partnerAbort()
        }
        context.write(data, promise: written)
    }

    private func partnerFlush() {
        self.context?.flush()
    }

    /// The partner finished sending: finish ours once what it sent has been written.
    private func partnerWriteEOF() {
        self.context?.closeAfterPendingWrites(mode: .output)
    }

    /// The partner closed: close too, once what it sent has been written.
    private func partnerCloseFull() {
        self.context?.closeAfterPendingWrites(mode: .all)
    }

    /// The partner failed: abort at once, dropping what is pending. The meter notes the pair's
    /// first abort only: ours may fail back at the partner.
    private func partnerAbort() {
        guard let context = self.context else { return }
        if !self.abortNoted, let (meter, _) = self.meter {
            self.abortNoted = true
            self.partner?.abortNoted = true
            meter.noteAbort()
        }
        context.abort()
    }

    /// Adds what this side read in the burst to the meter.
    private func reportBurst() {
        guard self.unmetered > 0, let (meter, direction) = self.meter else { return }
        switch direction {
        case .inbound: meter.addInbound(self.unmetered)
        case .outbound: meter.addOutbound(self.unmetered)
        }
        self.unmetered = 0
    }

    private func partnerBecameWritable() {
        if self.pendingRead {
            self.pendingRead = false
            self.context?.read()
        }
    }

    private var partnerWritable: Bool {
        self.context?.channel.isWritable ?? false
    }
}

extension GlueHandler: ChannelDuplexHandler {
    /// Byte streams only (sockets, mux streams, WebSocket byte streams): the meter counts bytes.
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = NIOAny
    public typealias OutboundOut = NIOAny

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // The partner may have asked for a read before we could answer.
        if context.channel.isWritable {
            self.partner?.partnerBecameWritable()
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.reportBurst()
        self.context = nil
        self.partner = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if self.meter != nil { self.unmetered += self.unwrapInboundIn(data).readableBytes }
        self.partner?.partnerWrite(data)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        self.reportBurst()
        self.partner?.partnerFlush()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.reportBurst()
        self.partner?.partnerCloseFull()
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            self.partner?.partnerWriteEOF()
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.partner?.partnerAbort()
        context.fireErrorCaught(error)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    public func read(context: ChannelHandlerContext) {
        if let partner = self.partner, partner.partnerWritable {
            context.read()
        } else {
            self.pendingRead = true
        }
    }
}
